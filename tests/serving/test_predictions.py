"""The prediction log and the outcomes import, on SQLite files in temp dirs (no model needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from leadrank.commands.serve import outcomes_app
from serving.errors import OutcomesError, PredictionLogError
from serving.predictions import PredictionLog, import_outcomes, read_outcomes_file
from serving.scoring import LogRows


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log' / 'predictions.db'}"


def log_some(log: PredictionLog, ids: list[str], endpoint: str = "score") -> None:
    rows = LogRows(
        "r" * 32, endpoint, "7", ids, np.linspace(0.1, 0.5, len(ids)), ["sales_ready"] * len(ids), [None] * len(ids)
    )
    log.record(rows, datetime(2026, 9, 30, 12, 0, tzinfo=UTC))


def test_record_and_read(tmp_path: Path) -> None:
    log = PredictionLog(url(tmp_path))
    log_some(log, ["L1", "L2"])
    log.record(LogRows("s" * 32, "score", "7", [], np.array([])))  # nothing to write
    frame = log.read()
    assert list(frame["lead_id"]) == ["L1", "L2"] and list(frame["model_version"]) == ["7", "7"]
    assert frame["scored_at"].iloc[0] == pd.Timestamp("2026-09-30 12:00:00")
    assert frame["assigned_to"].isna().all() and list(frame["stage"]) == ["sales_ready"] * 2
    with log.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    log.close()


def test_unusable_databases_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogError, match="not a database URL"):
        PredictionLog("no-scheme-here")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PredictionLogError, match="cannot create the directory"):
        PredictionLog(f"sqlite:///{blocker / 'sub' / 'p.db'}")
    log = PredictionLog(url(tmp_path))
    with log.engine.begin() as conn:
        conn.execute(text("DROP TABLE predictions"))
    with pytest.raises(PredictionLogError, match="cannot be written"):
        log_some(log, ["L1"])


def write_outcomes(path: Path, rows: list[dict[str, object]]) -> Path:
    frame = pd.DataFrame(rows)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_outcomes_are_joined_to_the_log(tmp_path: Path, suffix: str) -> None:
    log = PredictionLog(url(tmp_path))
    log_some(log, ["L1", "L2", "L3"])
    log_some(log, ["L1"])  # scored twice: still one lead
    path = write_outcomes(
        tmp_path / f"outcomes{suffix}",
        [
            {"lead_id": "L1", "outcome": "won", "closed_at": "2026-10-10"},
            {"lead_id": "L2", "outcome": " Lost ", "closed_at": None},
            {"lead_id": "L9", "outcome": "lost", "closed_at": "2026-10-11T08:00:00Z"},
            {"lead_id": "L1", "outcome": "WON", "closed_at": "2026-10-10"},
        ],
    )
    report = import_outcomes(path, url(tmp_path))
    assert (report.rows, report.leads, report.won, report.lost) == (4, 3, 1, 2)
    assert (report.matched, report.unmatched, report.unmatched_examples, report.replaced) == (2, 1, ["L9"], 0)
    engine = create_engine(url(tmp_path))
    with engine.connect() as conn:
        joined = pd.read_sql(
            text("SELECT p.lead_id, o.outcome, o.closed_at FROM predictions p JOIN outcomes o USING (lead_id)"), conn
        )
    assert sorted(set(joined["lead_id"])) == ["L1", "L2"] and set(joined["outcome"]) == {"won", "lost"}
    # Importing again replaces, never duplicates.
    again = import_outcomes(
        write_outcomes(tmp_path / f"again{suffix}", [{"lead_id": "L2", "outcome": "won"}]), url(tmp_path)
    )
    assert again.replaced == 1 and again.matched == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT outcome FROM outcomes WHERE lead_id = 'L2'")).scalar_one() == "won"
        assert conn.execute(text("SELECT COUNT(*) FROM outcomes")).scalar_one() == 3
    engine.dispose()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"lead": "L1", "outcome": "won"}], "missing column(s) lead_id; found: lead, outcome"),
        (
            [{"lead_id": "L1", "outcome": "won"}, {"lead_id": "L2", "outcome": "maybe"}],
            "must be 'won' or 'lost'; got 'maybe' at line 3",
        ),
        ([{"lead_id": "", "outcome": "won"}], "column lead_id is empty at line 2"),
        ([{"lead_id": "L1", "outcome": "won", "closed_at": "yesterday"}], "column closed_at is not an ISO 8601"),
        (
            [{"lead_id": "L1", "outcome": "won"}, {"lead_id": "L1", "outcome": "lost"}],
            "different outcomes at lines 2, 3",
        ),
    ],
)
def test_bad_outcome_files(tmp_path: Path, rows: list[dict[str, object]], message: str) -> None:
    path = write_outcomes(tmp_path / "o.csv", rows)
    with pytest.raises(OutcomesError) as exc:
        read_outcomes_file(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(OutcomesError, match="no such file"):
        read_outcomes_file(tmp_path / "nope.csv")
    (tmp_path / "o.xlsx").write_text("x")
    with pytest.raises(OutcomesError, match=r"expected a \.csv or \.parquet"):
        read_outcomes_file(tmp_path / "o.xlsx")
    (tmp_path / "o.parquet").write_text("not parquet")
    with pytest.raises(OutcomesError, match="cannot read it"):
        read_outcomes_file(tmp_path / "o.parquet")


def test_cli_reports_matches_and_fails_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRANK_PREDICTION_DB", url(tmp_path))
    log = PredictionLog(url(tmp_path))
    log_some(log, ["L1", "L2"])
    log.close()
    app = typer.Typer()
    app.add_typer(outcomes_app, name="outcomes")
    runner = CliRunner()
    path = write_outcomes(
        tmp_path / "o.csv", [{"lead_id": "L1", "outcome": "won"}, {"lead_id": "L7", "outcome": "lost"}]
    )
    result = runner.invoke(app, ["outcomes", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 outcomes (1 won, 1 lost)" in result.output
    assert "1 of them match a scored lead in the prediction log; 1 does not." in result.output
    assert "L7" in result.output
    bad = write_outcomes(tmp_path / "bad.csv", [{"lead_id": "L1", "outcome": "tbd"}])
    result = runner.invoke(app, ["outcomes", "import", str(bad)])
    assert result.exit_code == 2 and "must be 'won' or 'lost'" in result.output
    assert "Traceback" not in result.output
