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
    assert (report.matched, report.unmatched, report.unmatched_examples) == (2, 1, ["L9"])
    assert (report.new, report.changed, report.unchanged) == (3, 0, 0)
    engine = create_engine(url(tmp_path))
    with engine.connect() as conn:
        joined = pd.read_sql(
            text("SELECT p.lead_id, o.outcome, o.closed_at FROM predictions p JOIN outcomes o USING (lead_id)"), conn
        )
    assert sorted(set(joined["lead_id"])) == ["L1", "L2"] and set(joined["outcome"]) == {"won", "lost"}
    # Importing the same file again changes nothing: not a row written, not even the import stamp.
    with engine.connect() as conn:
        before = pd.read_sql(text("SELECT * FROM outcomes ORDER BY lead_id"), conn)
    same = import_outcomes(path, url(tmp_path))
    assert (same.new, same.changed, same.unchanged, same.matched) == (0, 0, 3, 2)
    with engine.connect() as conn:
        pd.testing.assert_frame_equal(pd.read_sql(text("SELECT * FROM outcomes ORDER BY lead_id"), conn), before)
    # A different outcome for a stored lead is a conflict: reported with its row, and the newer file wins.
    again = import_outcomes(
        write_outcomes(
            tmp_path / f"again{suffix}", [{"lead_id": "L1", "outcome": "won"}, {"lead_id": "L2", "outcome": "won"}]
        ),
        url(tmp_path),
    )
    where = "line 3" if suffix == ".csv" else "row 1"
    assert (again.new, again.changed, again.matched) == (0, 2, 2)
    assert f"L2 at {where}: lost -> won" in again.changes
    assert any(change.startswith("L1 at ") and "closed 2026-10-10" in change for change in again.changes)
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
    assert "Read 2 outcomes (1 won, 1 lost)" in result.output and "2 new, 0 changed, 0 already there" in result.output
    assert "1 of them match a scored lead in the prediction log; 1 was never scored." in result.output
    assert "Never scored, e.g.: L7" in result.output
    again = runner.invoke(app, ["outcomes", "import", str(path)])
    assert again.exit_code == 0 and "0 new, 0 changed, 2 already there" in again.output
    flipped = write_outcomes(tmp_path / "flip.csv", [{"lead_id": "L7", "outcome": "won"}])
    result = runner.invoke(app, ["outcomes", "import", str(flipped)])
    assert "Conflicts with the stored outcomes, replaced by this file's: L7 at line 2: lost -> won" in result.output
    bad = write_outcomes(tmp_path / "bad.csv", [{"lead_id": "L1", "outcome": "tbd"}])
    result = runner.invoke(app, ["outcomes", "import", str(bad)])
    assert result.exit_code == 2 and "must be 'won' or 'lost'" in result.output
    assert "Traceback" not in result.output


def test_a_crm_export_through_its_spec_imports_its_won_and_lost_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from features.spec import load_dataset

    monkeypatch.setenv("LEADRANK_PREDICTION_DB", url(tmp_path))
    spec = Path(__file__).resolve().parents[2] / "examples" / "salesforce-leads.toml"
    leads = load_dataset(spec).batch.leads
    closed = leads.loc[leads["outcome"].notna()]
    log = PredictionLog(url(tmp_path))
    log_some(log, closed["lead_id"].head(4).tolist())
    log.close()
    app = typer.Typer()
    app.add_typer(outcomes_app, name="outcomes")
    runner = CliRunner()
    first = runner.invoke(app, ["outcomes", "import", "--spec", str(spec)])
    assert first.exit_code == 0, first.output
    won = int((closed["outcome"] == "won").sum())
    assert f"Read {len(closed):,} outcomes ({won:,} won, {len(closed) - won:,} lost)" in first.output
    assert f"{len(closed):,} new" in first.output
    assert f"4 of them match a scored lead in the prediction log; {len(closed) - 4:,} were never scored" in first.output
    again = runner.invoke(app, ["outcomes", "import", "--spec", str(spec)])
    assert f"0 new, 0 changed, {len(closed):,} already there" in again.output
    both = runner.invoke(app, ["outcomes", "import", "x.csv", "--spec", str(spec)])
    assert both.exit_code == 2 and "give exactly one of FILE" in both.output
