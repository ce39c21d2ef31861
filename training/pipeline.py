"""`leadrank train`: split, fit candidates, calibrate, learn effort and time to close, evaluate at capacity.

`train` is a pure function of the data and the options (no printing, no tracking): the CLI shows its progress
through the `progress` callback, prints the summary it returns, and then records the run in MLflow and registers
the model behind the promotion gate (`training.tracking_run.log_and_register`) as a separate step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch
from features.engagement import EngagementFeatures
from model import Calibrator, LeadModel, ModelInput
from training import candidates as cand
from training import evaluate as ev
from training.split import Split, TrainingError, time_split

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

CANDIDATES = ("points", "naive_bayes", "logistic", "lightgbm")
# Below this a time split leaves periods too small to fit, early-stop and calibrate anything.
MIN_CLOSED_TO_TRAIN = 100
MIN_WINS_TO_TRAIN = 20


@dataclass
class TrainingData:
    """Canonical leads and events plus what is known about the data set's shape."""

    batch: LeadBatch
    ordering: Literal["time", "row", "none"] = "time"
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    has_effort: bool = True
    origin: str = ""
    data_dir: Path | None = None  # canonical data folder: where the simulator's truth may sit
    notes: list[str] = field(default_factory=list)
    # Event type -> funnel stage for the engagement features; None: the canonical stage map.
    stage_map: dict[str, str] | None = None
    # Problems of the data worth a warning in the run (likely leaks named by the dataset spec).
    warnings: list[str] = field(default_factory=list)


@dataclass
class TrainOptions:
    seed: int = 7
    experiment: str | None = None
    capacity_share: float = ev.CAPACITY_SHARE
    register: bool = True
    run_name: str | None = None
    # Optional LightGBM parameter search: off unless a time budget is given.
    search_seconds: float = 0.0
    search_trials: int = 30


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    model: LeadModel
    summary: pd.DataFrame
    split: Split
    test_batch: LeadBatch  # the test period's leads (with every event): what the model was evaluated on
    y_test: np.ndarray
    run_id: str | None = None
    registration: Any = None
    warnings: list[str] = field(default_factory=list)


def load_training_data(data_dir: Path | None = None, spec: Path | None = None) -> TrainingData:
    """Canonical tables from a folder (`leads.*`, `events.*`), or a foreign export through a dataset spec."""
    if (data_dir is None) == (spec is None):
        raise TrainingError("give exactly one of a data folder (--data) or a dataset spec (--spec)")
    if data_dir is not None:
        from features.io import load_history_dir

        hist = load_history_dir(data_dir)
        has_effort = c.SALES_HOURS in hist.leads.columns and hist.leads[c.SALES_HOURS].notna().any()
        return TrainingData(
            batch=LeadBatch(hist.leads, hist.events),
            ordering="time",
            has_effort=bool(has_effort),
            origin=str(data_dir),
            data_dir=data_dir,
            notes=list(hist.warnings),
        )
    from features.spec import load_dataset

    assert spec is not None
    ds = load_dataset(spec)
    return TrainingData(
        batch=ds.batch,
        ordering=ds.ordering,
        categorical=list(ds.categorical),
        numeric=list(ds.numeric),
        has_effort=bool(ds.has_effort),
        origin=str(spec),
        notes=list(ds.notes),
        stage_map=ds.stage_map,
        warnings=list(ds.warnings),
    )


def _subset(batch: LeadBatch, idx: np.ndarray) -> LeadBatch:
    return LeadBatch(batch.leads.iloc[idx].reset_index(drop=True), batch.events)


def fingerprint(data: TrainingData) -> dict[str, Any]:
    """What the run was trained on: sizes, dates, positive rate, and a content hash of the tables."""
    leads = data.batch.leads
    closed = leads[c.OUTCOME].notna() if c.OUTCOME in leads else pd.Series(False, index=leads.index)
    won = (leads[c.OUTCOME] == c.WON) if c.OUTCOME in leads else closed
    h_leads = pd.util.hash_pandas_object(leads, index=False).to_numpy()
    h_events = pd.util.hash_pandas_object(data.batch.events, index=False).to_numpy()
    import hashlib

    digest = hashlib.sha256(h_leads.tobytes() + h_events.tobytes()).hexdigest()[:16]
    fp: dict[str, Any] = {
        "origin": data.origin,
        "leads": len(leads),
        "events": len(data.batch.events),
        "closed_leads": int(closed.sum()),
        "won_leads": int(won.sum()),
        "open_leads": int((~closed).sum()),
        "positive_rate": float(won.sum() / max(int(closed.sum()), 1)),
        "content_hash": digest,
    }
    if leads[c.CREATED_AT].notna().any():
        fp["created_from"] = str(leads[c.CREATED_AT].min())
        fp["created_to"] = str(leads[c.CREATED_AT].max())
    return fp


