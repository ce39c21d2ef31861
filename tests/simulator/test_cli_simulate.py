"""`leadrank simulate` end to end through the real typer app."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features import contract as c
from leadrank.cli import app

runner = CliRunner()


def test_simulate_writes_the_history_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(app, ["simulate", "--n-leads", "500", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["events.parquet", "leads.parquet", "truth.parquet"]
    leads = pd.read_parquet(out / "leads.parquet")
    assert len(leads) == 500
    assert leads[c.LEAD_ID].dtype == "str"
    for source in ("telemarketing", "cold_call", "all"):
        assert source in result.stdout
    assert "close" in result.stdout and "open" in result.stdout
    assert str(out / "events.parquet") in result.stdout.replace("\n", "")
    assert "evaluation only" in result.stdout
    # Each step's line with its elapsed seconds, also when the output is not a terminal.
    assert re.search(r"simulating 500 leads over 18 months \(seed 7\) \(\d+\.\d s\)", result.stdout)
    assert re.search(r"writing parquet files to .* \(\d+\.\d s\)", result.stdout.replace("\n", ""))


def test_simulate_csv_with_options(tmp_path: Path) -> None:
    out = tmp_path / "csv"
    args = ["simulate", "-n", "300", "--seed", "3", "--months", "2", "--format", "csv", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    leads = pd.read_csv(out / "leads.csv", parse_dates=[c.DECIDED_AT])
    assert len(leads) == 300
    assert leads[c.DECIDED_AT].min() >= pd.Timestamp("2026-08-01")
    first = (out / "events.csv").read_bytes()
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert (out / "events.csv").read_bytes() == first


def test_same_seed_same_files_through_the_cli(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(app, ["simulate", "--n-leads", "200", "--seed", "5", "--out-dir", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    for table in ("leads", "events", "truth"):
        a = (tmp_path / "a" / f"{table}.parquet").read_bytes()
        assert a == (tmp_path / "b" / f"{table}.parquet").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n-leads", "0"], "--n-leads must be a positive integer, got 0"),
        (["--n-leads", "-5"], "--n-leads must be a positive integer, got -5"),
        (["--n-leads", "5000001"], "--n-leads must be at most 5,000,000"),
        (["--months", "0"], "--months must be between 1 and"),
        (["--months", "121"], "--months must be between 1 and 120, got 121"),
        (["--months", "3", "--drift-months", "4"], "drift months must be a whole number between 1 and 3, got 4"),
        (["--drift-months", "2", "--drift-type", "meeting"], "drift type must be one of page_visit"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["simulate", *args, "--out-dir", str(out)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--format", "xlsx", "--out-dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "xlsx" in result.output and "parquet" in result.output


def test_out_pointing_at_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    result = runner.invoke(app, ["simulate", "--n-leads", "50", "--out-dir", str(target)])
    assert result.exit_code == 2
    assert "is not a folder" in result.stderr
    assert target.read_text() == "not a folder"


def test_help_explains_every_option() -> None:
    result = runner.invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    for option in ("--n-leads", "--seed", "--out-dir", "--months", "--format"):
        assert option in result.output
    # The count is --n-leads: --leads names a leads file in `rank`, --out a file.
    assert "--leads " not in result.output and "--out " not in result.output
    assert "truth" in result.output


def test_drift_writes_a_later_period_with_another_source_mix(tmp_path: Path) -> None:
    out = tmp_path / "drift"
    args = ["simulate", "--n-leads", "3000", "--months", "12", "--drift-months", "4", "--out-dir", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "the last 4 drifted" in result.stdout
    leads = pd.read_parquet(out / "leads.parquet")
    late = leads[c.DECIDED_AT] >= pd.Timestamp("2026-06-01")
    share = leads.loc[late, c.SOURCE].eq("telemarketing").mean()
    assert 0.44 < share < 0.56 and leads.loc[~late, c.SOURCE].eq("telemarketing").mean() < 0.38
    assert (out / "truth.parquet").is_file()
