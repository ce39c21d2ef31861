"""Candidate models, all trained and evaluated on identical splits.

- `points`: the rule-based points score marketing-automation tools use (points per activity and per source).
- `naive_bayes`: a frequency model of the kind Odoo CRM ships (per-value won/lost frequencies, multiplied).
- `logistic`: logistic regression on the same features (one-hot categoricals, scaled numerics).
- `lightgbm`: gradient boosting with early stopping on the validation period; the model that is served.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PointsWeights:
    """Points per activity and per source, as a marketing team would set them by hand."""

    per_event: Mapping[str, float] = field(
        default_factory=lambda: {
            "page_visit": 1,
            "email_click": 2,
            "whitepaper_download": 5,
            "case_study_read": 8,
            "webinar_attended": 10,
            "tech_doc_download": 12,
            "pricing_view": 10,
            "demo_request": 30,
            "trial_request": 30,
        }
    )
    per_source: Mapping[str, float] = field(
        default_factory=lambda: {
            "inbound_inquiry": 20,
            "inbound_content": 15,
            "referral": 15,
            "event": 10,
            "telemarketing": 0,
            "cold_call": 0,
        }
    )
    # Tools cap repeated activity so one noisy visitor cannot run up the score.
    max_per_event_type: float = 60


def points_score(batch: LeadBatch, weights: PointsWeights | None = None) -> np.ndarray:
    """Points per lead from events strictly before the lead's reference time, plus source points."""
    w = weights or PointsWeights()
    leads = batch.leads
    ref_col = "as_of" if "as_of" in leads.columns else c.DECIDED_AT
    ref = pd.Series(leads[ref_col].to_numpy(), index=leads[c.LEAD_ID].to_numpy())
    ev = batch.events
    score = pd.Series(0.0, index=leads[c.LEAD_ID].to_numpy())
    if len(ev):
        keep = ev[c.TS].to_numpy() < ref.reindex(ev[c.EVENT_LEAD_ID].to_numpy()).to_numpy()
        ev = ev.loc[keep, [c.EVENT_LEAD_ID, c.EVENT_TYPE]]
        pts = ev[c.EVENT_TYPE].map(dict(w.per_event)).fillna(0.0).astype(float)
        per_type = pts.groupby([ev[c.EVENT_LEAD_ID], ev[c.EVENT_TYPE]], sort=False).sum()
        per_lead = per_type.clip(upper=w.max_per_event_type).groupby(level=0).sum()
        score = score.add(per_lead, fill_value=0.0).reindex(score.index)
    src = leads[c.SOURCE].map(dict(w.per_source)).fillna(0.0).astype(float).to_numpy()
    return np.asarray(score.to_numpy() + src, dtype=float)


def _split_columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    cat = [col for col in X.columns if isinstance(X[col].dtype, pd.CategoricalDtype)]
    num = [col for col in X.columns if col not in cat]
    return cat, num


def _to_object(X: pd.DataFrame) -> pd.DataFrame:
    return X.astype(object).where(X.notna(), "missing")


def fit_logistic(X: pd.DataFrame, y: np.ndarray, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    cat, num = _split_columns(X)
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    # Counts are heavy-tailed: log1p keeps one very active lead from dominating the fit.
                    FunctionTransformer(lambda a: np.sign(a) * np.log1p(np.abs(a))),
                    StandardScaler(),
                ),
                num,
            ),
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(_to_object),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20, sparse_output=False),
                ),
                cat,
            ),
        ]
    )
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(C=1.0, max_iter=500, random_state=seed))])
    return model.fit(X, y)


