"""`leadrank rank` against a real MLflow store with a trained champion: the period label, --json, the steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadrank.cli import app
from tests.conftest import use_store
from tests.training.conftest import Trained

runner = CliRunner()


@pytest.fixture
def store_env(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Trained:
    use_store(monkeypatch, trained.home)
    return trained


@pytest.mark.integration
def test_rank_json_is_the_whole_stdout_and_carries_the_period_label(store_env: Trained, tmp_path: Path) -> None:
    out = tmp_path / "lists" / "ranked.csv"
    args = ["rank", "--data", str(store_env.data_dir), "--capacity-hours", "60", "--out", str(out), "--json"]
    res = runner.invoke(app, [*args, "--period", "In  week 42 "])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert store_env.result.registration is not None
    assert doc["model_version"] == store_env.result.registration.version
    assert doc["ranked_list"] == str(out) and doc["plan"] is None
    summary = doc["summary"]
    assert summary["statement"].startswith("In week 42 'qualified' means the ")
    assert summary["hours_available"] == 60 and summary["leads_handed_off"] > 0
    ranked = pd.read_csv(out)
    assert (ranked["stage"] == "sales_ready").sum() == summary["leads_handed_off"]
    # Progress goes to stderr, each step with its seconds.
    assert re.search(r"scoring [\d,]+ open leads and handing off what fits capacity \(\d+\.\d s\)", res.stderr)

    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["summary"]["statement"].startswith("This week 'qualified' means")


@pytest.mark.integration
def test_rank_prints_the_statement_with_the_period_label(store_env: Trained, tmp_path: Path) -> None:
    out = tmp_path / "ranked.csv"
    args = ["rank", "--data", str(store_env.data_dir), "--capacity-leads", "5", "--out", str(out)]
    res = runner.invoke(app, [*args, "--period", "In March"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "In March 'qualified' means the 5 leads worth the most" in text
    assert "This week" not in text
    assert re.search(r"loading the model \(\d+\.\d s\)", res.stdout)
    assert f"ranked list: {out}" in text

    res = runner.invoke(app, [*args, "--period", "  "])
    assert res.exit_code == 2 and "--period is blank" in res.stderr
