"""`leadrank train`: backtest the recipe over time, compare candidates, refit the served model on all history.

The recipe (point-in-time features, LightGBM early-stopped on the newest part of its history, calibrated there,
the effort and time-to-close heads) is evaluated by a rolling-origin backtest (`training.backtest`): each fold
learns from everything before its test window, the folds before the last choose the training window, and the last
fold, on the newest leads, gives the test metrics and the side-by-side comparison with the baselines. The model
that is registered and served is then the same recipe refit on all closed leads (of the chosen window), with the
number of boosting rounds the backtest's early stopping found (in the folds whose model ranks its window) and a
calibration fitted on the last fold's out-of-time predictions, so the newest history is learnt from instead of
held out.

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
from model import Calibrator, FeatureValues, LeadModel, ModelInput
from model.reference import build_reference
from training import backtest as bt
from training import candidates as cand
from training import evaluate as ev
from training.split import Split, TrainingError, order_closed, split_info
from training.training_set import InMemoryTrainingSet, TrainingSet, content_hash, table_fingerprint

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
    # The backtest: folds (each a window of `backtest.TEST_SHARE` of the closed leads) and the training windows it
    # may choose from (shares of the history before a window; 1.0 = all of it).
    backtest_folds: int = bt.N_FOLDS
    windows: tuple[float, ...] = bt.WINDOWS


@dataclass
class TrainResult:
    """What training made. `model` is the served model, refit on all history (the chosen window of it);
    `evaluation_model` is the same recipe as fitted in the last backtest fold, on leads before `test_batch`:
    every test metric, plot and gate comparison is about it, never about `model` (which was fitted on the test
    period too). `split` is the last fold's fit / validation / test."""

    metrics: dict[str, Any]
    model: LeadModel
    summary: pd.DataFrame
    split: Split
    test_batch: LeadBatch  # the newest backtest window's leads (with every event)
    y_test: np.ndarray
    run_id: str | None = None
    registration: Any = None
    warnings: list[str] = field(default_factory=list)
    evaluation_model: LeadModel | None = None
    fitted_lead_ids: np.ndarray | None = None  # the leads `model` was fitted on
    evaluation_fitted_lead_ids: np.ndarray | None = None  # the leads `evaluation_model` was fitted and calibrated on
    gate_lead_ids: np.ndarray | None = None  # set by registration: the leads the gate compared the models on


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


def fingerprint(data: TrainingData) -> dict[str, Any]:
    """What the run was trained on: sizes, dates, positive rate, and a content hash of the tables."""
    leads, events = data.batch.leads, data.batch.events
    return table_fingerprint(data.origin, leads, len(events), content_hash(leads, events))


# Below this AUC a model's scores do not rank the leads they are checked on (drift between the periods). Then
# calibrating their shape there would flatten or reverse the ranking, so only the level is adapted; and a backtest
# fold whose model does not rank its window says nothing about how many boosting rounds help.
_MIN_RANKING_AUC = 0.55


def _fit_calibrator(raw_val: np.ndarray, y_val: np.ndarray, seed: int) -> tuple[Calibrator, dict[str, float]]:
    """Pick isotonic or sigmoid by out-of-fold log loss on the calibration leads, then fit it on all of them.

    A calibration may rescale scores, never reverse or flatten them: where the scores do not rank the calibration
    leads at all (drift between the periods), only the level is moved (Platt scaling with the slope fixed at 1:
    the base rate of the calibration leads, the ranking of the model)."""
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    if ev.ranking_metrics(y_val, raw_val)["roc_auc"] < _MIN_RANKING_AUC:
        shift = _level_only(raw_val, y_val)
        return shift, {"level_only": float(log_loss(y_val, shift.predict(raw_val), labels=[0, 1]))}
    losses: dict[str, float] = {}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for method in ("isotonic", "sigmoid"):
        oof = np.empty(len(y_val))
        for fit_idx, hold_idx in folds.split(raw_val, y_val):
            cal = Calibrator(method).fit(raw_val[fit_idx], y_val[fit_idx])
            oof[hold_idx] = cal.predict(raw_val[hold_idx])
        losses[method] = float(log_loss(y_val, oof, labels=[0, 1]))
    best = min(losses, key=lambda m: losses[m])
    fitted = Calibrator(best).fit(raw_val, y_val)  # type: ignore[arg-type]
    if best == "sigmoid" and fitted.a_ <= 0:
        fitted = Calibrator("isotonic").fit(raw_val, y_val)
    return fitted, losses


