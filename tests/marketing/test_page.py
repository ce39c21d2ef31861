"""The review page's endpoints in process: the page, the upload conversion and its errors, the Excel export."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from features import contract as c
from marketing import page
from tests.serving.session import Trained

LEAD_COLUMNS = ["lead_id", "source", "created_at", "decided_at", "industry", "company_size", "country", "job_level"]


def upload_csvs(trained: Trained, n: int = 30, start: int = 500) -> tuple[str, str]:
    """`n` simulated leads as the CSV texts a marketer would upload (leads, events)."""
    leads = trained.history.leads.iloc[start : start + n][LEAD_COLUMNS]
    events = trained.history.events
    events = events[events[c.EVENT_LEAD_ID].isin(leads[c.LEAD_ID])]
    return leads.to_csv(index=False), events.to_csv(index=False)


def test_the_page_is_one_file_that_fetches_nothing_from_the_network(client: Any) -> None:
    res = client.get("/ui")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    assert 'id="login"' in res.text and 'id="ranked"' in res.text
    assert "http://" not in res.text and "https://" not in res.text and 'src="//' not in res.text


def test_upload_converts_to_rank_leads_and_rank_answers_them(client: Any, trained: Trained, tmp_path: Path) -> None:
    leads_csv, events_csv = upload_csvs(trained)
    res = client.post("/ui/leads", json={"leads_csv": leads_csv, "events_csv": events_csv})
    assert res.status_code == 200, res.text
    leads = res.json()["leads"]
    assert len(leads) == 30 and leads[0]["events"] and leads[0]["attributes"]["country"]
    ranked = client.post("/rank", json={"leads": leads, "capacity": {"max_leads": 4}})
    assert ranked.status_code == 200, ranked.text
    body = ranked.json()
    assert [x["stage"] for x in body["leads"]].count("sales_ready") == 4

    xlsx = client.post("/ui/export.xlsx", json=body)
    assert xlsx.status_code == 200
    path = tmp_path / "r.xlsx"
    path.write_bytes(xlsx.content)
    ws = load_workbook(path)["Ranked leads"]
    assert [cell.value for cell in ws[1]] == list(page.EXPORT_COLUMNS)
    assert [ws.cell(r, 2).value for r in range(2, ws.max_row + 1)] == [x["lead_id"] for x in body["leads"]]
    # Excel keeps 15 significant digits.
    assert ws.cell(2, 5).value == pytest.approx(body["leads"][0]["p_close"], rel=1e-12)


def test_a_broken_row_is_named_with_its_row_and_column(client: Any, trained: Trained) -> None:
    leads_csv, _ = upload_csvs(trained, n=5)
    frame = pd.read_csv(io.StringIO(leads_csv), dtype=str)
    frame.loc[2, "created_at"] = "next tuesday"
    res = client.post("/ui/leads", json={"leads_csv": frame.to_csv(index=False), "events_csv": None})
    assert res.status_code == 400
    problem = res.json()["problems"][0]
    assert problem["column"] == "created_at" and problem["rows"] == [3]
    assert "Traceback" not in res.text and "/tmp" not in res.text


def test_binary_and_oversized_uploads_get_a_clear_message(
    client: Any, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = client.post("/ui/leads", json={"leads_csv": "PK\x03\x04\x00\x00binary"})
    assert res.status_code == 400 and "is not a CSV text file" in res.json()["error"]
    monkeypatch.setattr(page, "MAX_UPLOAD_BYTES", 1000)
    leads_csv, _ = upload_csvs(trained, n=30)
    res = client.post("/ui/leads", json={"leads_csv": leads_csv})
    assert res.status_code == 413 and "larger than 50 MB" in res.json()["error"]
    res = client.post("/ui/leads", json={"events_csv": "x"})
    assert res.status_code == 400 and res.json()["problems"][0]["path"] == "leads_csv"
