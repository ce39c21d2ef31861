"""Record one training run in MLflow (params, fingerprint, backtest, metrics, plots, the pyfunc model, the leads it
was fitted on) and register it behind the promotion gate.

The gate compares the candidate with the champion on leads that neither was fitted on. The candidate is
represented by its recipe's last backtest model (`TrainResult.evaluation_model`), which learnt only from leads
before the newest window; the served refit learnt from that window too, so it cannot be judged there. The
champion's run records the leads its model was fitted on (`fitted_lead_ids.txt.gz`); the comparison uses the
leads of the newest window that are not among them: outcomes that arrived after the champion was fitted.
"""

from __future__ import annotations

import gzip
import logging
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch

if TYPE_CHECKING:
    from training.pipeline import TrainingData, TrainOptions, TrainResult
    from training.registry import GatePolicy
    from training.tracking import TrackingConfig

log = logging.getLogger(__name__)

MODEL_ARTIFACT_PATH = "model"
FITTED_IDS_ARTIFACT = "fitted_lead_ids.txt.gz"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Numeric leaves of the nested metrics, with dotted names (`candidates.points.roc_auc`)."""
    out: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, bool):
            return
        elif isinstance(value, int | float) and np.isfinite(value):
            out[prefix] = float(value)

    walk("", {k: v for k, v in metrics.items() if k not in ("split", "fingerprint", "test_gains", "lightgbm_params")})
    return out


def log_and_register(
    result: TrainResult, data: TrainingData, tracking: TrackingConfig, policy: GatePolicy, opts: TrainOptions
) -> None:
    """Record the run of `result` in MLflow (params, fingerprint, metrics, plots, the model) and, with
    `opts.register`, register the model behind the promotion gate. Sets `result.run_id` and `result.registration`."""
    import mlflow
    from mlflow.models import infer_signature

    from features.records import flat_frame, to_records
    from model import save_model
    from model.pyfunc import CODE_FILE, MODEL_ARTIFACT
    from training import plots
    from training.registry import champion_version, register_and_gate
    from training.tracking import configure_tracking, get_or_create_experiment

    configure_tracking(tracking)
    exp_id = get_or_create_experiment(tracking, opts.experiment)
    metrics = result.metrics
    model = result.model
    evaluation_model = result.evaluation_model or model
    split = result.split
    test_batch, y_test = result.test_batch, result.y_test
    test_leads = test_batch.leads
    with (
        mlflow.start_run(experiment_id=exp_id, run_name=opts.run_name) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        tmpdir = Path(tmp)
        result.run_id = run.info.run_id
        mlflow.set_tags(
            {
                "git_commit": git_commit(),
                "seed": str(opts.seed),
                "split": split.kind,
                "data_origin": data.origin,
                "calibration": model.calibrator.method,
                "leadrank.fitted_on": fitted_on_text(metrics),
            }
        )
        if split.kind == "random":
            mlflow.set_tag("split_warning", "stratified random split: no time information")
        mlflow.log_params(
            {
                "seed": opts.seed,
                "capacity_share": opts.capacity_share,
                "split_kind": split.kind,
                "n_features": metrics["n_features"],
                "lightgbm_best_iteration": metrics["lightgbm_best_iteration"],
                **{f"lightgbm.{k}": v for k, v in metrics["lightgbm_params"].items()},
                "lightgbm_search_trials": metrics.get("lightgbm_search", {}).get("trials", 0),
                **{f"fingerprint.{k}": v for k, v in metrics["fingerprint"].items()},
                **_backtest_params(metrics),
            }
        )
        mlflow.log_metrics(flat_metrics(metrics))
        mlflow.log_dict(metrics, "metrics.json")
        mlflow.log_dict(model.schema.to_dict(), "feature_schema.json")

        if result.fitted_lead_ids is not None:
            ids_file = tmpdir / FITTED_IDS_ARTIFACT
            with gzip.open(ids_file, "wt", encoding="utf-8") as out:
                out.write("\n".join(map(str, result.fitted_lead_ids)))
            mlflow.log_artifact(str(ids_file))

        # Plots on the newest window, of the model that did not learn from it.
        scored = evaluation_model.predict_frame(test_batch)
        p = scored["p_close"].to_numpy()
        ids = test_leads[c.LEAD_ID].to_numpy()
        figs = [
            plots.calibration_by_source(
                y_test, p, test_leads[c.SOURCE].to_numpy(), tmpdir / "calibration_by_source.png"
            ),
            plots.cumulative_gains({"lightgbm": plots.gains_curve(y_test, p, ids)}, tmpdir / "cumulative_gains.png"),
            plots.feature_importance(model.classifier, model.columns, tmpdir / "feature_importance.png"),
        ]
        figs.append(_capacity_curve(scored, tmpdir / "capacity_curve.png"))
        for f in figs:
            mlflow.log_artifact(str(f), artifact_path="plots")

        # The model: a pyfunc from code taking request records, returning probabilities; the fitted model as
        # explicit artifacts (JSON and LightGBM model text), no pickle.
        model_dir = save_model(model, tmpdir / MODEL_ARTIFACT)
        example_leads = LeadBatch(test_leads.head(3), test_batch.events)
        example = flat_frame(to_records(example_leads.leads, example_leads.events))
        signature = _signature(infer_signature(example, model.predict_frame(example_leads)))
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_PATH,
            python_model=str(CODE_FILE),
            artifacts={MODEL_ARTIFACT: str(model_dir)},
            signature=signature,
            input_example=example,
            metadata={"feature_schema": model.schema.to_dict(), "model_format": "leadrank-lead-model/1"},
        )

        if opts.register:
            champ = champion_version(tracking)
            champion_metrics = None
            unavailable = None
            ids = test_leads[c.LEAD_ID].to_numpy().astype(str)
            if champ is None:
                keep = np.ones(len(ids), dtype=bool)
                basis = f"Judged on the newest backtest window: {len(ids):,} closed leads its backtest model never saw."
            else:
                champion_model, fitted, unavailable = champion_and_fitted_ids(tracking, champ)
                keep = ~np.isin(ids, fitted) if fitted is not None else np.ones(len(ids), dtype=bool)
                basis = (
                    f"Compared with champion version {champ.version} on {int(keep.sum()):,} closed leads that neither "
                    f"was fitted on: the newest backtest window ({len(ids):,} leads, which the candidate's backtest "
                    f"model never saw) less the {int((~keep).sum()):,} the champion was fitted on."
                )
            gate_batch = LeadBatch(test_leads.loc[keep].reset_index(drop=True), test_batch.events)
            y_gate = y_test[keep]
            result.gate_lead_ids = ids[keep]
            candidate, budget = gate_metrics(evaluation_model, gate_batch, y_gate, opts.capacity_share)
            if champ is not None and unavailable is None:
                champion_metrics, _ = gate_metrics(champion_model, gate_batch, y_gate, opts.capacity_share, budget)
            result.registration = register_and_gate(
                run.info.run_id,
                info.model_uri,
                candidate,
                champion_metrics,
                policy,
                tracking,
                champion_unavailable=unavailable,
                notes=f"{basis}\n\nFitted on: {fitted_on_text(metrics)}",
            )


def fitted_on_text(metrics: dict[str, Any]) -> str:
    """One sentence: which data the served model was fitted on, and how its rounds and calibration were set."""
    refit = metrics.get("refit")
    if not refit:
        return "the training period of a single time split"
    span = f" from {refit['from']} to {refit['to']}" if refit.get("from") else ""
    cal = refit["calibrated_on"]
    return (
        f"{refit['rows']:,} closed leads ({refit['won']:,} won){span}, {refit['window_name']} as the backtest chose; "
        f"{refit['rounds']} boosting rounds ({refit['rounds_from']}); {refit['calibration']} calibration on "
        f"{cal['what']} ({cal['rows']:,} leads)"
    )


def _backtest_params(metrics: dict[str, Any]) -> dict[str, Any]:
    backtest, refit = metrics.get("backtest"), metrics.get("refit")
    if not backtest or not refit:
        return {}
    return {
        "backtest.folds": backtest["n_folds"],
        "backtest.window": backtest["window_name"],
        "backtest.window_choice": backtest["window_choice"][:500],
        "refit.rows": refit["rows"],
        "refit.from": refit.get("from"),
        "refit.to": refit.get("to"),
        "refit.rounds": refit["rounds"],
        "refit.calibration": refit["calibration"],
    }


def champion_and_fitted_ids(tracking: TrackingConfig, champion: Any) -> tuple[Any, np.ndarray | None, str | None]:
    """The champion's model, the ids of the leads it was fitted on, or why it cannot be compared."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from model import ModelFormatError
    from model.pyfunc import load_logged_model

    uri = f"models:/{tracking.model_name}/{champion.version}"
    try:
        old = load_logged_model(uri)
    except ModelFormatError as exc:
        # A champion stored in a format this leadrank cannot read cannot be compared: the gate judges the new
        # model on its own (data, calibration), and the version's description says why.
        log.warning("%s", exc)
        return None, None, str(exc)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=champion.run_id, artifact_path=FITTED_IDS_ARTIFACT, dst_path=tmp
            )
            with gzip.open(path, "rt", encoding="utf-8") as ids:
                fitted = np.array(ids.read().split("\n"), dtype=str)
    except (MlflowException, OSError) as exc:
        reason = (
            f"its run does not record which leads it was fitted on ({FITTED_IDS_ARTIFACT}: {type(exc).__name__}), "
            "so no comparison could exclude them"
        )
        log.warning("champion version %s: %s", champion.version, reason)
        return None, None, reason
    return old, fitted, None


