"""Scoring for the HTTP API: validated leads in, scores, reasons and the handoff out, as JSON-ready dicts.

The model is the logged `LeadScorer`. Its own `predict_features` goes through scikit-learn's LightGBM
wrappers, which turn the feature frame into a LightGBM dataset on every call (category mapping, dtype checks);
for one lead that conversion costs many times the trees themselves. `FastPath` does the conversion once per
request into a float matrix and calls each booster directly, once: the classifier for its contributions (the
probability follows from their sum), then the hours and days models. It reproduces the scorer exactly (same
boosters, same calibrator, same post-processing); `FastPath.build` checks that on a probe batch, as a whole and
lead by lead, when the model is loaded and falls back to the scorer's own methods if anything differs. A
one-lead request goes through LightGBM's single-row C API (`serving.single_row`); for big requests the
contributions come from `serving.contributions`, which asks LightGBM once per tree and decision pattern instead
of once per lead, and checks itself against LightGBM's own when the model is loaded.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import contract as c
from features.contract import LeadBatch
from features.engagement import AS_OF, FeatureInputError
from features.schema import CATEGORY_DTYPE, FeatureSchema
from features.scorer import logit
from handoff import CapacitySpec, HandoffError, hand_off
from serving.contributions import pattern_contributions
from serving.errors import ModelStoreError, Problem, RequestError
from serving.inputs import Limits, PreparedLeads, prepare, str_array
from serving.reasons import ReasonInputs, ReasonWriter
from serving.single_row import Kind, SingleRow, single_row

if TYPE_CHECKING:
    from features.scorer import LeadScorer
    from serving.schemas import Lead

log = logging.getLogger(__name__)

_US_PER_DAY: Final = 86_400_000_000
_INT64_MAX: Final = np.iinfo(np.int64).max
# Below this many leads LightGBM's thread pool costs more than it saves (and competes with other workers).
_SINGLE_THREAD_BELOW: Final = 2000
# From this many leads the classifier's contributions come from `PatternContributions` (one LightGBM call per tree
# on one row per decision pattern): about 13 ms for the quickstart model's 89 trees plus 5 ms per 1000 leads,
# against 0.06 ms a lead for LightGBM's pred_contrib on one thread. Measured, they cross near 300 leads.
_PATTERNS_FROM: Final = 500
# Up to this many events in a request, their types are looked up in a dict rather than an Arrow hash table.
_SMALL_EVENTS: Final = 256
# The fast path must agree with the scorer's own methods to this absolute tolerance on the probe batch.
_PARITY_ATOL: Final = 1e-9
# The scorer's post-processing, as in `LeadScorer.predict_features` and `ProbabilityCalibrator.predict`;
# `FastPath.build` and `fast_calibrator` check that they still agree.
_MIN_HOURS: Final = 0.1
_CAL_EPS: Final = 1e-6

Objective = Literal["closes", "value"]


@dataclass(frozen=True)
class Predictions:
    """Per lead (request order): the three estimates, the contributions and what the wording needs."""

    p_close: np.ndarray
    expected_hours: np.ndarray
    expected_days: np.ndarray
    contributions: np.ndarray  # leads x model columns, log-odds
    values: np.ndarray  # leads x model columns, before "never" is filled in
    categories: dict[str, np.ndarray]  # categorical column -> value as text ("" when unknown)


class Predictor:
    """The scorer's own (slower) path: the reference the fast path is checked against."""

    def __init__(self, scorer: LeadScorer, columns: list[str]) -> None:
        self.scorer = scorer
        self.columns = columns

    def predict(self, X: pd.DataFrame) -> Predictions:
        scored = self.scorer.predict_features(X)
        contributions = self.scorer.contributions(X)[self.columns].to_numpy(dtype=np.float64)
        values, categories = _values(X, self.columns)
        return Predictions(
            p_close=scored["p_close"].to_numpy(dtype=np.float64),
            expected_hours=scored["expected_hours"].to_numpy(dtype=np.float64),
            expected_days=scored["expected_days_to_close"].to_numpy(dtype=np.float64),
            contributions=contributions,
            values=values,
            categories=categories,
        )


