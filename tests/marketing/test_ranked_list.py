"""`leadrank rank --out FILE.xlsx|.csv`: marketing's list read back as a marketer's spreadsheet would read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from features import contract as c
from features.io import load_history_dir
from features.records import to_records
from leadrank.cli import app
from marketing.ranked_list import LIST_COLUMNS, reason_text
from tests.marketing.conftest import runner
from tests.serving.session import Trained

pytestmark = pytest.mark.integration


def _rank(data_dir: Path, out: Path, *extra: str) -> dict[str, Any]:
    args = ["rank", "--data", str(data_dir), "--capacity-hours", "40", "--out", str(out), "--json", *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def test_xlsx_has_formats_frozen_header_colours_filter_and_a_summary_sheet(
    store_env: Trained, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lists" / "ranked.xlsx"
    doc = _rank(data_dir, out)
    wb = load_workbook(out)
    assert wb.sheetnames == ["Ranked leads", "Summary"]
    ws = wb["Ranked leads"]
    header = [cell.value for cell in ws[1]]
    assert header[: len(LIST_COLUMNS)] == list(LIST_COLUMNS)
    assert header[len(LIST_COLUMNS) :] == ["name", "company", "email"]  # every non-feature column by default
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{ws.max_row}"
    col = {name: k + 1 for k, name in enumerate(header)}
    first = {name: ws.cell(2, k).value for name, k in col.items()}
    assert first["rank"] == 1 and first["stage"] == "sales_ready"
    assert ws.cell(2, col["chance_to_close"]).number_format == "0.0%"
    assert 0 < first["chance_to_close"] < 1
    assert ws.cell(2, col["closes_per_hour"]).number_format == "0.000"
    assert ws.cell(2, col["stage"]).fill.fgColor.rgb.endswith("C6EFCE")
    assert (
        ws.column_dimensions["A"].width > 0
        and ws.column_dimensions[ws.cell(1, col["reasons_up"]).column_letter].width == 60
    )
    # The ordering key explains the order: closes per selling hour never rises down the sales-ready rows.
    stages = [ws.cell(r, col["stage"]).value for r in range(2, ws.max_row + 1)]
    keys = [ws.cell(r, col["closes_per_hour"]).value for r in range(2, ws.max_row + 1)]
    ready = [k for s, k in zip(stages, keys, strict=True) if s == "sales_ready"]
    assert ready == sorted(ready, reverse=True) and len(ready) == doc["summary"]["leads_handed_off"]

    summary = wb["Summary"]
    assert summary["A2"].value == doc["summary"]["statement"]
    labels = {summary.cell(r, 1).value: summary.cell(r, 2) for r in range(4, summary.max_row + 1)}
    assert labels["leads handed off (sales_ready)"].value == doc["summary"]["leads_handed_off"]
    assert labels["expected close rate"].number_format == "0.0%"
    side = json.loads((out.parent / "summary.json").read_text())
    assert side["statement"] == doc["summary"]["statement"] and side["summary"] == doc["summary"]


def test_csv_passes_chosen_columns_through_and_reasons_are_the_apis_words(
    store_env: Trained, data_dir: Path, tmp_path: Path, client: Any
) -> None:
    out = tmp_path / "ranked.csv"
    _rank(data_dir, out, "--keep", "email,company")
    listed = pd.read_csv(out, keep_default_na=False)
    assert list(listed.columns) == [*LIST_COLUMNS, "email", "company"]
    assert listed["chance_to_close"].str.fullmatch(r"\d+\.\d%").all()
    history = load_history_dir(data_dir)
    by_id = history.leads.set_index(c.LEAD_ID)
    assert (listed["email"] == by_id.loc[listed["lead_id"], "email"].to_numpy()).all()
    assert (listed["source"] == by_id.loc[listed["lead_id"], c.SOURCE].to_numpy()).all()

    top = listed.head(5)
    leads = history.leads.set_index(c.LEAD_ID).loc[top["lead_id"]].reset_index()
    records = to_records(leads.drop(columns=["name", "company", "email"]), history.events)
    answer = client.post("/score", json={"leads": records})
    assert answer.status_code == 200, answer.text
    for row, scored in zip(top.itertuples(), answer.json()["leads"], strict=True):
        assert scored["lead_id"] == row.lead_id
        up = "; ".join(reason_text(r) for r in scored["reasons"] if r["direction"] == "up")
        down = "; ".join(reason_text(r) for r in scored["reasons"] if r["direction"] == "down")
        assert (row.reasons_up, row.reasons_down) == (up, down)
        assert row.chance_to_close == f"{scored['p_close']:.1%}"
        assert up and " pts)" in up


def test_unknown_keep_column_and_file_type_are_refused_with_their_names(
    store_env: Trained, data_dir: Path, tmp_path: Path
) -> None:
    base = ["rank", "--data", str(data_dir), "--capacity-hours", "40"]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "r.csv"), "--keep", "email,phone"])
    assert res.exit_code == 2 and "--keep: no column 'phone' in the leads file" in " ".join(res.output.split())
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "r.ods")])
    assert res.exit_code == 2 and "as .csv or .xlsx" in res.output
