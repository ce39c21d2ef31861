"""The `leadrank` command: every subcommand documents itself, and quickstart runs end to end."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadrank.cli import app

runner = CliRunner()


def _subcommands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_help_lists_every_subcommand() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    names = _subcommands()
    assert {"quickstart", "simulate", "train", "rank", "promote", "rollback", "ui", "serve", "outcomes"} <= set(names)
    for name in names:
        assert name in res.output


@pytest.mark.parametrize("name", _subcommands())
def test_each_subcommand_has_help(name: str) -> None:
    res = runner.invoke(app, [name, "--help"])
    assert res.exit_code == 0, res.output
    assert "--help" in res.output
    assert len(res.output.splitlines()) > 3


@pytest.mark.integration
def test_quickstart_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "LEADRANK_HOME", "LEADRANK_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    # A small history: lower the data gate so the first model can become champion.
    monkeypatch.setenv("LEADRANK_MIN_CLOSED_LEADS", "200")
    monkeypatch.setenv("LEADRANK_MIN_WINS", "20")
    res = runner.invoke(app, ["quickstart", "--leads", "4000", "--out", "qs"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "mlflow.db").is_file()
    ranked = pd.read_csv(tmp_path / "qs" / "ranked.csv")
    assert {"rank", "lead_id", "stage", "p_close", "expected_hours", "assigned_to"} <= set(ranked.columns)
    assert set(ranked["stage"]) <= {"sales_ready", "marketing_qualified", "nurture"}
    assert (ranked["stage"] == "sales_ready").any()
    assert (tmp_path / "qs" / "capacity_plan.png").is_file()
    assert "AUC" in res.output and "oracle" in res.output
    assert "champion" in res.output.lower()


def test_tables_use_one_number_format_per_column() -> None:
    import io

    import pandas as pd
    from rich.console import Console

    from leadrank.report import print_frame

    frame = pd.DataFrame(
        {
            "auc": [0.8, 0.8134],
            "brier": [float("nan"), 0.0859],
            "ece": [0.00303, 0.0166],
            "closes": [56.0, 1087.0],
            "hours": [2.5, 14.25],
        },
        index=pd.Index(["points", "lightgbm"], name="model"),
    )
    out = io.StringIO()
    print_frame(Console(file=out, width=200), frame)
    text = out.getvalue()
    for cell in ("0.800", "0.813", "0.0030", "0.0166", "0.086", "56", "1,087", "2.50", "14.25", " - "):
        assert cell in text, (cell, text)
    assert "56.00" not in text
