"""The fitted lead model: point-in-time features -> LightGBM classifier -> calibration, plus the selling-hours
and days-to-close heads. One object, one `predict`.

Training builds it, `leadrank rank`, the MLflow pyfunc and the BentoML service load it from its stored form
(`model.store`) and call `predict`; nothing else computes a probability. The input of every booster is one float
matrix, `ModelInput.matrix`, in training and in prediction alike: the modelled feature columns, "never happened"
filled in as a long time ago, categorical columns as the features' own category codes (missing: NaN).

How `predict` calls LightGBM is private and depends on the request's size: one lead through LightGBM's single-row
C API (`model._single_row`), which skips `Booster.predict`'s per-call set-up; contributions of big batches through
`model._patterns` (LightGBM asked once per tree and decision pattern instead of once per lead); everything else
through `Booster.predict`. All of these read the same matrix and the same boosters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import numpy as np
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

from features import contract as c
from features.contract import LeadBatch
from features.engagement import EngagementFeatures, LeadColumns
from features.schema import CATEGORY_DTYPE, FeatureSchema
from model._patterns import PatternContributions, UnsupportedBooster
from model._single_row import Kind, SingleRow, single_row
from model.calibration import Calibrator, logit
from model.groups import FeatureGroup, feature_groups
from model.reference import Reference

log = logging.getLogger(__name__)

# "Never happened" is as far in the past as it gets: a finite stand-in lets LightGBM keep recency monotone (a
# missing value could otherwise be sent to either side of a split, so a first demo request could lower a score).
NEVER_DAYS: Final = 10_000.0
# Engagement velocity falls when an older event is added, so it cannot be monotone in "more engagement"; it is
# kept as a feature for people but not fed to the boosters.
_NOT_MODELLED: Final = ("velocity_",)
_FLAGS: Final = frozenset({"demo_requested", "trial_requested", "webinar_attended"})
# Below this many leads LightGBM's thread pool costs more than it saves (and competes with other workers).
_SINGLE_THREAD_BELOW: Final = 2000
# From this many leads the classifier's contributions come from `PatternContributions`; measured, it and
# LightGBM's pred_contrib on one thread cross near 300 leads.
_PATTERNS_FROM: Final = 500
_SCORED_COLUMNS: Final = pd.Index([c.LEAD_ID, "p_close", "expected_hours", "expected_days_to_close"])
# Per lead, the engagement groups measured by taking them away (the largest TreeSHAP shares among what the lead
# showed) and by adding one touch (the largest shortfalls among what it did not show); a lead gets at most 3
# reasons each way, so these leave room for other reasons to rank between them.
_MEASURED_SHOWN: Final = 4
_MEASURED_SHORTFALLS: Final = 3


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the (at most) `k` largest finite scores, as a mask."""
    if scores.shape[1] > k:
        cut = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        scores = np.where(scores >= cut, scores, -np.inf)
    return np.isfinite(scores)


class ModelInput:
    """Which features the boosters read, and how: the modelled columns in order, what a missing value becomes,
    the categorical columns and the monotone constraints. Derived from the feature schema alone."""

    def __init__(self, schema: FeatureSchema) -> None:
        names = list(schema.feature_names)
        self.columns = [name for name in names if not name.startswith(_NOT_MODELLED)]
        position = {name: k for k, name in enumerate(names)}
        self.rows = np.array([position[col] for col in self.columns], dtype=np.intp)
        self.categorical = [i for i, col in enumerate(self.columns) if schema.dtypes[col] == CATEGORY_DTYPE]
        self.fill = np.array([_fill_value(col) for col in self.columns], dtype=np.float64)
        self._has_fill = ~np.isnan(self.fill)
        self.monotone = [_monotone(col) for col in self.columns]

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """The boosters' input (leads x columns, float64, C order) from `EngagementFeatures.transform_columns`'
        output (features x leads): missing categories NaN, "never" filled in."""
        M = values[self.rows].T.copy()
        if self.categorical:
            cats = M[:, self.categorical]
            M[:, self.categorical] = np.where(cats < 0, np.nan, cats)
        return np.where(np.isnan(M) & self._has_fill, self.fill, M)