class FastPath(Predictor):
    """One float matrix per request, each LightGBM booster called directly on it."""

    def __init__(self, scorer: LeadScorer, columns: list[str], fill: np.ndarray) -> None:
        super().__init__(scorer, columns)
        self.fill = fill  # per model column: the value "never" becomes (NaN: left missing)
        self._has_fill = ~np.isnan(fill)
        dtypes = scorer.features.feature_schema_.dtypes
        self._float_cols = [col for col in columns if dtypes[col] != CATEGORY_DTYPE]
        self._float_pos = np.array([i for i, col in enumerate(columns) if dtypes[col] != CATEGORY_DTYPE])
        self._cat_cols = [(i, col) for i, col in enumerate(columns) if dtypes[col] == CATEGORY_DTYPE]
        # Row of each model column in `EngagementFeatures.transform_columns`' output (features x leads).
        position = {name: k for k, name in enumerate(scorer.features.feature_schema_.feature_names)}
        self._rows = np.array([position[col] for col in columns], dtype=np.intp)
        self._seen_columns: pd.Index | None = None
        # Category names per categorical column, plus "" for the code -1 (missing or unseen).
        self._cat_text = {
            col: np.append(np.asarray(scorer.features.category_dtypes_[col].categories, dtype=object), "")
            for _, col in self._cat_cols
        }
        self._calibrate = fast_calibrator(scorer.calibrator)
        self._float_take = np.empty(0, dtype=np.intp)
        self._classifier = scorer.classifier.booster_
        self._hours = scorer.hours_model.booster_ if scorer.hours_model is not None else None
        self._days = scorer.days_model.booster_ if scorer.days_model is not None else None
        self._remaps: dict[int, list[np.ndarray]] = {}
        for booster in (self._classifier, self._hours, self._days):
            if booster is not None:
                remaps = _category_remaps(scorer, booster, columns, self._cat_cols)
                # Boosters trained on the same frame code categories alike: they can share one input matrix.
                same = next((r for r in self._remaps.values() if _equal_arrays(r, remaps)), remaps)
                self._remaps[id(booster)] = same
        # The contributions of a prediction add up to its raw score (log-odds): for a plain binary objective
        # the probability follows from them, which spares a second pass over the trees.
        self._proba_from_contributions = _plain_binary(self._classifier)
        # None when the booster has something the pattern path does not replicate, or it disagrees with
        # LightGBM on its own probe (logged): then every request uses LightGBM's pred_contrib.
        self._patterns = pattern_contributions(self._classifier)
        # One-lead requests skip `Booster.predict`'s per-call set-up (`build` checks them on every probe row).
        self._single: dict[tuple[int, Kind], SingleRow] = {}
        kinds: list[tuple[Any, Kind]] = [(self._classifier, "contrib"), (self._hours, "normal"), (self._days, "normal")]
        for booster, kind in kinds:
            if booster is not None and (predictor := single_row(booster, kind)) is not None:
                self._single[(id(booster), kind)] = predictor

    @classmethod
    def build(cls, scorer: LeadScorer) -> Predictor:
        """The fast path if it reproduces the scorer on a probe batch, else the scorer's own path."""
        batch = probe_batch(scorer.features.feature_schema_)
        probe = scorer.transform(batch)
        columns = list(scorer.model_input(probe.iloc[:0]).columns)
        reference = Predictor(scorer, columns)
        try:
            fast = cls(scorer, columns, _fill_values(scorer, probe, columns))
            expected = reference.predict(probe)
            # Both ways in: the feature frame, and the features' arrays (what the service scores).
            values = scorer.features.transform_columns(scorer.features.columns_of(batch)[1])
            # And one lead at a time (one-lead requests take their own way through LightGBM).
            one_by_one = [fast.predict_values(values[:, [i]]) for i in range(values.shape[1])]
            mismatch = (
                _mismatch(fast.predict(probe), expected)
                or _mismatch(fast.predict_values(values), expected)
                or _mismatch(_concatenate(one_by_one), expected)
            )
        except (AttributeError, KeyError, ValueError, TypeError) as exc:
            mismatch = f"{type(exc).__name__}: {exc}"
        if mismatch:
            log.warning("scoring through the scorer's own (slower) methods: the fast path %s", mismatch)
            return reference
        return fast

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The model columns as floats; categorical ones as the features' category codes (-1: missing)."""
        if X.columns is not self._seen_columns:
            # The transformer hands out the same columns Index every call: map positions once per Index.
            floats = X.select_dtypes(include="float64").columns
            self._float_take = floats.get_indexer(pd.Index(self._float_cols))
            if (self._float_take < 0).any():
                raise ValueError("the feature frame lacks model columns")
            self._seen_columns = X.columns
        M = np.empty((len(X), len(self.columns)), dtype=np.float64)
        if len(self._float_cols):
            block = X.select_dtypes(include="float64").to_numpy(dtype=np.float64, na_value=np.nan)
            M[:, self._float_pos] = block[:, self._float_take]
        for i, col in self._cat_cols:
            M[:, i] = X[col].array.codes
        return M

    def _for(self, booster: Any, M: np.ndarray, filled: np.ndarray) -> np.ndarray:
        out = filled.copy() if self._cat_cols else filled
        for (i, _), remap in zip(self._cat_cols, self._remaps[id(booster)], strict=True):
            codes = remap[M[:, i].astype(np.int64)]  # index -1 picks the appended "missing"
            out[:, i] = np.where(codes < 0, np.nan, codes)
        return out

    def predict(self, X: pd.DataFrame) -> Predictions:
        return self.predict_matrix(self.matrix(X))

    def predict_values(self, values: np.ndarray) -> Predictions:
        """Predictions from `EngagementFeatures.transform_columns`' output (features x leads)."""
        return self.predict_matrix(values[self._rows].T.copy())

    def predict_matrix(self, M: np.ndarray) -> Predictions:
        """Predictions from the model columns as floats (leads x columns, C order; categorical columns hold
        the features' category codes, -1: missing)."""
        n = len(M)
        filled = np.where(np.isnan(M) & self._has_fill, self.fill, M)
        threads = {"num_threads": 1} if n < _SINGLE_THREAD_BELOW else {}
        inputs: dict[int, np.ndarray] = {}

        def input_for(booster: Any) -> np.ndarray:
            key = id(self._remaps[id(booster)])
            if key not in inputs:
                inputs[key] = self._for(booster, M, filled)
            return inputs[key]

        def run(booster: Any, kind: Kind = "normal") -> np.ndarray:
            X = input_for(booster)
            single = self._single.get((id(booster), kind)) if n == 1 else None
            if single is not None:
                out = single(X[0])
                return out if kind == "contrib" else out[0]
            return np.asarray(booster.predict(X, pred_contrib=kind == "contrib", **threads), dtype=np.float64)

        if self._patterns is not None and n >= _PATTERNS_FROM:
            contributions = self._patterns(input_for(self._classifier))
        else:
            contributions = run(self._classifier, "contrib")
        if self._proba_from_contributions:
            raw = 1.0 / (1.0 + np.exp(-contributions.sum(axis=1)))
        else:
            raw = run(self._classifier)
        p_close = self._calibrate(raw)
        if self._hours is not None:
            hours = np.maximum(run(self._hours), _MIN_HOURS)
        else:
            hours = np.full(n, float(self.scorer.default_hours))
        days = np.maximum(np.expm1(run(self._days)), 0.0) if self._days is not None else np.full(n, np.nan)
        categories = {col: self._cat_text[col][M[:, i].astype(np.int64)] for i, col in self._cat_cols}
        values = M.copy()
        for i, _ in self._cat_cols:
            values[:, i] = np.nan  # codes are not values; the wording reads `categories`
        return Predictions(
            p_close=np.asarray(p_close, dtype=np.float64),
            expected_hours=np.asarray(hours, dtype=np.float64),
            expected_days=np.asarray(days, dtype=np.float64),
            contributions=contributions[:, :-1],
            values=values,
            categories=categories,
        )