def _level_only(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Platt scaling with slope 1: p = sigmoid(logit(raw) + b), b by maximum likelihood (a few Newton steps)."""
    from model.calibration import logit

    z = logit(raw)
    b = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z + b)))
        step = float((y - p).sum()) / max(float((p * (1 - p)).sum()), 1e-12)
        b += step
        if abs(step) < 1e-10:
            break
    cal = Calibrator("sigmoid")
    cal.a_, cal.b_ = 1.0, float(b)
    return cal


def _days_to_close(leads: pd.DataFrame) -> pd.Series:
    start = leads[c.DECIDED_AT].where(leads[c.DECIDED_AT].notna(), leads[c.CREATED_AT])
    return (leads[c.CLOSED_AT] - start).dt.total_seconds() / 86400.0


def closed_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """The leads with an outcome, as they were at their decision time (a scoring time, as_of, is for open leads)."""
    if c.OUTCOME not in leads.columns:
        raise TrainingError("the leads table has no outcome column: nothing to learn from")
    closed_mask = leads[c.OUTCOME].notna().to_numpy()
    return leads.loc[closed_mask].drop(columns=[c.AS_OF], errors="ignore").reset_index(drop=True)


def train(data: TrainingData, options: TrainOptions | None = None, progress: Progress | None = None) -> TrainResult:
    """Backtest, compare candidates on the newest window, refit on all history. Returns the served model, the
    last fold's model, metrics (the `--metrics-out` JSON) and a summary table."""
    leads = data.batch.leads
    closed = closed_leads(leads)
    tset = InMemoryTrainingSet(closed, data.batch.events, fingerprint(data))
    return fit_recipe(tset, data, len(leads) - len(closed), options, progress)


def fit_recipe(
    tset: TrainingSet,
    data: TrainingData,
    n_open: int,
    options: TrainOptions | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """The recipe on any engine's closed leads (`training.training_set`): `data` gives the data set's shape
    (ordering, attribute lists, stage map, effort, notes), `tset` the leads, their features and the fits."""
    opts = options or TrainOptions()
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    closed = tset.closed
    y = (closed[c.OUTCOME] == c.WON).to_numpy(dtype=int)
    n_won = int(y.sum())
    if len(closed) < MIN_CLOSED_TO_TRAIN or n_won < MIN_WINS_TO_TRAIN:
        raise TrainingError(
            f"not enough history to train: {len(closed):,} closed leads and {n_won:,} wins; need at least "
            f"{MIN_CLOSED_TO_TRAIN} closed and {MIN_WINS_TO_TRAIN} wins (promotion needs far more in the test "
            "period: see LEADRANK_MIN_CLOSED_LEADS and LEADRANK_MIN_WINS)"
        )

    say(f"[1/7] ordering {len(closed):,} closed leads in time ({n_won:,} won; {n_open:,} open leads left out)")
    ordered = order_closed(closed, y, ordering=data.ordering, seed=opts.seed)
    folds, dropped = bt.rolling_folds(ordered.order, y, n_folds=opts.backtest_folds)
    if not folds:
        raise TrainingError(
            "the newest backtest window has no won leads (or no lost ones); need more closed history to train: "
            + "; ".join(dropped)
        )
    warnings = list(data.warnings) + [w for w in [ordered.warning] if w]
    warnings += [f"backtest {d}: left out" for d in dropped]
    last = folds[-1]

    say("[2/7] building point-in-time features")
    fe, input_warnings = tset.fit_features(
        EngagementFeatures(stage_map=data.stage_map, categorical=data.categorical, numeric=data.numeric)
    )
    warnings += input_warnings
    # The boosters' input: the same matrix `LeadModel.predict` builds.
    design = ModelInput(fe.feature_schema_)
    layout = cand.BoosterLayout(design.columns, design.categorical)
    monotone = design.monotone

    def fit_classifier(rows: np.ndarray, val: np.ndarray, params: dict[str, Any] | None) -> Any:
        return tset.fit_classifier(rows, val, y, opts.seed, layout, monotone, params)

    def scores(clf: Any, calibrator: Calibrator, rows: np.ndarray) -> np.ndarray:
        return LeadModel(fe, _frozen(clf), calibrator).predict(FeatureValues(tset.values(rows))).p_close

    search: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    if opts.search_seconds > 0:
        say(f"      LightGBM parameter search: up to {opts.search_trials} trials or {opts.search_seconds:g} s")
        rows = last.fit_rows(1.0)
        found = cand.search_lightgbm(
            design.matrix(tset.values(rows)), y[rows], design.matrix(tset.values(last.val)), y[last.val], opts.seed,
            layout, monotone, opts.search_seconds, opts.search_trials, say=say,
        )  # fmt: skip
        params = found.params
        search = {
            "trials": len(found.trials),
            "seconds": found.seconds,
            "stopped_by": found.stopped_by,
            "default_val_log_loss": found.trials[0]["val_log_loss"],
            "best_val_log_loss": min(t["val_log_loss"] for t in found.trials),
            "history": found.trials,
        }

    choosing = folds[:-1]
    windows = tuple(dict.fromkeys(opts.windows)) or (1.0,)
    say(
        f"[3/7] backtest: {len(folds)} folds; choosing the training window ({', '.join(map(bt.window_name, windows))})"
        f" on the {len(choosing)} before the last"
    )
    fitted: dict[tuple[int, float], Any] = {}
    window_scores: dict[float, list[float]] = {w: [] for w in windows}
    for fold in choosing:
        for w in windows if len(windows) > 1 else ():
            clf = fit_classifier(fold.fit_rows(w), fold.val, params)
            fitted[(fold.number, w)] = clf
            unscaled = scores(clf, Calibrator("none"), fold.test)
            window_scores[w].append(ev.ranking_metrics(y[fold.test], unscaled)["roc_auc"])
    if len(windows) > 1:
        window, why = bt.choose_window(window_scores)
    else:
        window, why = windows[0], f"{bt.window_name(windows[0])}: the only window given"

    say(f"      window: {why}")
    fold_metrics: dict[str, dict[str, Any]] = {}
    fold_models: dict[int, tuple[Any, Calibrator]] = {}
    for fold in folds:
        clf = fitted.get((fold.number, window)) or fit_classifier(fold.fit_rows(window), fold.val, params)
        frozen = _frozen(clf)
        calibrator, _ = _fit_calibrator(
            np.asarray(frozen.predict(design.matrix(tset.values(fold.val))), dtype=np.float64), y[fold.val], opts.seed
        )
        p = LeadModel(fe, frozen, calibrator).predict(FeatureValues(tset.values(fold.test))).p_close
        fold_models[fold.number] = (clf, calibrator)
        info = split_info(
            closed, y, ordered.kind, ordered.time_col,
            {"fit": fold.fit_rows(window), "validation": fold.val, "test": fold.test},
        )  # fmt: skip
        m: dict[str, Any] = {"rows_fit": len(fold.fit_rows(window)), "rows_test": len(fold.test)}
        m["test_from"], m["test_to"] = info["test"].get("from"), info["test"].get("to")
        m.update(ev.ranking_metrics(y[fold.test], p))
        m.update(ev.probability_metrics(y[fold.test], p))
        tops = ev.top_share_metrics(y[fold.test], p, closed[c.LEAD_ID].to_numpy()[fold.test], None)
        m["close_rate_top10pct"] = tops["close_rate_top10pct"]
        m["best_iteration"] = int(clf.best_iteration_ or clf.n_estimators)
        fold_metrics[str(fold.number)] = m

    say("[4/7] the newest window: fitting the baselines (points score, naive Bayes, logistic regression)")
    split = Split(
        kind=ordered.kind,
        train=last.fit_rows(window),
        val=last.val,
        test=last.test,
        info=split_info(
            closed,
            y,
            ordered.kind,
            ordered.time_col,
            {"train": last.fit_rows(window), "validation": last.val, "test": last.test},
        ),
        warning=ordered.warning,
    )
    yte = y[split.test]
    raw_test: dict[str, np.ndarray] = {"points": tset.points(split.test)}
    probs_test: dict[str, np.ndarray] = {}
    ids = closed[c.LEAD_ID]
    base_rows = tset.baseline_rows(split.train)
    X_base = fe.to_frame(pd.Index(ids.iloc[base_rows]), tset.values(base_rows))
    X_test = fe.to_frame(pd.Index(ids.iloc[split.test]), tset.values(split.test))
    nb = cand.fit_naive_bayes(X_base, y[base_rows])
    probs_test["naive_bayes"] = nb.predict_proba(X_test)[:, 1]
    lr = cand.fit_logistic(X_base, y[base_rows], opts.seed)
    probs_test["logistic"] = lr.predict_proba(X_test)[:, 1]
    del X_base

    say("[5/7] learning selling effort and time to close")
    clf_last, cal_last = fold_models[last.number]
    hours_model, default_hours, effort_note = _fit_hours(tset, layout, split, data.has_effort, opts.seed)
    days_model, days_note = _fit_days(tset, layout, split, y, opts.seed)
    warnings += [n for n in (effort_note, days_note) if n]
    evaluation_model = LeadModel(
        features=fe,
        classifier=_frozen(clf_last),
        calibrator=cal_last,
        hours=_frozen(hours_model),
        days=_frozen(days_model),
        default_hours=default_hours,
        metadata={"calibration": cal_last.method, "backtest_fold": last.number},
    )
    test_batch = tset.batch(split.test)
    test_leads = test_batch.leads
    # The features of every closed lead are computed once, above: score the newest window from them.
    scored_test = evaluation_model.predict(FeatureValues(tset.values(split.test))).frame(test_leads[c.LEAD_ID])
    probs_test["lightgbm"] = scored_test["p_close"].to_numpy()

    say("[6/7] evaluating on the newest window")
    truth = ev.read_truth_for(data.data_dir, test_leads[c.LEAD_ID]) if data.data_dir else None
    metrics = _evaluate_all(test_leads, yte, raw_test, probs_test, scored_test, truth, opts.capacity_share)
    metrics["split"] = split.info

    say(f"[7/7] refitting on all history ({bt.window_name(window)}) for the served model")
    refit_rows = np.sort(ordered.order[len(ordered.order) - max(1, round(window * len(ordered.order))) :])
    rounds, rounds_from = _refit_rounds(fold_metrics, (params or {}).get("learning_rate"))
    clf_refit = tset.fit_rounds(
        refit_rows, y, rounds, opts.seed, layout, classifier=True, monotone=monotone, params=params
    )
    # Calibration from out-of-time predictions: the last fold's model on the newest window, which it never saw.
    raw_oot = np.asarray(evaluation_model.classifier.predict(design.matrix(tset.values(last.test))), dtype=np.float64)
    calibrator, cal_losses = _fit_calibrator(raw_oot, y[last.test], opts.seed)
    hours_refit = _refit_head(hours_model, tset, layout, refit_rows, "hours", y, opts.seed)
    days_refit = _refit_head(days_model, tset, layout, refit_rows, "days", y, opts.seed)
    refit_info = split_info(closed, y, ordered.kind, ordered.time_col, {"fitted": refit_rows})["fitted"]
    calibration_info = split_info(closed, y, ordered.kind, ordered.time_col, {"w": last.test})["w"]
    refit = {
        "window": window,
        "window_name": bt.window_name(window),
        "rows": len(refit_rows),
        "won": int(y[refit_rows].sum()),
        "from": refit_info.get("from"),
        "to": refit_info.get("to"),
        "rounds": int(rounds),
        "rounds_from": rounds_from,
        "calibration": calibrator.method,
        "calibrated_on": {
            "what": f"backtest fold {last.number}'s out-of-time predictions on the newest window",
            "rows": len(last.test),
            "from": calibration_info.get("from"),
            "to": calibration_info.get("to"),
        },
    }
    model = LeadModel(
        features=fe,
        classifier=_frozen(clf_refit),
        calibrator=calibrator,
        hours=hours_refit,
        days=days_refit,
        default_hours=default_hours,
        metadata={"calibration": calibrator.method, "calibration_oot_log_loss": cal_losses, "fitted_on": refit},
    )
    # What monitoring compares later leads with: the served model's inputs and scores on the leads it was fitted on
    # (on a cluster, an evenly spaced sample of them small enough to gather, like the baselines').
    reference_rows = tset.baseline_rows(refit_rows)
    refit_values = tset.values(reference_rows)
    model.reference = build_reference(
        model, refit_values, model.predict(FeatureValues(refit_values)).p_close, y[reference_rows],
        {"from": refit.get("from"), "to": refit.get("to")},
    )  # fmt: skip

    metrics["calibration"] = {"method": cal_last.method, "refit_method": calibrator.method, "oot_log_loss": cal_losses}
    metrics["lightgbm_best_iteration"] = int(fold_metrics[str(last.number)]["best_iteration"])
    clf_params = clf_last.get_params()
    metrics["lightgbm_params"] = {k: clf_params[k] for k in cand.TUNED_KEYS}
    if search is not None:
        metrics["lightgbm_search"] = search
    mean_keys = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "close_rate_top10pct")
    metrics["backtest"] = {
        "folds": fold_metrics,
        "mean": {k: float(np.mean([m[k] for m in fold_metrics.values()])) for k in mean_keys},
        "n_folds": len(folds),
        "window": window,
        "window_name": bt.window_name(window),
        "window_choice": why,
        "window_scores": {bt.window_name(w): [float(v) for v in s] for w, s in window_scores.items() if s},
        "dropped_folds": dropped,
    }
    metrics["refit"] = refit
    metrics["n_features"] = len(design.columns)
    metrics["fingerprint"] = tset.fingerprint()
    metrics["warnings"] = warnings
    test_metrics = {k: v for k, v in metrics.items() if k.startswith("test_")}
    model.metadata["test_metrics"] = test_metrics
    evaluation_model.metadata["test_metrics"] = test_metrics
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    lead_ids = closed[c.LEAD_ID].to_numpy()
    return TrainResult(
        metrics=metrics,
        model=model,
        summary=summary_table(metrics),
        split=split,
        test_batch=test_batch,
        y_test=yte,
        warnings=warnings,
        evaluation_model=evaluation_model,
        fitted_lead_ids=lead_ids[refit_rows],
        evaluation_fitted_lead_ids=lead_ids[np.concatenate([split.train, split.val])],
    )


def _refit_rounds(fold_metrics: dict[str, dict[str, Any]], learning_rate: float | None) -> tuple[int, str]:
    """How many boosting rounds the refit gets, and why.

    The refit learns from more leads than any fold, so it supports at least as many rounds as the largest fold
    found useful. But a fold's early stopping is evidence only where its model ranks its own out-of-time window:
    where it does not (AUC below `_MIN_RANKING_AUC`: the history drifts faster than the recipe learns), the
    validation curve it stopped on is noise, and it often stops after a round or two, which would leave the refit
    a few stumps. Without any such fold the refit gets LightGBM's own default amount of learning."""
    ranking = {k: int(m["best_iteration"]) for k, m in fold_metrics.items() if m["roc_auc"] >= _MIN_RANKING_AUC}
    if ranking:
        listed = ", ".join(f"fold {k}: {n}" for k, n in ranking.items())
        return max(ranking.values()), f"largest best iteration of the backtest folds that rank their window: {listed}"
    rate = float(learning_rate or cand.LGBM_PARAMS["learning_rate"])
    aucs = ", ".join(f"{m['roc_auc']:.3f}" for m in fold_metrics.values())
    return cand.default_rounds(rate), (
        f"no backtest fold ranks its window (AUC {aucs}, below {_MIN_RANKING_AUC}), so their early stopping says "
        f"nothing: as much learning as LightGBM's defaults (100 rounds at learning rate 0.1) at learning rate {rate:g}"
    )


def _refit_head(
    head: Any,
    tset: TrainingSet,
    layout: cand.BoosterLayout,
    rows: np.ndarray,
    kind: Literal["hours", "days"],
    y: np.ndarray,
    seed: int,
) -> Any:
    """A regression head refit on `rows` with the rounds its early-stopped fold version used (None: none)."""
    if head is None:
        return None
    closed = tset.closed
    if kind == "hours":
        target = closed[c.SALES_HOURS].to_numpy(dtype=float)
        keep = rows[~np.isnan(target[rows])]
    else:
        target = np.log1p(_days_to_close(closed).to_numpy(dtype=float))
        keep = rows[(y[rows] == 1) & np.isfinite(target[rows])]
    rounds = int(head.best_iteration_ or head.n_estimators)
    return _frozen(tset.fit_rounds(keep, target, rounds, seed, layout, classifier=False))


def _frozen(estimator: Any) -> Any:
    """A fitted LightGBM estimator's booster as it is stored (LightGBM model text, best iteration only), so
    training evaluates exactly what is served."""
    if estimator is None:
        return None
    import lightgbm as lgb

    return lgb.Booster(model_str=estimator.booster_.model_to_string())


def _fit_hours(
    tset: TrainingSet, layout: cand.BoosterLayout, split: Split, has_effort: bool, seed: int
) -> tuple[Any, float, str | None]:
    closed = tset.closed
    if not has_effort or c.SALES_HOURS not in closed.columns:
        return None, 1.0, "no sales hours in the data: every lead is assumed to cost the same effort (1 hour)"
    hours = closed[c.SALES_HOURS].to_numpy(dtype=float)
    tr = split.train[~np.isnan(hours[split.train])]
    va = split.val[~np.isnan(hours[split.val])]
    if len(tr) < 50 or len(va) < 10:
        med = float(np.nanmedian(hours)) if np.isfinite(hours).any() else 1.0
        return None, med, f"too few leads with sales hours: every lead is assumed to cost {med:.1f} h"
    model = tset.fit_regressor(tr, va, hours, seed, layout)
    return model, float(np.nanmedian(hours)), None


def _fit_days(
    tset: TrainingSet, layout: cand.BoosterLayout, split: Split, y: np.ndarray, seed: int
) -> tuple[Any, str | None]:
    closed = tset.closed
    if c.CLOSED_AT not in closed.columns or closed[c.CLOSED_AT].isna().all():
        return None, "no close dates in the data: expected days to close is omitted"
    days = _days_to_close(closed).to_numpy(dtype=float)
    ok = (y == 1) & np.isfinite(days) & (days >= 0)
    tr, va = split.train[ok[split.train]], split.val[ok[split.val]]
    if len(tr) < 50 or len(va) < 10:
        return None, "too few won leads with dates: expected days to close is omitted"
    # Days to close are skewed: fit on log1p so a few slow deals do not dominate.
    return tset.fit_regressor(tr, va, np.log1p(days), seed, layout), None


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
