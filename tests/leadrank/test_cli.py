"""The `leadrank` command: every subcommand documents itself, options and exit codes follow one convention,
rich markup never eats text, and quickstart runs end to end."""

from __future__ import annotations

import io
import json
import re
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
    expected = {
        "quickstart", "simulate", "train", "retrain", "rank", "models", "monitor", "promote", "rollback", "ui", "serve",
        "outcomes",
    }  # fmt: skip
    assert expected <= set(names)
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
    res = runner.invoke(app, ["quickstart", "--n-leads", "4000", "--out-dir", "qs"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "mlflow.db").is_file()
    ranked = pd.read_csv(tmp_path / "qs" / "ranked.csv")
    assert {"rank", "lead_id", "stage", "chance_to_close", "expected_hours", "assigned_to"} <= set(ranked.columns)
    assert {"closes_per_hour", "reasons_up", "reasons_down", "source"} <= set(ranked.columns)
    assert (tmp_path / "qs" / "ranked.xlsx").is_file() and (tmp_path / "qs" / "summary.json").is_file()
    assert 'id="headline"' in (tmp_path / "qs" / "report.html").read_text(encoding="utf-8")
    assert "http://127.0.0.1:3000/ui" in res.output
    assert set(ranked["stage"]) <= {"sales_ready", "marketing_qualified", "nurture"}
    assert (ranked["stage"] == "sales_ready").any()
    assert (tmp_path / "qs" / "capacity_plan.png").is_file()
    assert "AUC" in res.output and "oracle" in res.output
    assert "champion" in res.output.lower()
    # Every long step prints its line with the seconds it took, also when the output is not a terminal.
    for step in (r"simulating 4,000 leads", r"building point-in-time features", r"scoring [\d,]+ leads"):
        assert re.search(step + r".* \(\d+\.\d s\)", res.output), step


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


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout == f"leadrank {version('leadrank')}\n"


def test_help_texts_keep_their_brackets() -> None:
    res = runner.invoke(app, ["rank", "--help"])
    assert res.exit_code == 0
    assert "[[rep]]" in res.stdout
    for option in ("--leads", "--out", "--period", "--json"):
        assert option in res.stdout


@pytest.mark.parametrize(
    ("command", "option"),
    [("simulate", "--n-leads"), ("simulate", "--out-dir"), ("quickstart", "--n-leads"), ("quickstart", "--out-dir")],
)
def test_counts_and_folders_have_their_own_option_names(command: str, option: str) -> None:
    # --leads is a leads file (rank) and --out a file (rank); a count is --n-leads and a folder --out-dir.
    res = runner.invoke(app, [command, "--help"])
    assert option in res.stdout
    assert not re.search(r"--(leads|out)\b(?!-)", res.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["rank", "--data", "nowhere", "--capacity-hours", "40"],
        ["quickstart", "--out-dir", "nowhere"],
        ["models"],
        ["train", "--data", "nowhere"],
    ],
)
def test_an_invalid_setting_is_exit_2_with_one_line_naming_it(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADRANK_MAX_BATCH", "abc")
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.startswith("error: invalid setting LEADRANK_MAX_BATCH: ")
    assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []  # nothing simulated, nothing written


def test_a_spec_note_with_brackets_is_printed_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRANK_HOME", str(tmp_path))
    pd.DataFrame({"id": [1, 2, 3], "y": ["no", "yes", "no"], "job": ["a", "b", "c"]}).to_parquet(
        tmp_path / "leads.parquet"
    )
    spec = tmp_path / "spec.toml"
    spec.write_text('[leads]\npath = "leads.parquet"\nid = "id"\ntarget = "y"\nsep = ";"\n')
    res = runner.invoke(app, ["train", "--spec", str(spec)])
    # Three leads are too few to train: the notes come first, then the error.
    assert res.exit_code == 2 and "not enough history" in res.stderr
    assert "note: [leads] sep is ignored for the Parquet file leads.parquet" in res.stdout


def test_tables_and_steps_print_text_with_brackets_intact() -> None:
    from rich.console import Console

    from leadrank.report import Steps, print_frame

    out = io.StringIO()
    console = Console(file=out, width=200)
    frame = pd.DataFrame({"rep": ["[bold]Ann", "[b]"]}, index=pd.Index(["[x]", "[leads]"], name="[id]"))
    print_frame(console, frame, title="[team]")
    with Steps(console) as step:
        step("reading [leads] table")
        step("writing [out]")
    text = out.getvalue()
    for cell in ("[team]", "[bold]Ann", "[b]", "[x]", "[leads]", "[id]"):
        assert cell in text, (cell, text)
    assert re.search(r"^  reading \[leads\] table \(\d+\.\d s\)$", text, re.MULTILINE), text
    assert re.search(r"^  writing \[out\] \(\d+\.\d s\)$", text, re.MULTILINE), text


def test_a_failed_step_is_not_reported_as_done() -> None:
    from rich.console import Console

    from leadrank.report import Steps

    out = io.StringIO()
    with pytest.raises(ValueError), Steps(Console(file=out)) as step:
        step("first")
        step("second")
        raise ValueError("broken")
    assert "first (" in out.getvalue() and "second" not in out.getvalue()


def test_json_output_is_strict_json() -> None:
    import numpy as np

    from leadrank.cli_support import _plain

    data = {"auc": np.float64(0.8), "n": np.int64(3), "nan": float("nan"), "inf": np.inf, "path": Path("a/b")}
    plain = _plain({"x": [data, (1, None, True)]})
    text = json.dumps(plain, allow_nan=False)
    assert json.loads(text) == {"x": [{"auc": 0.8, "n": 3, "nan": None, "inf": None, "path": "a/b"}, [1, None, True]]}