def fast_calibrator(calibrator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The calibrator's mapping without scikit-learn's per-call input checks (a third of the time of
    scoring one lead), if it reproduces `calibrator.predict` on a grid of raw probabilities; else
    `calibrator.predict` itself."""
    method = getattr(calibrator, "method", None)
    model: Any = getattr(calibrator, "model_", None)
    fast: Callable[[np.ndarray], np.ndarray] | None = None
    if method == "sigmoid" and hasattr(model, "coef_") and hasattr(model, "intercept_"):
        slope, intercept = float(model.coef_.ravel()[0]), float(model.intercept_.ravel()[0])

        def fast(raw: np.ndarray) -> np.ndarray:
            p = 1.0 / (1.0 + np.exp(-(slope * logit(raw) + intercept)))
            return np.clip(p, _CAL_EPS, 1 - _CAL_EPS)

    elif method == "isotonic" and hasattr(model, "X_thresholds_") and hasattr(model, "y_thresholds_"):
        xs, ys = np.asarray(model.X_thresholds_), np.asarray(model.y_thresholds_)

        def fast(raw: np.ndarray) -> np.ndarray:
            return np.clip(np.interp(np.clip(raw, xs[0], xs[-1]), xs, ys), _CAL_EPS, 1 - _CAL_EPS)

    elif method == "none":

        def fast(raw: np.ndarray) -> np.ndarray:
            return np.clip(np.asarray(raw, dtype=np.float64), _CAL_EPS, 1 - _CAL_EPS)

    grid = np.concatenate([[0.0, 1e-12, 1e-7, 1 - 1e-7, 1 - 1e-12, 1.0], np.linspace(0.0, 1.0, 2001)])
    reference = np.asarray(calibrator.predict(grid), dtype=np.float64)
    if fast is not None and np.allclose(fast(grid), reference, rtol=0.0, atol=_PARITY_ATOL):
        return fast
    log.info("calibrator %r has no fast path; using its own predict", method)
    return lambda raw: np.asarray(calibrator.predict(raw), dtype=np.float64)


def _category_text(values: pd.Series) -> np.ndarray:
    categorical = values.array
    cats = np.append(np.asarray(categorical.categories, dtype=object), "")
    return np.asarray(cats[categorical.codes], dtype=object)


def _values(X: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    values = np.full((len(X), len(columns)), np.nan)
    categories: dict[str, np.ndarray] = {}
    for i, col in enumerate(columns):
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            categories[col] = _category_text(X[col])
        else:
            values[:, i] = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
    return values, categories


def _equal_arrays(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _plain_binary(booster: Any) -> bool:
    """Whether the booster's probability is the logistic function of its raw score (binary objective, sigmoid
    1); `FastPath.build` checks the result against the scorer's own on a probe batch either way."""
    params = getattr(booster, "params", None) or {}
    return bool(params.get("objective") == "binary" and float(params.get("sigmoid", 1.0)) == 1.0)


