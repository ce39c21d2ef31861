"""The review page the service serves at /ui, and the two small endpoints it needs.

- `GET /ui`: one static HTML file (`marketing/page/index.html`, styles and script inline; nothing fetched from
  the network). It loads without a token; with tokens set it shows a login prompt, never data, until the API
  accepts the token the user enters, which its script then sends on every call.
- `POST /ui/leads`: a CSV of leads (and optionally one of events), as JSON text fields, read by the project's own
  loaders (`features.io.load_history`: every problem with its file, row and column) and returned as /rank's
  `leads` (`features.records.to_records`). The page then calls `/rank` itself, so what it shows and downloads is
  exactly /rank's answer.
- `POST /ui/export.xlsx`: /rank's answer as an Excel file (the same columns as the page's CSV download).

These paths sit behind the service's `ApiGuard` like the API (only `GET /ui` itself is open).
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body
from starlette.responses import HTMLResponse, JSONResponse, Response

PAGE: Final = Path(__file__).with_name("page") / "index.html"
MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
EXPORT_COLUMNS: Final = (
    "rank",
    "lead_id",
    "stage",
    "assigned_to",
    "p_close",
    "expected_hours",
    "closes_per_hour",
    "expected_days_to_close",
    "expected_value",
    "reasons_up",
    "reasons_down",
)

_TEMP_DIR: Final = re.compile(r"[^\s'\"]*leadrank-ui-[^/\\\s]+[/\\]")

router = APIRouter(include_in_schema=False)


def _refusal(message: str, problems: list[dict[str, Any]] | None = None, status: int = 400) -> JSONResponse:
    """An upload refused in the API's error format (each problem also names the file, row and column)."""
    from serving.errors import error_body

    listed = [{**problem, "code": problem.get("code", "invalid_value")} for problem in problems or []]
    return JSONResponse(error_body(status, message, listed), status_code=status)


def _text_problem(name: str, text: Any) -> str | None:
    """Why a field cannot be a CSV's text, or None."""
    if not isinstance(text, str):
        return f"{name}: expected the file's text"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_UPLOAD_BYTES:
        return f"{name} is larger than 50 MB: split it into smaller files"
    if "\x00" in text[:65536]:
        return f"{name} is not a CSV text file (it holds binary data): export the leads as CSV"
    return None


def _named(text: str) -> str:
    """The uploaded files by their names on the page (leads.csv, events.csv), not the server's temp paths."""
    return _TEMP_DIR.sub("", text)


def convert_upload(leads_csv: str, events_csv: str | None = None) -> list[dict[str, Any]]:
    """CSV text of leads (and events) -> /rank's `leads`; raises `features.io.DataLoadError` naming file, row and
    column. A leads file with `as_of` instead of `decided_at` is scored as of that time."""
    from features import contract as c
    from features.io import load_history
    from features.records import to_records

    with tempfile.TemporaryDirectory(prefix="leadrank-ui-") as tmp:
        leads_path = Path(tmp) / "leads.csv"
        leads_path.write_text(leads_csv, encoding="utf-8")
        header = leads_csv.split("\n", 1)[0]
        if c.DECIDED_AT not in header and c.AS_OF in header:
            import pandas as pd

            frame = pd.read_csv(leads_path, dtype=str, keep_default_na=False)
            frame = frame.rename(columns={c.AS_OF: c.DECIDED_AT})
            frame.to_csv(leads_path, index=False)
        events_path = None
        if events_csv:
            events_path = Path(tmp) / "events.csv"
            events_path.write_text(events_csv, encoding="utf-8")
        history = load_history(leads_path, events_path)
    leads = history.leads
    if c.OUTCOME in leads.columns:
        leads = leads[leads[c.OUTCOME].isna()]
    return to_records(leads.reset_index(drop=True), history.events, deal_value=c.DEAL_VALUE in leads.columns)


@router.get("/ui")
def page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.post("/ui/leads")
def upload(body: Annotated[Any, Body()] = None) -> Response:
    """{"leads_csv": text, "events_csv": text or null} -> {"leads": [...], "warnings": [...]}."""
    from features.io import DataLoadError, DataValidationError

    if not isinstance(body, dict):
        return _refusal(
            'send {"leads_csv": ..., "events_csv": ...}', [{"path": "body", "message": "expected an object"}]
        )
    problems = [
        {"path": key, "message": problem}
        for key, required in (("leads_csv", True), ("events_csv", False))
        if (required or body.get(key) is not None) and (problem := _text_problem(key, body.get(key))) is not None
    ]
    if problems:
        return _refusal(problems[0]["message"], problems, 413 if "50 MB" in problems[0]["message"] else 400)
    try:
        records = convert_upload(body["leads_csv"], body.get("events_csv"))
    except DataValidationError as exc:
        found = [
            {
                "path": _named(p.file) + (f", column {p.column}" if p.column else ""),
                "message": _named(str(p).split(": ", 1)[-1]),
                "file": _named(p.file),
                "column": p.column,
                "rows": list(p.rows),
                "lines": list(p.lines),
            }
            for p in exc.problems
        ]
        return _refusal(_named(str(exc).split("\n", 1)[0]), found)
    except (DataLoadError, UnicodeError, ValueError) as exc:
        return _refusal(_named(f"cannot read the upload: {exc}"))
    if not records:
        return _refusal("the leads file has no open leads to rank", [{"path": "leads_csv", "message": "no open leads"}])
    return JSONResponse({"leads": records})


def _reason_words(reasons: Any, direction: str) -> str:
    from marketing.ranked_list import reason_text

    return "; ".join(reason_text(r) for r in reasons or [] if r.get("direction") == direction)


@router.post("/ui/export.xlsx")
def export_xlsx(body: Annotated[Any, Body()] = None) -> Response:
    """/rank's answer (as the page received it) as an Excel workbook of the page's download columns."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    leads = body.get("leads") if isinstance(body, dict) else None
    if not isinstance(leads, list) or not all(isinstance(x, dict) for x in leads):
        return _refusal(
            "send /rank's answer: an object with 'leads'", [{"path": "leads", "message": "expected a list"}]
        )
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Ranked leads"
    ws.append(list(EXPORT_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for lead in leads:
        row = [lead.get(col) for col in EXPORT_COLUMNS[:-2]]
        row += [_reason_words(lead.get("reasons"), "up"), _reason_words(lead.get("reasons"), "down")]
        ws.append([v if isinstance(v, str | int | float) or v is None else str(v) for v in row])
    for (cell,) in ws.iter_rows(min_row=2, min_col=5, max_col=5):
        cell.number_format = "0.0%"
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    buffer = io.BytesIO()
    wb.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"content-disposition": 'attachment; filename="ranked.xlsx"'},
    )
