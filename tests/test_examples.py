"""The CRM-export examples end to end: the generator reproduces the committed files, and each spec is trained
with `leadrank train --spec` and its open leads ranked with `leadrank rank --spec`, with the export's own ids."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.spec import load_dataset, load_open_leads
from leadrank.cli import app

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SALESFORCE = EXAMPLES / "salesforce-leads.toml"
HUBSPOT = EXAMPLES / "hubspot-contacts.toml"
runner = CliRunner()


def test_the_generator_reproduces_the_committed_exports() -> None:
    spec = importlib.util.spec_from_file_location("make_crm_examples", EXAMPLES / "make_crm_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, content in module.files().items():
        assert path.read_bytes() == content, f"{path} differs from what make_crm_examples.py writes: rerun it"


def _env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("LEADRANK_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADRANK_TRACKING_URI", raising=False)
    # A few hundred leads: lower the data gate so the first model can become champion.
    monkeypatch.setenv("LEADRANK_MIN_CLOSED_LEADS", "30")
    monkeypatch.setenv("LEADRANK_MIN_WINS", "5")


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, Path]]:
    """`leadrank train --spec` of each example, each into its own MLflow store: spec -> LEADRANK_HOME."""
    out = {}
    for spec in (SALESFORCE, HUBSPOT):
        home = tmp_path_factory.mktemp(spec.stem)
        with pytest.MonkeyPatch.context() as mp:
            _env(mp, home)
            res = runner.invoke(app, ["train", "--spec", str(spec), "--seed", "3"])
        assert res.exit_code == 0, res.output
        assert "promoted to champion" in res.output, res.output
        out[spec] = home
    yield out


def _ids_of_open_rows(path: Path, encoding: str, id_col: str, target: str, won: str, lost: str) -> set[str]:
    raw = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False)
    status = raw[target].str.strip().str.lower()
    return set(raw.loc[~status.isin([won.lower(), lost.lower()]), id_col])


@pytest.mark.parametrize(
    ("spec", "open_ids"),
    [
        (
            SALESFORCE,
            lambda: _ids_of_open_rows(
                EXAMPLES / "salesforce" / "leads.csv",
                "cp1252",
                "Lead ID",
                "Lead Status",
                "Closed - Converted",
                "Closed - Not Converted",
            ),
        ),
        (
            HUBSPOT,
            lambda: _ids_of_open_rows(
                EXAMPLES / "hubspot" / "contacts.csv", "utf-8-sig", "Record ID", "Deal Stage", "closedwon", "closedlost"
            ),
        ),
    ],
)
def test_train_then_rank_the_open_leads_of_the_same_export(
    spec: Path, open_ids: object, homes: dict[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, homes[spec])
    out = tmp_path / "ranked.csv"
    res = runner.invoke(app, ["rank", "--spec", str(spec), "--capacity-leads", "10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    ranked = pd.read_csv(out, dtype={"lead_id": str})
    expected = open_ids()  # type: ignore[operator]
    # Exactly the open rows, under the export's own ids (Salesforce "00Q...", HubSpot record ids).
    assert set(ranked["lead_id"]) == expected
    assert len(ranked) == len(expected)
    assert (ranked["stage"] == "sales_ready").sum() == 10
    assert ranked["chance_to_close"].str.rstrip("%").astype(float).between(0, 100).all()
    # A deal's amount or hours are known only once it is worked: never a feature of the served model.
    from leadrank.commands.rank import load_champion
    from leadrank.config import tracking_config
    from leadrank.settings import Settings

    model, _ = load_champion(tracking_config(Settings()))
    assert not {"Amount", "deal_value", "sales_hours"} & set(model.columns)


def test_hubspot_open_leads_without_a_decision_time_are_ranked_as_of_now_and_counted() -> None:
    found = load_open_leads(HUBSPOT, ranking_time=pd.Timestamp("2025-06-01"))
    leads = found.batch.leads
    no_sql = leads["decided_at"].isna()
    assert found.scored_as_of_ranking_time == int(no_sql.sum()) > 0
    assert (leads.loc[no_sql, "as_of"] == pd.Timestamp("2025-06-01")).all()
    # The others are scored as of their own decision time, as training saw closed leads.
    assert (leads.loc[~no_sql, "as_of"] == leads.loc[~no_sql, "decided_at"]).all()
    assert any(f"{found.scored_as_of_ranking_time} of {len(leads)} open leads have no" in n for n in found.notes)


def test_rank_with_this_weeks_file_and_without_a_target_column(
    homes: dict[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, homes[SALESFORCE])
    raw = pd.read_csv(EXAMPLES / "salesforce" / "leads.csv", encoding="cp1252", dtype=str, keep_default_na=False)
    week = raw.tail(40).copy()
    week.loc[week.index[:5], "Lead Status"] = "Working - Contacted"
    week_file = tmp_path / "this-week.csv"
    week.to_csv(week_file, index=False, encoding="cp1252")
    out = tmp_path / "ranked.csv"
    res = runner.invoke(
        app,
        ["rank", "--spec", str(SALESFORCE), "--leads", str(week_file), "--capacity-leads", "5", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    open_week = week[~week["Lead Status"].str.startswith("Closed")]["Lead ID"]
    assert set(pd.read_csv(out, dtype=str)["lead_id"]) == set(open_week)

    # This week's export without the outcome column at all: every row is open.
    week.drop(columns=["Lead Status"]).to_csv(week_file, index=False, encoding="cp1252")
    res = runner.invoke(
        app,
        ["rank", "--spec", str(SALESFORCE), "--leads", str(week_file), "--capacity-leads", "5", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(out, dtype=str)["lead_id"]) == set(week["Lead ID"])
    assert "is not in this-week.csv: every row is an open lead" in " ".join(res.output.split())


def test_rank_spec_errors_are_messages_not_tracebacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, tmp_path)
    res = runner.invoke(app, ["rank", "--spec", str(SALESFORCE), "--data", str(tmp_path), "--capacity-leads", "5"])
    assert res.exit_code == 2 and "--data does not go with --spec" in res.output
    closed_only = tmp_path / "closed.csv"
    raw = pd.read_csv(EXAMPLES / "salesforce" / "leads.csv", encoding="cp1252", dtype=str, keep_default_na=False)
    raw[raw["Lead Status"].str.startswith("Closed")].to_csv(closed_only, index=False, encoding="cp1252")
    res = runner.invoke(app, ["rank", "--spec", str(SALESFORCE), "--leads", str(closed_only), "--capacity-leads", "5"])
    assert res.exit_code == 2 and "no open lead to rank" in res.output
    assert "Traceback" not in res.output


def test_hubspot_lifecycle_stage_is_named_as_a_leak_when_not_excluded(tmp_path: Path) -> None:
    text = HUBSPOT.read_text().replace(', "Lifecycle Stage"]', "]")
    text = text.replace('path = "hubspot/', f'path = "{EXAMPLES}/hubspot/')
    spec = tmp_path / "leaky.toml"
    spec.write_text(text)
    warnings = load_dataset(spec).warnings
    assert len(warnings) == 1 and "'Lifecycle Stage'" in warnings[0]
    assert load_dataset(HUBSPOT).warnings == []
