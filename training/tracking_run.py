"""Record one training run in MLflow (params, fingerprint, metrics, plots, the pyfunc model) and register it
behind the promotion gate."""

from __future__ import annotations

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
    from training.registry import GateMetrics, champion_version, register_and_gate
    from training.tracking import configure_tracking, get_or_create_experiment

    configure_tracking(tracking)
    exp_id = get_or_create_experiment(tracking, opts.experiment)
    metrics = result.metrics
    model = result.model
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
            }
        )
        mlflow.log_metrics(flat_metrics(metrics))
        mlflow.log_dict(metrics, "metrics.json")
        mlflow.log_dict(model.schema.to_dict(), "feature_schema.json")

        # Plots on the test period.
        scored = model.predict_frame(test_batch)
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
            if champ is not None:
                champion_metrics = _rescore_champion(tracking, champ, test_batch, y_test, metrics)
            candidate = GateMetrics(
                roc_auc=metrics["test_roc_auc"],
                expected_closes_at_capacity=metrics["test_expected_closes_at_capacity"],
                ece=metrics["test_ece"],
                n_closed=len(y_test),
                n_wins=int(y_test.sum()),
            )
            result.registration = register_and_gate(
                run.info.run_id,
                info.model_uri,
                candidate,
                champion_metrics,
                policy,
                tracking,
            )


def _rescore_champion(
    tracking: TrackingConfig, champion: Any, test_batch: LeadBatch, y_test: np.ndarray, metrics: dict[str, Any]
) -> Any:
    """The current champion's gate metrics on the candidate's own test period (same leads, same budget)."""
    from model import ModelFormatError
    from model.pyfunc import load_logged_model
    from training import evaluate as ev
    from training.capacity_eval import select_at_capacity
    from training.registry import GateMetrics

    uri = f"models:/{tracking.model_name}/{champion.version}"
    try:
        old = load_logged_model(uri)
    except ModelFormatError as exc:
        # A champion stored in a format this leadrank cannot read cannot be compared: the gate judges the new
        # model on its own (data, calibration), and the run says why.
        log.warning("%s", exc)
        return None
    scored = old.predict_frame(test_batch)
    p = scored["p_close"].to_numpy()
    ids = test_batch.leads[c.LEAD_ID].to_numpy()
    sel = select_at_capacity(ids, p, scored["expected_hours"].to_numpy(), metrics["capacity_hours"])
    return GateMetrics(
        roc_auc=ev.ranking_metrics(y_test, p)["roc_auc"],
        expected_closes_at_capacity=float(y_test[sel].sum()),
        ece=ev.expected_calibration_error(y_test, p),
        n_closed=len(y_test),
        n_wins=int(y_test.sum()),
    )


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