def _category_remaps(
    scorer: LeadScorer, booster: Any, columns: list[str], cat_cols: list[tuple[int, str]]
) -> list[np.ndarray]:
    """Per categorical column: the booster's code for each of the features' category codes (-1: unknown)."""
    if list(booster.feature_name()) != columns:
        raise ValueError("the booster's feature names differ from the model input's columns")
    trained = booster.pandas_categorical or []
    if len(trained) != len(cat_cols):
        raise ValueError(f"booster has {len(trained)} categorical features, the model input {len(cat_cols)}")
    remaps = []
    for (_, col), booster_cats in zip(cat_cols, trained, strict=True):
        ours = list(scorer.features.category_dtypes_[col].categories)
        position = {str(cat): k for k, cat in enumerate(booster_cats)}
        remaps.append(np.array([position.get(str(cat), -1) for cat in ours] + [-1], dtype=np.int64))
    return remaps


def _fill_values(scorer: LeadScorer, probe: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """What `LeadScorer.model_input` puts in place of a missing value, per model column (NaN: nothing)."""
    blank = probe.iloc[:1].copy()
    dtypes = scorer.features.feature_schema_.dtypes
    for col in blank.columns:
        if dtypes[col] != CATEGORY_DTYPE:
            blank[col] = np.nan
    filled = scorer.model_input(blank)
    return np.array(
        [np.nan if dtypes[col] == CATEGORY_DTYPE else float(filled[col].iloc[0]) for col in columns],
        dtype=np.float64,
    )


def _concatenate(parts: list[Predictions]) -> Predictions:
    return Predictions(
        **{
            name: np.concatenate([getattr(part, name) for part in parts])
            for name in ("p_close", "expected_hours", "expected_days", "contributions", "values")
        },
        categories={col: np.concatenate([part.categories[col] for part in parts]) for col in parts[0].categories},
    )


def _mismatch(fast: Predictions, reference: Predictions) -> str | None:
    for name in ("p_close", "expected_hours", "expected_days", "contributions"):
        a, b = getattr(fast, name), getattr(reference, name)
        if a.shape != b.shape or not np.allclose(a, b, rtol=0.0, atol=_PARITY_ATOL, equal_nan=True):
            return f"disagrees with the scorer on {name}"
    return None


def probe_batch(schema: FeatureSchema) -> LeadBatch:
    """A few synthetic leads that touch every event type, window, category and missing value of the schema."""
    as_of = pd.Timestamp("2026-01-01")
    n = 6
    leads: dict[str, Any] = {
        c.LEAD_ID: [f"probe-{i}" for i in range(n)],
        c.CREATED_AT: [as_of - pd.Timedelta(days=d) for d in (3, 20, 60, 400, 1, 30)],
        AS_OF: [as_of] * n,
    }
    for spec in schema.attributes:
        if spec.kind == "numeric":
            leads[spec.column] = [10.0, 120.0, None, 5000.0, 0.0, 40.0]
        else:
            cats = list(schema.categories.get(spec.feature, ())) or ["x"]
            leads[spec.column] = [cats[i % len(cats)] if i != 2 else None for i in range(n)]
    if c.SOURCE not in leads:
        leads[c.SOURCE] = ["unknown"] * n
    rows = []
    types = [*schema.stage_map, "probe_unknown_type"]
    for i in range(n - 1):  # the last lead has no events
        for k, event_type in enumerate(types):
            for age in (0.5, 5.0, 20.0, 70.0, 300.0)[: 1 + (i + k) % 5]:
                rows.append((f"probe-{i}", as_of - pd.Timedelta(days=age + i), event_type, f"asset-{k % 4}"))
    events = pd.DataFrame(rows, columns=[c.EVENT_LEAD_ID, c.TS, c.EVENT_TYPE, c.ASSET])
    events[c.TS] = events[c.TS].astype(c.TIMESTAMP_DTYPE)
    leads_frame = pd.DataFrame(leads)
    for col in (c.CREATED_AT, AS_OF):
        leads_frame[col] = leads_frame[col].astype(c.TIMESTAMP_DTYPE)
    return LeadBatch(leads_frame, events.astype({c.EVENT_LEAD_ID: "str", c.EVENT_TYPE: "str", c.ASSET: "str"}))


# --- the engine ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRows:
    """What the prediction log records for one request (one row per lead)."""

    request_id: str
    endpoint: str
    model_version: str
    lead_ids: Sequence[str]
    p_close: np.ndarray
    stage: Sequence[str | None] | None = None
    assigned_to: Sequence[str | None] | None = None


@dataclass(frozen=True)
class Answer:
    """A JSON-ready response body and the rows to log before it is sent."""

    body: dict[str, Any]
    log_rows: LogRows


class ScoringEngine:
    """Scores validated requests with one loaded model. Safe to share between threads: after `__init__` the
    only state that changes is an idempotent cache of column positions.

    Raises `ModelStoreError` when the model cannot score a probe batch (e.g. a model pickled by an
    incompatible version of the features code), so a broken model stops the service at start-up instead of
    failing every request.
    """

    def __init__(self, scorer: LeadScorer, model_version: str, limits: Limits) -> None:
        self.scorer = scorer
        self.model_version = model_version
        self.limits = limits
        try:
            self.schema: FeatureSchema = scorer.features.feature_schema_
            self.predictor = FastPath.build(scorer)
        except Exception as exc:  # whatever an incompatible pickle throws, the message must say what to do
            raise ModelStoreError(
                f"model version {model_version} cannot score with this version of leadrank "
                f"({type(exc).__name__}: {exc}); retrain it with `leadrank train` or serve another version"
            ) from exc
        self.reasons = ReasonWriter(self.predictor.columns, self.schema)
        self.last_events = LastEvents(self.reasons.event_types)

    @property
    def fast(self) -> bool:
        return isinstance(self.predictor, FastPath)

    def _predict(self, leads: Sequence[Lead], now_us: int) -> tuple[PreparedLeads, Predictions, list[list[Any]]]:
        prepared = prepare(leads, self.schema, self.limits, now_us)
        try:
            if isinstance(self.predictor, FastPath):
                # Straight from the request's arrays: no DataFrames on the way (most of the time of one lead).
                values = self.scorer.features.transform_columns(prepared.columns)
                predictions = self.predictor.predict_values(values)
            else:
                predictions = self.predictor.predict(self.scorer.transform(prepared.batch))
        except FeatureInputError as exc:  # the checks above should leave nothing for the features to refuse
            raise RequestError(400, f"cannot compute features: {exc}", [Problem("leads", str(exc))]) from None
        inputs = ReasonInputs(
            values=predictions.values,
            categories=predictions.categories,
            last_days=self.last_events(prepared),
        )
        return prepared, predictions, self.reasons.explain(predictions.contributions, inputs)

    def score(self, leads: Sequence[Lead], now_us: int) -> Answer:
        prepared, pred, reasons = self._predict(leads, now_us)
        request_id = uuid.uuid4().hex
        body = {
            "request_id": request_id,
            "model_version": self.model_version,
            "leads": [
                {"lead_id": i, "p_close": p, "expected_hours": h, "expected_days_to_close": d, "reasons": r}
                for i, p, h, d, r in zip(
                    prepared.lead_ids,
                    pred.p_close.tolist(),
                    pred.expected_hours.tolist(),
                    pred.expected_days.tolist(),
                    reasons,
                    strict=True,
                )
            ],
            "warnings": prepared.warnings,
        }
        return Answer(body, LogRows(request_id, "score", self.model_version, prepared.lead_ids, pred.p_close))

    def rank(
        self,
        leads: Sequence[Lead],
        capacity: CapacitySpec,
        objective: Objective,
        horizon_days: float | None,
        now_us: int,
    ) -> Answer:
        problems = self._capacity_problems(capacity)
        if problems:
            raise RequestError(400, "invalid capacity", problems)
        prepared, pred, reasons = self._predict(leads, now_us)
        scored = self._scored_frame(prepared, pred, capacity, objective, horizon_days)
        try:
            result = hand_off(scored, capacity, objective=objective, horizon_days=horizon_days)
        except HandoffError as exc:
            raise RequestError(400, f"cannot hand off: {exc}", [Problem("capacity", str(exc))]) from None
        frame = result.leads
        position = pd.Index(prepared.lead_ids).get_indexer(pd.Index(frame[c.LEAD_ID]))
        ordered_reasons = [reasons[k] for k in position.tolist()]
        stage = frame["stage"].tolist()
        assigned = frame["assigned_to"].astype(object).where(frame["assigned_to"].notna(), None).tolist()
        request_id = uuid.uuid4().hex
        summary = result.summary.to_dict()
        body = {
            "request_id": request_id,
            "model_version": self.model_version,
            "statement": summary["statement"],
            "summary": summary,
            "leads": [
                {
                    "rank": rank,
                    "lead_id": lead_id,
                    "stage": st,
                    "assigned_to": rep,
                    "p_close": p,
                    "expected_hours": h,
                    "expected_days_to_close": d,
                    "expected_value": v,
                    "closes_per_hour": cph,
                    "reasons": r,
                }
                for rank, lead_id, st, rep, p, h, d, v, cph, r in zip(
                    frame["rank"].tolist(),
                    frame[c.LEAD_ID].tolist(),
                    stage,
                    assigned,
                    frame["p_close"].tolist(),
                    frame["expected_hours"].tolist(),
                    frame["expected_days_to_close"].tolist(),
                    frame["expected_value"].tolist(),
                    frame["closes_per_hour"].tolist(),
                    ordered_reasons,
                    strict=True,
                )
            ],
            "warnings": prepared.warnings,
        }
        rows = LogRows(
            request_id,
            "rank",
            self.model_version,
            frame[c.LEAD_ID].tolist(),
            frame["p_close"].to_numpy(dtype=np.float64),
            stage,
            assigned,
        )
        return Answer(body, rows)

    def _capacity_problems(self, capacity: CapacitySpec) -> list[Problem]:
        known = set(self.schema.attribute_columns) | {c.SOURCE}
        return [
            Problem(
                f"capacity.team[{k}].segments.{column}",
                f"'{column}' is not a lead attribute of this model (known: {', '.join(sorted(known))})",
            )
            for k, rep in enumerate(capacity.team or [])
            for column in rep.segments
            if column not in known
        ]

    def _scored_frame(
        self,
        prepared: PreparedLeads,
        pred: Predictions,
        capacity: CapacitySpec,
        objective: Objective,
        horizon_days: float | None,
    ) -> pd.DataFrame:
        if objective == "value":
            missing = np.flatnonzero(np.isnan(prepared.deal_value))
            if len(missing):
                raise RequestError(
                    400,
                    f"objective 'value' needs a deal_value on every lead; {len(missing)} lead(s) have none",
                    [Problem(f"leads[{i}].deal_value", "required for objective 'value'") for i in missing],
                )
        if horizon_days is not None and np.isnan(pred.expected_days).all():
            raise RequestError(
                400,
                "horizon_days needs an estimate of days to close, which this model does not have (it was "
                "trained without close dates)",
                [Problem("horizon_days", "not supported by this model; leave it out")],
            )
        columns: dict[str, Any] = {
            c.LEAD_ID: pd.array(prepared.lead_ids, dtype="str"),
            "p_close": pred.p_close,
            "expected_hours": pred.expected_hours,
            "expected_days_to_close": pred.expected_days,
        }
        if not np.isnan(prepared.deal_value).all():
            columns[c.DEAL_VALUE] = prepared.deal_value
        for column in capacity.segment_columns():
            if column == c.SOURCE:
                columns[column] = _segment_text(str_array(prepared.sources))
            elif column in prepared.attributes:
                columns[column] = _segment_text(prepared.attribute_column(column))
            else:  # nobody sent it: no lead is in that segment
                columns[column] = pd.array([None] * len(prepared.lead_ids), dtype="str")
        return pd.DataFrame(columns)


def _segment_text(values: Any) -> Any:
    """An attribute column as the text segments are matched against: 50.0 reads "50", like the spec's 50."""
    if not (isinstance(values, np.ndarray) and values.dtype.kind == "f"):
        return values
    whole = np.isfinite(values) & (np.abs(values) < 2**53) & (values == np.round(values))
    text = np.where(whole, np.where(whole, values, 0).astype(np.int64).astype(str), values.astype(str)).astype(object)
    text[np.isnan(values)] = None
    return pd.array(text, dtype="str")


class LastEvents:
    """Days since each lead's last event of each of `event_types` (before its as_of); NaN when there is none."""

    def __init__(self, event_types: Sequence[str]) -> None:
        self.event_types = list(event_types)
        self._slot = {event_type: k for k, event_type in enumerate(self.event_types)}
        self._value_set = pa.array(self.event_types, type=pa.large_string())

    def __call__(self, prepared: PreparedLeads) -> dict[str, np.ndarray]:
        n, t = len(prepared.lead_ids), len(self.event_types)
        if t == 0:
            return {}
        columns = prepared.columns
        types = columns.event_types
        if len(types) <= _SMALL_EVENTS:
            # A dict lookup per event: Arrow's index_in builds a hash table of the types on every call.
            slot = np.array([self._slot.get(x, -1) for x in types.to_pylist()], dtype=np.int64)
        else:
            found = pc.index_in(types, value_set=self._value_set.cast(types.type)).fill_null(-1)
            slot = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
        lead = columns.event_lead
        age = columns.as_of_us[lead] - columns.event_ts_us
        keep = (slot >= 0) & (age > 0)
        youngest = np.full(n * t, _INT64_MAX, dtype=np.int64)
        np.minimum.at(youngest, lead[keep] * t + slot[keep], age[keep])
        days = np.where(youngest == _INT64_MAX, np.nan, youngest / _US_PER_DAY).reshape(n, t)
        return {event_type: days[:, k] for k, event_type in enumerate(self.event_types)}
