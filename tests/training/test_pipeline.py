"""Integration and model-behaviour tests of `leadrank train` on a small simulated history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import contract as c
from features.contract import LeadBatch
from leadrank.config import gate_policy, tracking_config
from simulator import SimulatedHistory
from tests.training.conftest import Trained
from training.pipeline import TrainingData, TrainOptions, load_training_data, train
from training.tracking_run import train_and_log

pytestmark = pytest.mark.integration


def test_champion_is_registered_and_serves_probabilities(trained: Trained) -> None:
    import mlflow

    from features.records import flat_frame, to_records
    from leadrank.config import tracking_config
    from training.tracking import configure_tracking

    assert trained.result.registration is not None
    assert trained.result.registration.promoted, trained.result.registration.decision
    configure_tracking(tracking_config(trained.settings))
    model = mlflow.pyfunc.load_model("models:/lead-scorer@champion")
    open_leads = trained.history.leads[trained.history.leads[c.OUTCOME].isna()].head(50)
    # Open leads as of their decision time, in the request shape.
    rows = flat_frame(to_records(open_leads, trained.history.events))
    out = model.predict(rows)
    assert list(out.columns) == ["lead_id", "p_close", "expected_hours", "expected_days_to_close"]
    assert out["lead_id"].tolist() == open_leads[c.LEAD_ID].tolist()
    assert out["p_close"].between(0, 1).all()
    assert out["p_close"].nunique() > 10  # probabilities, not labels
    assert (out["expected_hours"] > 0).all()


def test_metrics_contract_and_quality(trained: Trained) -> None:
    m = trained.result.metrics
    for key in (
        "test_roc_auc",
        "test_pr_auc",
        "test_brier",
        "test_ece",
        "test_close_rate_top10pct",
        "test_close_rate_top20pct",
        "test_expected_closes_at_capacity",
    ):
        assert isinstance(m[key], float), key
    assert set(m["candidates"]) == {"points", "naive_bayes", "logistic", "lightgbm"}
    assert m["split"]["kind"] == "time"
    # time order: train ends before validation starts, validation before test
    assert m["split"]["train"]["to"] <= m["split"]["validation"]["from"]
    assert m["split"]["validation"]["to"] <= m["split"]["test"]["from"]
    assert 0.7 < m["test_roc_auc"] < 0.95
    assert m["test_ece"] < 0.06
    # The oracle (true probabilities) is known on simulated data and bounds what any model can do.
    assert m["oracle"]["true_expected_closes_top10pct"] >= m["test_true_expected_closes_top10pct"]
    json.dumps(m)  # the --metrics-out file is plain JSON


def _older_part(leads: pd.DataFrame, share: float) -> pd.DataFrame:
    """The history as it was when only the oldest `share` of the closed leads had closed: the rest still open."""
    out = leads.copy()
    closed = out[c.OUTCOME].notna()
    later = closed & (out[c.DECIDED_AT] >= out.loc[closed, c.DECIDED_AT].quantile(share))
    out.loc[later, c.OUTCOME] = None
    out.loc[later, c.CLOSED_AT] = pd.NaT
    return out


def test_gate_compares_on_leads_neither_model_was_fitted_on(trained: Trained, tmp_path: Path) -> None:
    """Champion fitted on the older history; a worse challenger (shuffled older labels) trained when newer outcomes
    have arrived is refused on the leads neither model learnt from; a challenger retrained on exactly the
    champion's data has no such leads and cannot be promoted. A gate that scored the champion on leads it was
    fitted on would compare on the whole newest window and let that retrain through (same model, same scores)."""
    from mlflow import MlflowClient

    from leadrank.settings import Settings

    h = trained.history
    settings = Settings(home=tmp_path, min_closed_leads=300, min_wins=30)
    store, policy = tracking_config(settings), gate_policy(settings)
    older = TrainingData(batch=LeadBatch(_older_part(h.leads, 0.88), h.events), origin="older history")
    first = train_and_log(older, store, policy, TrainOptions(seed=5))
    assert first.registration is not None and first.registration.promoted
    assert first.fitted_lead_ids is not None

    leads = h.leads.copy()
    closed = leads[c.OUTCOME].notna()
    shuffled = closed & (leads[c.DECIDED_AT] < leads.loc[closed, c.DECIDED_AT].quantile(0.75))
    rng = np.random.default_rng(0)
    leads.loc[shuffled, c.OUTCOME] = rng.permutation(leads.loc[shuffled, c.OUTCOME].to_numpy())
    worse = train_and_log(
        TrainingData(batch=LeadBatch(leads, h.events), origin="shuffled labels"), store, policy, TrainOptions(seed=5)
    )
    reg = worse.registration
    assert reg is not None and not reg.promoted
    assert any(ch.name == "auc_drop" and not ch.passed and "below champion" in ch.message for ch in reg.decision.checks)
    gate_ids = set(worse.gate_lead_ids)
    assert len(gate_ids) >= 300
    assert gate_ids <= set(worse.test_batch.leads[c.LEAD_ID])
    assert not gate_ids & set(first.fitted_lead_ids)  # the champion never learnt from them
    assert not gate_ids & set(worse.evaluation_fitted_lead_ids)  # nor the challenger's backtest model
    description = MlflowClient().get_model_version("lead-scorer", reg.version).description
    assert "that neither was fitted on" in description and "Fitted on:" in description

    again = train_and_log(older, store, policy, TrainOptions(seed=5))
    assert again.registration is not None and not again.registration.promoted
    assert len(again.gate_lead_ids) == 0
    assert any(ch.name == "closed_leads" and not ch.passed for ch in again.registration.decision.checks)
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("lead-scorer", "champion").version) == first.registration.version


def test_refit_learns_from_all_history_and_differs_from_the_backtest_model(trained: Trained) -> None:
    from mlflow import MlflowClient

    from training.tracking import configure_tracking

    result = trained.result
    closed_ids = set(trained.history.leads.loc[trained.history.leads[c.OUTCOME].notna(), c.LEAD_ID])
    test_ids = set(result.test_batch.leads[c.LEAD_ID])
    assert result.fitted_lead_ids is not None and result.evaluation_fitted_lead_ids is not None
    refit = result.metrics["refit"]
    if refit["window"] == 1.0:
        assert set(result.fitted_lead_ids) == closed_ids
    assert test_ids <= set(result.fitted_lead_ids)  # the newest leads are learnt from, not held out
    assert not test_ids & set(result.evaluation_fitted_lead_ids)
    assert refit["to"] == str(trained.history.leads.loc[trained.history.leads[c.OUTCOME].notna(), c.DECIDED_AT].max())
    assert result.model.metadata["fitted_on"]["rows"] == len(result.fitted_lead_ids)
    assert result.evaluation_model is not None
    served = result.model.predict_frame(result.test_batch)["p_close"].to_numpy()
    backtested = result.evaluation_model.predict_frame(result.test_batch)["p_close"].to_numpy()
    assert np.abs(served - backtested).mean() > 1e-3
    backtest = result.metrics["backtest"]
    assert backtest["n_folds"] == 3 and len(backtest["folds"]) == 3
    starts = [backtest["folds"][k]["test_from"] for k in ("1", "2", "3")]
    assert starts == sorted(starts)
    assert result.metrics["test_roc_auc"] == backtest["folds"]["3"]["roc_auc"]
    assert set(backtest["mean"]) >= {"roc_auc", "ece", "close_rate_top10pct"}
    # MLflow: the folds, the chosen window and the refit's cut-off; the version says what it was fitted on.
    configure_tracking(tracking_config(trained.settings))
    client = MlflowClient()
    run = client.get_run(result.run_id or "")
    assert run.data.params["backtest.window"] == backtest["window_name"]
    assert run.data.params["refit.to"] == refit["to"]
    assert "backtest.folds.1.roc_auc" in run.data.metrics
    assert "fitted_lead_ids.txt.gz" in {a.path for a in client.list_artifacts(result.run_id or "")}
    version = client.get_model_version("lead-scorer", result.registration.version)
    assert f"{refit['rows']:,} closed leads" in version.description


def test_on_drifting_data_the_backtest_chooses_the_recent_window() -> None:
    """The relation of x to the outcome flips halfway through the history: learning from all of it hurts."""
    n = 4000
    rng = np.random.default_rng(1)
    x = rng.normal(size=n)
    sign = np.where(np.arange(n) < n // 2, -1.0, 1.0)
    won = rng.random(n) < 1 / (1 + np.exp(-(2.5 * sign * x - 1.5)))
    t = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n), unit="h")
    leads = pd.DataFrame(
        {
            c.LEAD_ID: pd.array([f"D{i:05d}" for i in range(n)], dtype="str"),
            c.CREATED_AT: t.astype(c.TIMESTAMP_DTYPE),
            c.DECIDED_AT: t.astype(c.TIMESTAMP_DTYPE),
            c.SOURCE: pd.array(["web"] * n, dtype="str"),
            c.OUTCOME: pd.array(np.where(won, c.WON, c.LOST), dtype="str"),
            c.CLOSED_AT: t.astype(c.TIMESTAMP_DTYPE),
            "x": x,
        }
    )
    from features.contract import empty_events

    data = TrainingData(batch=LeadBatch(leads, empty_events()), numeric=["x"], categorical=[], has_effort=False)
    result = train(data, TrainOptions(seed=1, register=False))
    assert result.metrics["backtest"]["window"] == 0.5, result.metrics["backtest"]["window_choice"]
    assert result.metrics["refit"]["rows"] == n // 2
    assert "most recent 50%" in result.metrics["backtest"]["window_choice"]


def test_same_data_and_seed_give_identical_metrics(small_history: tuple[Path, SimulatedHistory]) -> None:
    data_dir, _ = small_history
    runs = [
        train(load_training_data(data_dir=data_dir), TrainOptions(seed=3, register=False)).metrics for _ in range(2)
    ]
    for m in runs:
        m.pop("train_seconds")
    assert runs[0] == runs[1]


def test_too_few_wins_is_a_clear_refusal(tmp_path: Path, small_history: tuple[Path, SimulatedHistory]) -> None:
    _, h = small_history
    leads = h.leads.copy()
    won = np.flatnonzero((leads[c.OUTCOME] == c.WON).to_numpy())
    leads.loc[won[5:], c.OUTCOME] = c.LOST
    data = TrainingData(batch=LeadBatch(leads, h.events))
    with pytest.raises(ValueError, match="not enough history"):
        train(data, TrainOptions(register=False))


def _with_events(batch: LeadBatch, events: pd.DataFrame) -> LeadBatch:
    return LeadBatch(batch.leads, pd.concat([batch.events, events], ignore_index=True))


def test_more_decision_stage_engagement_never_lowers_p_close(trained: Trained) -> None:
    model = trained.result.model
    h = trained.history
    leads = h.leads.sample(400, random_state=1).reset_index(drop=True)
    batch = LeadBatch(leads, h.events[h.events[c.EVENT_LEAD_ID].isin(set(leads[c.LEAD_ID]))])
    before = model.predict_frame(batch)["p_close"].to_numpy()
    rng = np.random.default_rng(2)
    for event_type in ("demo_request", "trial_request", "pricing_view", "tech_doc_download"):
        days_before = rng.uniform(0.01, 120, len(leads))
        extra = pd.DataFrame(
            {
                c.EVENT_LEAD_ID: leads[c.LEAD_ID].to_numpy(),
                c.TS: (leads[c.DECIDED_AT] - pd.to_timedelta(days_before, unit="D")).astype(c.TIMESTAMP_DTYPE),
                c.EVENT_TYPE: event_type,
                c.ASSET: "doc-1",
            }
        ).astype({c.EVENT_LEAD_ID: "str", c.EVENT_TYPE: "str", c.ASSET: "str"})
        after = model.predict_frame(_with_events(batch, extra))["p_close"].to_numpy()
        assert (after >= before - 1e-12).all(), (event_type, float((before - after).max()))
        assert (after > before).any()


def test_post_decision_leak_events_do_not_change_p_close(trained: Trained) -> None:
    model = trained.result.model
    h = trained.history
    leads = h.leads.sample(300, random_state=3).reset_index(drop=True)
    batch = LeadBatch(leads, h.events[h.events[c.EVENT_LEAD_ID].isin(set(leads[c.LEAD_ID]))])
    before = model.predict_frame(batch)
    leak = pd.DataFrame(
        {
            c.EVENT_LEAD_ID: np.repeat(leads[c.LEAD_ID].to_numpy(), 2),
            c.TS: np.repeat((leads[c.DECIDED_AT] + pd.Timedelta(hours=5)).to_numpy(), 2),
            c.EVENT_TYPE: ["meeting", "contract_download"] * len(leads),
            c.ASSET: "contract-1",
        }
    ).astype({c.EVENT_LEAD_ID: "str", c.EVENT_TYPE: "str", c.ASSET: "str", c.TS: c.TIMESTAMP_DTYPE})
    after = model.predict_frame(_with_events(batch, leak))
    pd.testing.assert_frame_equal(before, after)


def test_train_cli_writes_metrics_json(trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadrank.cli import app

    monkeypatch.setenv("LEADRANK_HOME", str(tmp_path))
    monkeypatch.setenv("LEADRANK_MIN_CLOSED_LEADS", "300")
    monkeypatch.setenv("LEADRANK_MIN_WINS", "30")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "metrics.json"
    res = CliRunner().invoke(app, ["train", "--data", str(trained.data_dir), "--metrics-out", str(out), "--seed", "5"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(out.read_text())
    assert metrics["test_roc_auc"] == pytest.approx(trained.result.metrics["test_roc_auc"])
    assert "champion" in res.output.lower()
    assert re.search(r"\[3/7\] backtest: .* \(\d+\.\d s\)", res.stdout)


def test_train_cli_json_and_exit_3_when_the_gate_refuses(
    small_history: tuple[Path, SimulatedHistory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadrank.cli import app

    data_dir, _ = small_history
    monkeypatch.setenv("LEADRANK_HOME", str(tmp_path))
    monkeypatch.setenv("LEADRANK_MIN_CLOSED_LEADS", "1000000")  # the data gate cannot pass
    monkeypatch.setenv("LEADRANK_MIN_WINS", "0")  # and only that check fails
    for name in ("MLFLOW_TRACKING_URI", "LEADRANK_TRACKING_URI", "LEADRANK_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "metrics.json"
    args = ["train", "--data", str(data_dir), "--seed", "5", "--metrics-out", str(out), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 3, res.output
    doc = json.loads(res.stdout)  # stdout holds the JSON document and nothing else
    reg = doc["registration"]
    assert reg["model_name"] == "lead-scorer" and reg["version"] == "1" and reg["promoted"] is False
    failed = [check["name"] for check in reg["gate"]["checks"] if check["blocking"] and not check["passed"]]
    assert failed == ["closed_leads"]
    assert reg["gate"]["summary"].startswith("gate refused: only ")
    assert doc["metrics"]["test_roc_auc"] == pytest.approx(json.loads(out.read_text())["test_roc_auc"])
    assert "roc_auc" in doc["metrics"]["candidates"]["lightgbm"] and doc["run_id"]
    # Progress went to stderr, each step with its seconds.
    assert re.search(r"\[2/7\] building point-in-time features \(\d+\.\d s\)", res.stderr)

    # The refused model is registered as challenger, without a champion: `models` shows it.
    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    (version,) = json.loads(res.stdout)["versions"]
    assert version["aliases"] == ["challenger"] and version["gate_passed"] is False
    assert version["run_id"] == doc["run_id"]
    assert version["metrics"]["test_roc_auc"] == pytest.approx(doc["metrics"]["test_roc_auc"])
    assert version["metrics"]["test_ece"] == pytest.approx(doc["metrics"]["test_ece"])


def test_train_cli_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    from leadrank.cli import app

    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    res = CliRunner().invoke(app, ["train"])
    assert res.exit_code == 2
    assert "--data" in res.output


def test_the_registered_model_holds_no_pickle_and_loads_without_one(trained: Trained, tmp_path: Path) -> None:
    import mlflow

    from model.pyfunc import load_logged_model
    from training.tracking import configure_tracking

    configure_tracking(tracking_config(trained.settings))
    folder = Path(mlflow.artifacts.download_artifacts("models:/lead-scorer@champion", dst_path=str(tmp_path)))
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert (folder / "artifacts" / "lead_model" / "model.json").is_file()
    assert (folder / "artifacts" / "lead_model" / "classifier.txt").is_file()
    for path in files:
        assert path.suffix not in (".pkl", ".pickle", ".joblib"), path
        assert path.read_bytes()[:2] not in (b"\x80\x03", b"\x80\x04", b"\x80\x05"), path  # pickle headers
    model = load_logged_model("models:/lead-scorer@champion")
    batch = LeadBatch(trained.history.leads.head(30), trained.history.events)
    np.testing.assert_array_equal(
        model.predict_frame(batch)["p_close"], trained.result.model.predict_frame(batch)["p_close"]
    )


def test_a_model_of_another_kind_is_refused_with_a_retrain_hint(trained: Trained) -> None:
    import mlflow
    from mlflow.pyfunc import PythonModel

    from model import ModelFormatError
    from model.pyfunc import load_logged_model
    from training.tracking import configure_tracking

    class Pickled(PythonModel):  # what models registered before the stored format were: a pickled wrapper
        def predict(self, context: object, model_input: pd.DataFrame, params: object = None) -> pd.DataFrame:
            return model_input

    configure_tracking(tracking_config(trained.settings))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="old", python_model=Pickled())
    with pytest.raises(ModelFormatError, match="holds a Pickled, not a leadrank model; retrain it"):
        load_logged_model(info.model_uri)