def fit_naive_bayes(X: pd.DataFrame, y: np.ndarray) -> Any:
    """Per-feature value frequencies among won and lost leads, multiplied (numerics binned by quantile)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer, OrdinalEncoder

    cat, num = _split_columns(X)
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=-1.0, keep_empty_features=True),
                    KBinsDiscretizer(
                        n_bins=8,
                        encode="ordinal",
                        strategy="quantile",
                        quantile_method="averaged_inverted_cdf",
                    ),
                ),
                num,
            ),
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(_to_object),
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1),
                    # CategoricalNB needs non-negative codes; unseen values share code 0.
                    FunctionTransformer(lambda a: a + 1),
                ),
                cat,
            ),
        ]
    )
    model = Pipeline([("pre", pre), ("nb", CategoricalNB(alpha=1.0, min_categories=None))])
    with warnings.catch_warnings():
        # Rare event types are all-zero or nearly constant: binning them into one bin is the right outcome,
        # not something to warn about on every training run.
        warnings.filterwarnings("ignore", message=".*(is constant|Bins whose width are too small).*")
        return model.fit(X, y)


# Small trees, a slow learning rate and large leaves: engagement signals are noisy counts, and on simulated and
# real histories alike this generalised better than deeper trees (bench/bench_train.py quality).
LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 3000,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 2,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}


# Rounds x learning rate of LightGBM's own defaults (100 rounds at 0.1): the amount of learning a refit gets when
# the backtest gives no evidence about the number of rounds (`training.pipeline._refit_rounds`).
DEFAULT_LEARNING = 10.0


def default_rounds(learning_rate: float | None = None) -> int:
    """Boosting rounds for `DEFAULT_LEARNING` at `learning_rate` (default: the recipe's)."""
    return max(1, round(DEFAULT_LEARNING / float(learning_rate or LGBM_PARAMS["learning_rate"])))


# What early stopping watches on the validation period. Ranking (AUC), not log loss: the validation period is the
# newest history, and where the won rate drifts (bank marketing: 6% to 31%) log loss mostly measures the base rate,
# which calibration fixes afterwards anyway, and stops after a round or two.
EARLY_STOPPING_METRIC = "auc"


@dataclass(frozen=True)
class BoosterLayout:
    """The columns of the boosters' input matrix (`model.ModelInput`): names, and which hold category codes."""

    columns: list[str]
    categorical: list[int]

    def fit_args(self) -> dict[str, Any]:
        return {"feature_name": list(self.columns), "categorical_feature": list(self.categorical)}


def fit_lightgbm_classifier(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    layout: BoosterLayout,
    monotone: list[int] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    import lightgbm as lgb

    kw = classifier_params(len(y), seed, monotone, params, early_stopping=True)
    model = lgb.LGBMClassifier(**kw)
    model.fit(
        X,
        y,
        eval_X=(X_val,),
        eval_y=(y_val,),
        callbacks=[lgb.early_stopping(CLASSIFIER_PATIENCE, verbose=False)],
        **layout.fit_args(),
    )
    log.info("lightgbm classifier: best iteration %s", model.best_iteration_)
    return model


# Rounds without improvement on the validation period before early stopping ends a fit.
CLASSIFIER_PATIENCE = 100
REGRESSOR_PATIENCE = 30


def classifier_params(
    n_rows: int,
    seed: int,
    monotone: list[int] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    early_stopping: bool,
    rounds: int | None = None,
) -> dict[str, Any]:
    """The classifier's LightGBM parameters for `n_rows` training rows: every engine fits with these."""
    kw = {**LGBM_PARAMS, **(params or {}), "random_state": seed}
    if early_stopping:
        kw["metric"] = EARLY_STOPPING_METRIC
    kw["min_child_samples"] = _leaf_size(kw["min_child_samples"], n_rows, params)
    if monotone is not None and any(monotone):
        kw["monotone_constraints"] = monotone
        kw.setdefault("monotone_constraints_method", "intermediate")
    if rounds is not None:
        kw["n_estimators"] = max(1, int(rounds))
    return kw


def regressor_params(n_rows: int, seed: int, rounds: int | None = None) -> dict[str, Any]:
    """The selling-hours and days-to-close heads' LightGBM parameters for `n_rows` training rows."""
    kw = {**_REGRESSOR_PARAMS, "random_state": seed}
    kw["min_child_samples"] = _leaf_size(kw["min_child_samples"], n_rows, None)
    if rounds is not None:
        kw["n_estimators"] = max(1, int(rounds))
    return kw


def _leaf_size(default: int, n_rows: int, params: Mapping[str, Any] | None) -> int:
    """The smallest leaf, in leads: the default keeps noisy engagement counts from being over-fit, but on a small
    export (a few hundred leads) it would allow no split at all; there a leaf is a twentieth of the rows (at
    least 20). A searched or given value is kept."""
    if params is not None and "min_child_samples" in params:
        return int(params["min_child_samples"])
    return int(min(default, max(20, n_rows // 20)))


def fit_lightgbm_rounds(
    X: np.ndarray,
    y: np.ndarray,
    rounds: int,
    seed: int,
    layout: BoosterLayout,
    *,
    classifier: bool,
    monotone: list[int] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """A LightGBM fitted for exactly `rounds` boosting rounds, no early stopping: the refit on all history, whose
    number of rounds the backtest's early stopping chose (the newest leads are not held out to stop on)."""
    import lightgbm as lgb

    if classifier:
        kw = classifier_params(len(y), seed, monotone, params, early_stopping=False, rounds=rounds)
        return lgb.LGBMClassifier(**kw).fit(X, y, **layout.fit_args())
    return lgb.LGBMRegressor(**regressor_params(len(y), seed, rounds)).fit(X, y, **layout.fit_args())


# What the optional search may change, and the values it draws from: the knobs that moved validation loss in
# our experiments (tree size, leaf size, learning rate, column sampling, L2), nothing exotic.
SEARCH_SPACE: dict[str, tuple[Any, ...]] = {
    "learning_rate": (0.02, 0.03, 0.05, 0.08),
    "num_leaves": (3, 7, 15, 31),
    "min_child_samples": (50, 100, 200, 400),
    "colsample_bytree": (0.5, 0.8, 1.0),
    "reg_lambda": (0.0, 1.0, 10.0),
}
# Tunable parameters recorded with every run, searched or not.
TUNED_KEYS = tuple(SEARCH_SPACE)


@dataclass
class SearchResult:
    """The best LightGBM of a time-budgeted random search, chosen by validation log loss."""

    model: Any
    params: dict[str, Any]
    trials: list[dict[str, Any]]
    seconds: float
    stopped_by: str  # "budget" or "trials"


def search_lightgbm(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    layout: BoosterLayout,
    monotone: list[int] | None,
    budget_seconds: float,
    max_trials: int,
    say: Callable[[str], None] | None = None,
) -> SearchResult:
    """Random search over `SEARCH_SPACE` until the time budget or the trial count runs out.

    The first trial is always the default parameters, so the search can only match or improve the default's
    validation log loss. A new trial starts only if the average trial so far still fits in the budget left, so
    the budget is overrun by at most about one trial. With the same data, seed and trial count the trials are
    the same; when the budget stops the search first, how many trials run depends on the machine.
    """
    from sklearn.metrics import log_loss

    if budget_seconds <= 0 or max_trials < 1:
        raise ValueError("the search needs a positive time budget and at least one trial")
    rng = np.random.default_rng(seed)
    keys = list(SEARCH_SPACE)
    default = {k: LGBM_PARAMS[k] for k in keys}
    # The defaults, then every other combination of the grid in a seeded random order: no trial repeats another.
    grid = np.stack(np.meshgrid(*[np.arange(len(SEARCH_SPACE[k])) for k in keys], indexing="ij"), -1).reshape(
        -1, len(keys)
    )
    drawn = (
        {k: SEARCH_SPACE[k][i] for k, i in zip(keys, row, strict=True)} for row in grid[rng.permutation(len(grid))]
    )
    order = [default, *(params for params in drawn if params != default)]
    t0 = time.perf_counter()
    trials: list[dict[str, Any]] = []
    best: tuple[float, Any, dict[str, Any]] | None = None
    stopped_by = "trials"
    for params in order[:max_trials]:
        elapsed = time.perf_counter() - t0
        if trials and elapsed + elapsed / len(trials) > budget_seconds:
            stopped_by = "budget"
            break
        model = fit_lightgbm_classifier(X, y, X_val, y_val, seed, layout, monotone=monotone, params=params)
        loss = float(log_loss(y_val, model.booster_.predict(X_val), labels=[0, 1]))
        trials.append({**params, "val_log_loss": loss, "best_iteration": int(model.best_iteration_ or 0)})
        if best is None or loss < best[0]:
            best = (loss, model, params)
        if say is not None:
            say(f"      trial {len(trials)}: val log loss {loss:.5f} (best {best[0]:.5f})")
    assert best is not None  # the default trial always runs
    return SearchResult(
        model=best[1],
        params=dict(best[2]),
        trials=trials,
        seconds=round(time.perf_counter() - t0, 1),
        stopped_by=stopped_by,
    )


# Effort and time to close only need to be roughly right (they weigh leads, they do not rank them), so a smaller,
# faster model than the classifier's is enough.
_REGRESSOR_PARAMS: dict[str, Any] = {**LGBM_PARAMS, "n_estimators": 400, "learning_rate": 0.1, "num_leaves": 15}


def fit_lightgbm_regressor(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    layout: BoosterLayout,
) -> Any:
    import lightgbm as lgb

    model = lgb.LGBMRegressor(**regressor_params(len(y), seed))
    model.fit(
        X,
        y,
        eval_X=(X_val,),
        eval_y=(y_val,),
        callbacks=[lgb.early_stopping(REGRESSOR_PATIENCE, verbose=False)],
        **layout.fit_args(),
    )
    return model