def _fill_value(column: str) -> float:
    if column.startswith("days_since_last_"):
        return NEVER_DAYS
    if column == "days_since_first_event":
        return 0.0
    return np.nan


def _monotone(column: str) -> int:
    """+1 for counts and flags, -1 for recency, 0 otherwise: more (or more recent) engagement never lowers a
    score, which is what marketing expects and what the model behaviour tests check."""
    if column.startswith("n_") or column in _FLAGS or column == "days_since_first_event":
        return 1
    if column.startswith("days_since_last_"):
        return -1
    return 0


@dataclass(frozen=True)
class FeatureValues:
    """Features already computed by `EngagementFeatures.transform_columns` (features x leads). Training computes
    the features of every lead once and scores subsets of them through `predict` without computing them again."""

    values: np.ndarray


@dataclass(frozen=True)
class Prediction:
    """Per lead (input order): the three estimates and, when asked for, what explains the probability."""

    p_close: np.ndarray
    expected_hours: np.ndarray
    expected_days: np.ndarray  # NaN when the model has no days-to-close head
    # With explain=True: the classifier's contributions (leads x `LeadModel.columns`, log-odds, without the bias
    # term), the effect of each feature group on p_close (leads x `LeadModel.groups`, see `LeadModel.predict`),
    # the feature values as computed (categorical columns NaN, "never" left missing) and each categorical
    # column's category as text ("" when missing or unseen).
    contributions: np.ndarray | None = None
    effects: np.ndarray | None = None
    values: np.ndarray | None = None
    categories: dict[str, np.ndarray] = field(default_factory=dict)

    def frame(self, lead_ids: Any) -> pd.DataFrame:
        """`lead_id`, `p_close`, `expected_hours`, `expected_days_to_close`: the scored table."""
        if isinstance(lead_ids, pd.Series) and lead_ids.dtype == "str":
            ids = lead_ids.array
        else:
            ids = pd.array(np.asarray(lead_ids).astype(str), dtype="str")
        estimates = np.vstack([self.p_close, self.expected_hours, self.expected_days]).astype(np.float64, copy=False)
        # One frame from ready-made blocks: the plain constructor costs more than the model for a single lead.
        return create_dataframe_from_blocks(
            [(ids, np.array([0])), (estimates, np.array([1, 2, 3]))],
            index=pd.RangeIndex(len(ids)),
            columns=_SCORED_COLUMNS,
        )