def _fit_calibrator(raw_val: np.ndarray, y_val: np.ndarray, seed: int) -> tuple[Calibrator, dict[str, float]]:
    """Pick isotonic or sigmoid by out-of-fold log loss on the validation period, then fit it on all of it."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    losses: dict[str, float] = {}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for method in ("isotonic", "sigmoid"):
        oof = np.empty(len(y_val))
        for fit_idx, hold_idx in folds.split(raw_val, y_val):
            cal = Calibrator(method).fit(raw_val[fit_idx], y_val[fit_idx])
            oof[hold_idx] = cal.predict(raw_val[hold_idx])
        losses[method] = float(log_loss(y_val, oof, labels=[0, 1]))
    best = min(losses, key=lambda m: losses[m])
    return Calibrator(best).fit(raw_val, y_val), losses  # type: ignore[arg-type]


def _days_to_close(leads: pd.DataFrame) -> pd.Series:
    start = leads[c.DECIDED_AT].where(leads[c.DECIDED_AT].notna(), leads[c.CREATED_AT])
    return (leads[c.CLOSED_AT] - start).dt.total_seconds() / 86400.0


def train(data: TrainingData, options: TrainOptions | None = None, progress: Progress | None = None) -> TrainResult:
    """Train and evaluate. Returns the model, metrics (the `--metrics-out` JSON) and a summary table."""
    opts = options or TrainOptions()
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    leads = data.batch.leads
    if c.OUTCOME not in leads.columns:
        raise TrainingError("the leads table has no outcome column: nothing to learn from")
    closed_mask = leads[c.OUTCOME].notna().to_numpy()
    # A closed lead is learnt from as it was at its decision time: a scoring time (as_of) is for open leads.
    closed = leads.loc[closed_mask].drop(columns=[c.AS_OF], errors="ignore").reset_index(drop=True)
    y = (closed[c.OUTCOME] == c.WON).to_numpy(dtype=int)
    n_won, n_open = int(y.sum()), int((~closed_mask).sum())
    if len(closed) < MIN_CLOSED_TO_TRAIN or n_won < MIN_WINS_TO_TRAIN:
        raise TrainingError(
            f"not enough history to train: {len(closed):,} closed leads and {n_won:,} wins; need at least "
            f"{MIN_CLOSED_TO_TRAIN} closed and {MIN_WINS_TO_TRAIN} wins (promotion needs far more in the test "
            "period: see LEADRANK_MIN_CLOSED_LEADS and LEADRANK_MIN_WINS)"
        )

    say(f"[1/6] splitting {len(closed):,} closed leads ({n_won:,} won; {n_open:,} open leads left out)")
    split = time_split(closed, y, ordering=data.ordering, seed=opts.seed)
    warnings = list(data.warnings) + [w for w in [split.warning] if w]
    batch = LeadBatch(closed, data.batch.events)

    say("[2/6] building point-in-time features")
    fe = EngagementFeatures(stage_map=data.stage_map, categorical=data.categorical, numeric=data.numeric)
    fe.fit(_subset(batch, split.train))
    ids, columns = fe.columns_of(batch)
    values = fe.transform_columns(columns)
    X_all = fe.to_frame(ids, values)
    report = fe.inspect(batch)
    # Events after the decision time (the post-decision touches) and events of open leads are expected in any
    # history; only what would change the model's view of the data is worth a warning.
    report.events_at_or_after_as_of = 0
    report.events_unknown_lead = 0
    warnings += report.messages()
    # The boosters' input: the same matrix `LeadModel.predict` builds.
    design = ModelInput(fe.feature_schema_)
    M = design.matrix(values)
    layout = cand.BoosterLayout(design.columns, design.categorical)
    Xtr, Xva = M[split.train], M[split.val]
    ytr, yva, yte = y[split.train], y[split.val], y[split.test]

    say("[3/6] fitting candidates: points score, naive Bayes, logistic regression, LightGBM")
    raw_test: dict[str, np.ndarray] = {}
    probs_test: dict[str, np.ndarray] = {}
    pts = cand.points_score(_subset(batch, split.test))
    raw_test["points"] = pts
    nb = cand.fit_naive_bayes(X_all.iloc[split.train], ytr)
    probs_test["naive_bayes"] = nb.predict_proba(X_all.iloc[split.test])[:, 1]
    lr = cand.fit_logistic(X_all.iloc[split.train], ytr, opts.seed)
    probs_test["logistic"] = lr.predict_proba(X_all.iloc[split.test])[:, 1]
    monotone = design.monotone
    search: dict[str, Any] | None = None
    if opts.search_seconds > 0:
        say(f"      LightGBM parameter search: up to {opts.search_trials} trials or {opts.search_seconds:g} s")
        found = cand.search_lightgbm(
            Xtr, ytr, Xva, yva, opts.seed, layout, monotone, opts.search_seconds, opts.search_trials, say=say
        )
        clf = found.model
        search = {
            "trials": len(found.trials),
            "seconds": found.seconds,
            "stopped_by": found.stopped_by,
            "default_val_log_loss": found.trials[0]["val_log_loss"],
            "best_val_log_loss": min(t["val_log_loss"] for t in found.trials),
            "history": found.trials,
        }
    else:
        clf = cand.fit_lightgbm_classifier(Xtr, ytr, Xva, yva, opts.seed, layout, monotone=monotone)

    say("[4/6] calibrating on the validation period")
    classifier = _frozen(clf)
    raw_val = np.asarray(classifier.predict(Xva), dtype=np.float64)
    calibrator, cal_losses = _fit_calibrator(raw_val, yva, opts.seed)

    say("[5/6] learning selling effort and time to close")
    hours_model, default_hours, effort_note = _fit_hours(closed, M, layout, split, data.has_effort, opts.seed)
    days_model, days_note = _fit_days(closed, M, layout, split, y, opts.seed)
    warnings += [n for n in (effort_note, days_note) if n]
    model = LeadModel(
        features=fe,
        classifier=classifier,
        calibrator=calibrator,
        hours=_frozen(hours_model),
        days=_frozen(days_model),
        default_hours=default_hours,
        metadata={"calibration": calibrator.method, "calibration_val_log_loss": cal_losses},
    )
    test_leads = closed.iloc[split.test].reset_index(drop=True)
    test_batch = LeadBatch(test_leads, data.batch.events)
    scored_test = model.predict_frame(test_batch)
    probs_test["lightgbm"] = scored_test["p_close"].to_numpy()

    say("[6/6] evaluating on the test period")
    truth = ev.read_truth_for(data.data_dir, test_leads[c.LEAD_ID]) if data.data_dir else None
    metrics = _evaluate_all(test_leads, yte, raw_test, probs_test, scored_test, truth, opts.capacity_share)
    metrics["split"] = split.info
    metrics["calibration"] = {"method": calibrator.method, "val_log_loss": cal_losses}
    metrics["lightgbm_best_iteration"] = int(clf.best_iteration_ or clf.n_estimators)
    clf_params = clf.get_params()
    metrics["lightgbm_params"] = {k: clf_params[k] for k in cand.TUNED_KEYS}
    if search is not None:
        metrics["lightgbm_search"] = search
    metrics["n_features"] = int(M.shape[1])
    metrics["fingerprint"] = fingerprint(data)
    metrics["warnings"] = warnings
    model.metadata["test_metrics"] = {k: v for k, v in metrics.items() if k.startswith("test_")}
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    return TrainResult(
        metrics=metrics,
        model=model,
        summary=summary_table(metrics),
        split=split,
        test_batch=test_batch,
        y_test=yte,
        warnings=warnings,
    )


def _frozen(estimator: Any) -> Any:
    """A fitted LightGBM estimator's booster as it is stored (LightGBM model text, best iteration only), so
    training evaluates exactly what is served."""
    if estimator is None:
        return None
    import lightgbm as lgb

    return lgb.Booster(model_str=estimator.booster_.model_to_string())


def _fit_hours(
    closed: pd.DataFrame, M: np.ndarray, layout: cand.BoosterLayout, split: Split, has_effort: bool, seed: int
) -> tuple[Any, float, str | None]:
    if not has_effort or c.SALES_HOURS not in closed.columns:
        return None, 1.0, "no sales hours in the data: every lead is assumed to cost the same effort (1 hour)"
    hours = closed[c.SALES_HOURS].to_numpy(dtype=float)
    tr = split.train[~np.isnan(hours[split.train])]
    va = split.val[~np.isnan(hours[split.val])]
    if len(tr) < 50 or len(va) < 10:
        med = float(np.nanmedian(hours)) if np.isfinite(hours).any() else 1.0
        return None, med, f"too few leads with sales hours: every lead is assumed to cost {med:.1f} h"
    model = cand.fit_lightgbm_regressor(M[tr], hours[tr], M[va], hours[va], seed, layout)
    return model, float(np.nanmedian(hours)), None


def _fit_days(
    closed: pd.DataFrame, M: np.ndarray, layout: cand.BoosterLayout, split: Split, y: np.ndarray, seed: int
) -> tuple[Any, str | None]:
    if c.CLOSED_AT not in closed.columns or closed[c.CLOSED_AT].isna().all():
        return None, "no close dates in the data: expected days to close is omitted"
    days = _days_to_close(closed).to_numpy(dtype=float)
    ok = (y == 1) & np.isfinite(days) & (days >= 0)
    tr, va = split.train[ok[split.train]], split.val[ok[split.val]]
    if len(tr) < 50 or len(va) < 10:
        return None, "too few won leads with dates: expected days to close is omitted"
    # Days to close are skewed: fit on log1p so a few slow deals do not dominate.
    return cand.fit_lightgbm_regressor(M[tr], np.log1p(days[tr]), M[va], np.log1p(days[va]), seed, layout), None


def _evaluate_all(
    test_leads: pd.DataFrame,
    y: np.ndarray,
    raw_scores: dict[str, np.ndarray],
    probs: dict[str, np.ndarray],
    scored: pd.DataFrame,
    truth: ev.Truth | None,
    capacity_share: float,
) -> dict[str, Any]:
    from training.capacity_eval import capacity_budget, select_at_capacity, select_by_order

    ids = test_leads[c.LEAD_ID].to_numpy()
    hours_est = scored["expected_hours"].to_numpy()
    budget = capacity_budget(test_leads, hours_est, capacity_share)
    out: dict[str, Any] = {"capacity_hours": budget, "candidates": {}}
    for name in CANDIDATES:
        m: dict[str, float] = {}
        if name in probs:
            p = probs[name]
            m.update(ev.ranking_metrics(y, p))
            m.update(ev.probability_metrics(y, p))
            m.update(ev.top_share_metrics(y, p, ids, truth))
            sel = select_at_capacity(ids, p, hours_est, budget)
        else:
            s = raw_scores[name]
            m.update(ev.ranking_metrics(y, s))
            m.update(ev.top_share_metrics(y, s, ids, truth))
            sel = select_by_order(ids, s, hours_est, budget)
        m.update(ev.capacity_metrics(y, sel, truth))
        out["candidates"][name] = m
    best = out["candidates"]["lightgbm"]
    for k, v in best.items():
        out[f"test_{k}"] = v
    p = probs["lightgbm"]
    out["test_ece_per_source"] = ev.per_source_ece(y, p, test_leads[c.SOURCE].to_numpy())
    out["test_gains"] = ev.gains_table(y, p, ids).to_dict(orient="records")
    if truth is not None:
        oracle: dict[str, float] = {}
        oracle.update(ev.ranking_metrics(y, truth.p_close))
        oracle.update(ev.top_share_metrics(y, truth.p_close, ids, truth))
        sel = select_at_capacity(ids, truth.p_close, truth.expected_hours, budget)
        oracle.update(ev.capacity_metrics(y, sel, truth))
        out["oracle"] = oracle
        out["test_true_closes_top10pct_vs_oracle"] = (
            best["true_expected_closes_top10pct"] / oracle["true_expected_closes_top10pct"]
        )
        out["test_true_closes_at_capacity_vs_oracle"] = (
            best["true_expected_closes_at_capacity"] / oracle["true_expected_closes_at_capacity"]
        )
    return out


def summary_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Candidates side by side on the test period (and the oracle on simulated data)."""
    cols = [
        "roc_auc",
        "pr_auc",
        "brier",
        "ece",
        "close_rate_top10pct",
        "close_rate_top20pct",
        "expected_closes_at_capacity",
        "true_expected_closes_at_capacity",
    ]
    rows = dict(metrics["candidates"])
    if "oracle" in metrics:
        rows["oracle (truth)"] = metrics["oracle"]
    table = pd.DataFrame({name: {k: m.get(k, np.nan) for k in cols} for name, m in rows.items()}).T
    table.index.name = "model"
    return table.dropna(axis=1, how="all").rename(columns=SUMMARY_LABELS)


SUMMARY_LABELS = {
    "roc_auc": "AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier",
    "ece": "ECE",
    "close_rate_top10pct": "close rate top10%",
    "close_rate_top20pct": "close rate top20%",
    "expected_closes_at_capacity": "closes at capacity",
    "true_expected_closes_at_capacity": "true exp. closes at capacity",
}