def gate_metrics(
    model: Any, batch: LeadBatch, y: np.ndarray, share: float, budget: float | None = None
) -> tuple[Any, float]:
    """A model's gate metrics on closed leads (and the selling-hours budget used, for the other model)."""
    from training import evaluate as ev
    from training.capacity_eval import capacity_budget, select_at_capacity
    from training.registry import GateMetrics

    n, wins = len(y), int(np.sum(y))
    if n == 0:
        return GateMetrics(float("nan"), 0.0, float("nan"), 0, 0), 0.0
    scored = model.predict_frame(batch)
    p = scored["p_close"].to_numpy()
    hours = scored["expected_hours"].to_numpy()
    if budget is None:
        budget = capacity_budget(batch.leads, hours, share)
    sel = select_at_capacity(batch.leads[c.LEAD_ID].to_numpy(), p, hours, budget)
    auc = ev.ranking_metrics(y, p)["roc_auc"] if 0 < wins < n else float("nan")
    metrics = GateMetrics(
        roc_auc=auc,
        expected_closes_at_capacity=float(y[sel].sum()),
        ece=ev.expected_calibration_error(y, p),
        n_closed=n,
        n_wins=wins,
    )
    return metrics, budget


def _capacity_curve(scored: pd.DataFrame, path: Path) -> Path:
    """Expected closes against selling hours for the test period's leads (the handoff planning curve)."""
    from handoff.planning import capacity_curve, plot_capacity_curve

    curve = capacity_curve(scored, kind="hours")
    return plot_capacity_curve(curve, path)


def train_and_log(
    data: TrainingData,
    tracking: TrackingConfig,
    policy: GatePolicy,
    opts: TrainOptions,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """`train`, then `log_and_register`: what `leadrank train` and `quickstart` run."""
    from training.pipeline import train

    result = train(data, opts, progress)
    if progress is not None:
        progress("logging to MLflow" + (" and registering behind the promotion gate" if opts.register else ""))
    log_and_register(result, data, tracking, policy, opts)
    return result


def _signature(inferred: Any) -> Any:
    """The inferred signature with `events` declared as a list of anything: MLflow checks an array of objects
    value by value in Python, which cost more than scoring the lead; the model checks events itself."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    inputs = [
        ColSpec(AnyType(), spec.name, required=spec.required) if spec.name == "events" else spec
        for spec in inferred.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=inferred.outputs, params=inferred.params)