class LeadModel:
    """Everything needed to score a lead from its raw record and events.

    `classifier` is a LightGBM booster on `ModelInput.matrix`; `hours` and `days` are LightGBM regressors on the
    same matrix (days on log1p of days to close), None when the data had no hours / close dates, in which case
    `default_hours` / NaN is returned. `metadata` is JSON-safe facts about the training run; `reference` the
    distributions of its inputs and score on the leads it was fitted on (`model.reference`).
    """

    def __init__(
        self,
        features: EngagementFeatures,
        classifier: Any,
        calibrator: Calibrator,
        hours: Any = None,
        days: Any = None,
        default_hours: float = 1.0,
        metadata: dict[str, Any] | None = None,
        reference: Reference | None = None,
    ) -> None:
        self.features = features
        self.classifier = classifier
        self.calibrator = calibrator
        self.hours = hours
        self.days = days
        self.default_hours = float(default_hours)
        self.metadata = dict(metadata or {})
        # The training distributions monitoring compares later windows with (None: stored before they were kept).
        self.reference = reference
        self.input = ModelInput(features.feature_schema_)
        for name, booster in self.boosters.items():
            if list(booster.feature_name()) != self.input.columns:
                raise ValueError(f"the {name} booster's features differ from the model input's columns")
        self.groups: list[FeatureGroup] = feature_groups(self.input.columns, self.schema)
        membership = np.zeros((len(self.input.columns), len(self.groups)))
        for g, group in enumerate(self.groups):
            membership[list(group.columns), g] = 1.0
        self._membership = membership
        self._engaged = [(g, list(group.columns)) for g, group in enumerate(self.groups) if group.engagement]
        self._cat_text = {
            i: np.append(np.asarray(self.schema.categories[self.input.columns[i]], dtype=object), "")
            for i in self.input.categorical
        }
        # The contributions of a prediction add up to its raw score (log-odds): for a plain binary objective
        # the probability follows from them, which spares a second pass over the trees.
        params = getattr(classifier, "params", None) or {}
        self._proba_from_contributions = params.get("objective") == "binary" and float(params.get("sigmoid", 1)) == 1

    @property
    def schema(self) -> FeatureSchema:
        return self.features.feature_schema_

    @property
    def columns(self) -> list[str]:
        """The modelled feature columns: the columns of `Prediction.contributions` and `values`."""
        return self.input.columns

    @property
    def boosters(self) -> dict[str, Any]:
        heads = {"classifier": self.classifier, "hours": self.hours, "days": self.days}
        return {name: booster for name, booster in heads.items() if booster is not None}

    # --- the one prediction path -------------------------------------------------------------------------------

    def predict(self, X: LeadBatch | LeadColumns | FeatureValues, *, explain: bool = False) -> Prediction:
        """Score leads (a `LeadBatch`, or the `LeadColumns` a request was parsed into): calibrated probability to
        close, expected selling hours, expected days to close and, with `explain`, what moved the probability.

        The effect of a group (`groups`) is p_close minus p_close without it:
        - engagement the lead showed (event, stage, content counts): without = the same lead with those counts at
          zero, scored by the model. Every engagement feature has a non-decreasing monotone constraint, so this is
          never negative: what a lead did never counts against it.
        - engagement the lead did not show, where its TreeSHAP share is negative: without the shortfall = the same
          lead with one such touch (counts at 1), scored by the model; never positive.
        - everything else: without = the calibrated probability of the raw score minus the group's TreeSHAP
          share, i.e. against the average training lead.
        """
        if isinstance(X, FeatureValues):
            values = X.values
        else:
            values = self.features.transform_columns(
                X if isinstance(X, LeadColumns) else self.features.columns_of(X)[1]
            )
        M = self.input.matrix(values)
        n = len(M)
        contributions = self._contributions(M) if explain else None
        if contributions is not None and self._proba_from_contributions:
            # The contributions add up to the raw score: no second pass over the trees.
            raw = 1.0 / (1.0 + np.exp(-contributions.sum(axis=1)))
        else:
            raw = np.asarray(self._run(self.classifier, M, "normal"), dtype=np.float64)
        p_close = self.calibrator.predict(raw)
        if self.hours is not None:
            # Effort cannot be negative or zero: a lead always costs at least a short call.
            hours = np.maximum(self._run(self.hours, M, "normal"), c.MIN_HOURS)
        else:
            hours = np.full(n, self.default_hours)
        days = np.maximum(np.expm1(self._run(self.days, M, "normal")), 0.0) if self.days is not None else None
        expected_days = np.full(n, np.nan) if days is None else days
        if contributions is None:
            return Prediction(p_close=p_close, expected_hours=hours, expected_days=expected_days)
        contributions = contributions[:, :-1]  # without the bias term
        raw_values = values[self.input.rows].T.copy()  # as computed: "never" stays missing
        categories = {}
        for i in self.input.categorical:
            codes = raw_values[:, i].astype(np.int64)  # -1 picks the appended ""
            categories[self.input.columns[i]] = self._cat_text[i][codes]
            raw_values[:, i] = np.nan  # codes are not values; the wording reads `categories`
        return Prediction(
            p_close=p_close,
            expected_hours=hours,
            expected_days=expected_days,
            contributions=contributions,
            effects=self._effects(M, contributions, raw, p_close),
            values=raw_values,
            categories=categories,
        )

    def _effects(self, M: np.ndarray, contributions: np.ndarray, raw: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Leads x groups: p_close minus p_close without the group (see `predict`)."""
        n = len(M)
        shares = contributions @ self._membership
        without_share = self.calibrator.predict(
            1.0 / (1.0 + np.exp(-(logit(raw)[:, None] - shares))).reshape(-1)
        ).reshape(n, -1)
        effects = p[:, None] - without_share
        if not self._engaged:
            return effects
        # Engagement groups are measured on the model itself, in one batch of modified rows: what a lead showed is
        # taken away (its counts set to 0), what it did not show but leads like it gain from is added once (its
        # counts set to 1, as one such touch the day before would make them). Per lead, only the groups with the
        # largest TreeSHAP shares (showed) and the largest shortfalls (not showed) are measured; the others are
        # not reasons.
        engaged = [g for g, _ in self._engaged]
        showed = np.column_stack([(M[:, cols] > 0).any(axis=1) for _, cols in self._engaged])
        shortfall = ~showed & (effects[:, engaged] < 0)
        take_away = _top(np.where(showed, shares[:, engaged], -np.inf), _MEASURED_SHOWN)
        add_one = _top(np.where(shortfall, -effects[:, engaged], -np.inf), _MEASURED_SHORTFALLS)
        effects[:, engaged] = 0.0
        edits: list[tuple[int, np.ndarray]] = []
        blocks = []
        for j, (g, cols) in enumerate(self._engaged):
            for rows, value in ((np.flatnonzero(take_away[:, j]), 0.0), (np.flatnonzero(add_one[:, j]), 1.0)):
                if len(rows):
                    block = M[rows]
                    block[:, cols] = value
                    edits.append((g, rows))
                    blocks.append(block)
        if blocks:
            edited = self.calibrator.predict(self._run(self.classifier, np.concatenate(blocks), "normal"))
            start = 0
            for g, rows in edits:
                effects[rows, g] = p[rows] - edited[start : start + len(rows)]
                start += len(rows)
        return effects

    def predict_frame(self, batch: LeadBatch) -> pd.DataFrame:
        """`predict` of a `LeadBatch` as the scored table (one row a lead, in order)."""
        return self.predict(batch).frame(batch.leads[c.LEAD_ID])

    def _run(self, booster: Any, M: np.ndarray, kind: Kind) -> np.ndarray:
        if len(M) == 1 and (single := self._single_rows.get((id(booster), kind))) is not None:
            out = single(M[0])
            return out if kind == "contrib" else out[0]
        threads = {"num_threads": 1} if len(M) < _SINGLE_THREAD_BELOW else {}
        return np.asarray(booster.predict(M, pred_contrib=kind == "contrib", **threads), dtype=np.float64)

    def _contributions(self, M: np.ndarray) -> np.ndarray:
        """Leads x (columns + bias): the classifier's TreeSHAP contributions, log-odds."""
        if len(M) >= _PATTERNS_FROM and self._patterns is not None:
            return self._patterns(M)
        return self._run(self.classifier, M, "contrib")

    @cached_property
    def _single_rows(self) -> dict[tuple[int, Kind], SingleRow]:
        kinds: list[tuple[Any, Kind]] = [(self.classifier, "contrib"), (self.classifier, "normal")]
        kinds += [(booster, "normal") for booster in (self.hours, self.days) if booster is not None]
        return {
            (id(booster), kind): predictor
            for booster, kind in kinds
            if (predictor := single_row(booster, kind)) is not None
        }

    @cached_property
    def _patterns(self) -> PatternContributions | None:
        try:
            return PatternContributions(self.classifier)
        except UnsupportedBooster as exc:
            log.info("contributions through LightGBM's pred_contrib: the pattern path does not support %s", exc)
            return None
