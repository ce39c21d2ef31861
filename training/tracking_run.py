"""Record one training run in MLflow (params, fingerprint, metrics, plots, the pyfunc model) and register it
behind the promotion gate."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch

if TYPE_CHECKING:
    from training.pipeline import TrainingData, TrainOptions, TrainResult
    from training.split import Split

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"


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


def request_rows(batch: LeadBatch, n: int) -> pd.DataFrame:
    """The first `n` leads in the pyfunc's request shape (an `events` list per lead): the input example."""
    leads = batch.leads.head(n)
    ids = set(leads[c.LEAD_ID])
    ev = batch.events[batch.events[c.EVENT_LEAD_ID].isin(ids)]
    keep = [
        col for col in leads.columns if col not in (c.OUTCOME, c.CLOSED_AT, c.SALES_HOURS, c.DEAL_VALUE, "row_order")
    ]
    rows = leads[keep].copy()
    # Integer attributes are declared as floats: a request may leave them out (missing), which an integer column
    # of the signature could not hold.
    for col in rows.columns:
        if pd.api.types.is_integer_dtype(rows[col]):
            rows[col] = rows[col].astype("float64")
    for col in (c.CREATED_AT, c.DECIDED_AT):
        rows[col] = rows[col].map(lambda t: None if pd.isna(t) else t.isoformat())
    grouped = {
        lead: [
            {"type": str(t), "ts": ts.isoformat(), "asset": None if pd.isna(a) else str(a)}
            for t, ts, a in zip(g[c.EVENT_TYPE], g[c.TS], g[c.ASSET], strict=True)
        ]
        for lead, g in ev.groupby(c.EVENT_LEAD_ID, sort=False)
    }
    rows["events"] = pd.Series([grouped.get(lead, []) for lead in rows[c.LEAD_ID]], index=rows.index, dtype=object)
    return rows.reset_index(drop=True)


def log_and_register(
    result: TrainResult,
    data: TrainingData,
    batch: LeadBatch,
    split: Split,
    test_leads: pd.DataFrame,
    y_test: np.ndarray,
    settings: Any,
    opts: TrainOptions,
) -> None:
    import joblib
    import mlflow
    from mlflow.models import infer_signature

    from features.pyfunc import SCORER_ARTIFACT, LeadScorerModel
    from training import plots
    from training.registry import GateMetrics, GatePolicy, champion_version, register_and_gate
    from training.tracking import configure_tracking, get_or_create_experiment

    configure_tracking(settings)
    exp_id = get_or_create_experiment(settings, opts.experiment)
    metrics = result.metrics
    scorer = result.scorer
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
                "calibration": scorer.calibrator.method,
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
        mlflow.log_dict(scorer.features.feature_schema_.to_dict(), "feature_schema.json")

        # Plots on the test period.
        test_batch = LeadBatch(test_leads, batch.events)
        scored = scorer.predict(test_batch)
        p = scored["p_close"].to_numpy()
        ids = test_leads[c.LEAD_ID].to_numpy()
        figs = [
            plots.calibration_by_source(
                y_test, p, test_leads[c.SOURCE].to_numpy(), tmpdir / "calibration_by_source.png"
            ),
            plots.cumulative_gains({"lightgbm": plots.gains_curve(y_test, p, ids)}, tmpdir / "cumulative_gains.png"),
            plots.feature_importance(
                scorer.classifier, list(scorer.classifier.feature_name_), tmpdir / "feature_importance.png"
            ),
        ]
        figs.append(_capacity_curve(scored, tmpdir / "capacity_curve.png"))
        for f in figs:
            mlflow.log_artifact(str(f), artifact_path="plots")

        # The model: one pyfunc taking raw leads + events, returning probabilities.
        scorer_path = tmpdir / "scorer.joblib"
        joblib.dump(scorer, scorer_path)
        example = request_rows(test_batch, 3)
        example_out = scorer.predict(LeadBatch(test_leads.head(3), batch.events))
        signature = infer_signature(example, example_out)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=LeadScorerModel(),
            artifacts={SCORER_ARTIFACT: str(scorer_path)},
            signature=signature,
            input_example=example,
            metadata={"feature_schema": scorer.features.feature_schema_.to_dict()},
        )

        if opts.register:
            champ = champion_version(settings)
            champion_metrics = None
            if champ is not None:
                champion_metrics = _rescore_champion(settings, champ, test_batch, y_test, metrics)
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
                GatePolicy.from_settings(settings),
                settings,
            )


def _rescore_champion(
    settings: Any, champion: Any, test_batch: LeadBatch, y_test: np.ndarray, metrics: dict[str, Any]
) -> Any:
    """The current champion's gate metrics on the candidate's own test period (same leads, same budget)."""
    import mlflow

    from training import evaluate as ev
    from training.capacity_eval import select_at_capacity
    from training.registry import GateMetrics

    uri = f"models:/{settings.model_name}/{champion.version}"
    old = mlflow.pyfunc.load_model(uri).unwrap_python_model().scorer
    scored = old.predict(test_batch)
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
