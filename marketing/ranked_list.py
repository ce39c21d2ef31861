"""Marketing's ranked list: one row a lead, in handoff order, with the ordering key, the reasons and the lead's
own identifying columns, written as CSV or Excel.

The reasons come from `serving.reasons.Explainer`, the same object the HTTP API words its reasons with, so a lead
reads the same in the list, the report and the API. Pass-through columns (name, company, e-mail...) are joined
on after scoring: the model, MLflow and the prediction log never see them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch
from handoff import HandoffResult

# The list's own columns, in order; pass-through columns follow.
LIST_COLUMNS: Final = (
    "rank",
    "lead_id",
    "stage",
    "assigned_to",
    "chance_to_close",
    "expected_hours",
    "closes_per_hour",
    "expected_days_to_close",
    "expected_value",
    "reasons_up",
    "reasons_down",
    c.SOURCE,
)
# Input columns never passed through by default: the contract's own (ids, times, outcomes).
_NOT_PASSED: Final = c.RESERVED_COLUMNS | {"row_order"}
STAGE_COLOURS: Final = {"sales_ready": "C6EFCE", "marketing_qualified": "FFEB9C", "nurture": "EDEDED"}
FORMATS: Final = {
    "chance_to_close": "0.0%",
    "expected_hours": "0.00",
    "closes_per_hour": "0.000",
    "expected_days_to_close": "0",
    "expected_value": "#,##0",
}
WIDTHS: Final = {"reasons_up": 60, "reasons_down": 60, "lead_id": 12, "stage": 20, "assigned_to": 12}


class RankedListError(ValueError):
    """The list cannot be written as asked (unknown --keep column, unknown file type). Names what to change."""


def reason_text(reason: dict[str, Any]) -> str:
    """One reason as the list shows it: the API's words and its effect, e.g. 'asked for a demo (+4.2 pts)'."""
    return f"{reason['text']} ({float(reason['effect']):+.1f} pts)"


def reasons_by_lead(model: Any, batch: LeadBatch) -> dict[str, list[dict[str, Any]]]:
    """Each lead's reasons (lead id -> the API's reason dicts), from the API's own `Explainer`."""
    from serving.reasons import Explainer

    ids, columns = model.features.columns_of(batch)
    _, reasons = Explainer(model)(columns)
    return {str(lead_id): r for lead_id, r in zip(ids, reasons, strict=True)}


def pass_through_columns(leads: pd.DataFrame, feature_columns: Sequence[str], keep: Sequence[str] | None) -> list[str]:
    """The input columns to carry into the list: `keep` (checked against the input), or by default every column
    that is neither the contract's own nor a model feature."""
    if keep is not None:
        unknown = [col for col in keep if col not in leads.columns]
        if unknown:
            raise RankedListError(
                f"--keep: no column {', '.join(repr(u) for u in unknown)} in the leads file "
                f"(its columns: {', '.join(map(str, leads.columns))})"
            )
        return [col for col in dict.fromkeys(keep) if col not in LIST_COLUMNS]
    used = set(feature_columns) | _NOT_PASSED
    return [str(col) for col in leads.columns if col not in used and col not in LIST_COLUMNS]


def build_ranked_list(
    result: HandoffResult,
    leads: pd.DataFrame,
    reasons: dict[str, list[dict[str, Any]]],
    pass_through: Sequence[str] = (),
) -> pd.DataFrame:
    """The marketer's list: the handoff's leads in rank order with the reasons, source and pass-through columns."""
    ranked = result.leads
    ids = ranked[c.LEAD_ID].astype(str)
    lead_reasons = [reasons.get(i, []) for i in ids]
    out = pd.DataFrame(
        {
            "rank": ranked["rank"].to_numpy(),
            "lead_id": ids.to_numpy(),
            "stage": ranked["stage"].to_numpy(),
            "assigned_to": ranked["assigned_to"].astype(object).where(ranked["assigned_to"].notna(), None).to_numpy()
            if "assigned_to" in ranked
            else None,
            "chance_to_close": ranked["p_close"].to_numpy(dtype=float),
            "expected_hours": ranked["expected_hours"].to_numpy(dtype=float),
            "closes_per_hour": ranked["closes_per_hour"].to_numpy(dtype=float),
            "expected_days_to_close": ranked["expected_days_to_close"].to_numpy(dtype=float),
            "expected_value": ranked["expected_value"].to_numpy(dtype=float) if "expected_value" in ranked else np.nan,
            "reasons_up": ["; ".join(reason_text(x) for x in r if x["direction"] == "up") for r in lead_reasons],
            "reasons_down": ["; ".join(reason_text(x) for x in r if x["direction"] == "down") for r in lead_reasons],
        }
    )
    extra = [c.SOURCE, *[col for col in pass_through if col != c.SOURCE]]
    context = leads[[c.LEAD_ID, *[col for col in extra if col in leads.columns]]].copy()
    context[c.LEAD_ID] = context[c.LEAD_ID].astype(str)
    out = out.merge(context, on=c.LEAD_ID, how="left", validate="one_to_one")
    return out


def write_ranked_list(ranked: pd.DataFrame, result: HandoffResult, out: Path, model_version: str | None = None) -> Path:
    """Write the list to `out` (.csv or .xlsx, by extension) and `summary.json` beside it; returns the latter."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise RankedListError(f"--out {out}: write the ranked list as .csv or .xlsx, not {out.suffix or 'no suffix'!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        shown = ranked.copy()
        # A percentage as people read it; Excel and Sheets read "26.6%" back as a number.
        shown["chance_to_close"] = [f"{p:.1%}" if np.isfinite(p) else "" for p in shown["chance_to_close"]]
        shown.to_csv(out, index=False, float_format="%.6g")
    else:
        write_xlsx(ranked, result, out, model_version)
    summary_file = out.parent / "summary.json"
    summary = result.summary.to_dict()
    doc = {"model_version": model_version, "ranked_list": out.name, "statement": summary["statement"]}
    summary_file.write_text(json.dumps({**doc, "summary": summary}, indent=2) + "\n", encoding="utf-8")
    return summary_file


def _cell(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def write_xlsx(ranked: pd.DataFrame, result: HandoffResult, out: Path, model_version: str | None = None) -> None:
    """The list as an Excel workbook: frozen header, formats, widths, stage colours, autofilter; and a
    'Summary' sheet with the statement, the numbers and the per-rep loads."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Ranked leads"
    columns = [str(col) for col in ranked.columns]
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in ranked.itertuples(index=False, name=None):
        ws.append([_cell(v) for v in row])
    n = len(ranked) + 1
    fills = {stage: PatternFill("solid", fgColor=colour) for stage, colour in STAGE_COLOURS.items()}
    for k, col in enumerate(columns, start=1):
        letter = get_column_letter(k)
        ws.column_dimensions[letter].width = WIDTHS.get(col, max(10, min(30, len(col) + 2)))
        fmt = FORMATS.get(col)
        if fmt is not None:
            for (cell,) in ws.iter_rows(min_row=2, max_row=n, min_col=k, max_col=k):
                cell.number_format = fmt
    stage_col = columns.index("stage") + 1
    for (cell,) in ws.iter_rows(min_row=2, max_row=n, min_col=stage_col, max_col=stage_col):
        fill = fills.get(str(cell.value))
        if fill is not None:
            cell.fill = fill
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{n}"

    s = result.summary
    sheet = wb.create_sheet("Summary")
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 18
    sheet["A1"] = "Statement"
    sheet["A1"].font = Font(bold=True)
    sheet["A2"] = s.statement
    sheet.merge_cells("A2:F2")
    sheet["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[2].height = 75
    rows: list[tuple[str, Any, str | None]] = [
        ("model version", model_version, None),
        ("period", s.period, None),
        ("objective", s.objective, None),
        ("capacity", s.capacity_kind, None),
        ("hours available", s.hours_available, "#,##0.0"),
        ("lead capacity", s.lead_capacity, "#,##0"),
        ("leads scored", s.leads_scored, "#,##0"),
        ("leads handed off (sales_ready)", s.leads_handed_off, "#,##0"),
        ("marketing_qualified", s.leads_marketing_qualified, "#,##0"),
        ("nurture", s.leads_nurture, "#,##0"),
        ("hours used", s.hours_used, "#,##0.0"),
        ("expected closes", s.expected_closes, "0.0"),
        ("expected close rate", s.expected_close_rate, "0.0%"),
        ("expected closes per selling hour", s.expected_closes_per_hour, "0.000"),
        ("cut-off: closes per hour", s.cutoff_closes_per_hour, "0.000"),
        ("cut-off: chance to close", s.cutoff_p_close, "0.0%"),
        ("expected value", s.expected_value, "#,##0"),
    ]
    line = 4
    for label, value, fmt in rows:
        sheet.cell(line, 1, label)
        cell = sheet.cell(line, 2, _cell(value))
        if fmt is not None:
            cell.number_format = fmt
        line += 1
    if s.reps:
        line += 1
        header = ("rep", "leads", "hours used", "hours available", "max leads", "expected closes")
        for k, name in enumerate(header, start=1):
            sheet.cell(line, k, name).font = Font(bold=True)
        for rep in s.reps:
            line += 1
            values = (rep.name, rep.leads, rep.hours_used, rep.hours_available, rep.max_leads, rep.expected_closes)
            for k, (value, fmt) in enumerate(
                zip(values, (None, "#,##0", "0.0", "0.0", "#,##0", "0.00"), strict=True), start=1
            ):
                cell = sheet.cell(line, k, _cell(value))
                if fmt is not None:
                    cell.number_format = fmt
    wb.save(out)
