"""Where the training recipe's data lives: the closed leads, their features and the boosters fitted on them.

`training.pipeline.fit_recipe` (the backtest, the candidates, the refit) addresses closed leads by position in
`TrainingSet.closed` and never touches a feature matrix or an events table itself: it asks its training set for
the features of some rows, for a LightGBM fitted on some rows, for the leads of some rows with their events. The
single-process set below holds everything in memory; `engines.dask_training.DaskTrainingSet` keeps the events and
the features on the workers of a Dask cluster, partition by partition, and fits with `lightgbm.dask`. Both fit the
same `EngagementFeatures` and build the same `ModelInput` matrix, with the parameters of `training.candidates`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch
from features.engagement import EngagementFeatures
from model import ModelInput
from training import candidates as cand


class TrainingSet(Protocol):
    """The closed leads one training run learns from. `rows` are positions in `closed` (any order; results
    follow it); `target` arguments hold one value per closed lead, by position."""

    @property
    def closed(self) -> pd.DataFrame:
        """The closed leads (no `as_of`, no events), one row a lead: ordering, splits and targets read it."""
        ...

    def fit_features(self, features: EngagementFeatures) -> tuple[EngagementFeatures, list[str]]:
        """Fit `features` on the closed leads (categories gathered once), compute every closed lead's features,
        and return the fitted transformer with what in the input is worth a warning."""
        ...

    def values(self, rows: np.ndarray) -> np.ndarray:
        """`EngagementFeatures.transform_columns` output of these leads (features x rows), in memory."""
        ...

    def baseline_rows(self, rows: np.ndarray) -> np.ndarray:
        """The rows the in-memory baselines (naive Bayes, logistic regression) fit on, out of `rows`."""
        ...

    def batch(self, rows: np.ndarray) -> LeadBatch:
        """These leads (in order) with their events, in memory."""
        ...

    def points(self, rows: np.ndarray) -> np.ndarray:
        """The points-score baseline of these leads."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Sizes and a content hash of the whole data set (`training.pipeline.fingerprint`)."""
        ...

    def fit_classifier(
        self,
        rows: np.ndarray,
        val: np.ndarray,
        y: np.ndarray,
        seed: int,
        layout: cand.BoosterLayout,
        monotone: list[int],
        params: dict[str, Any] | None,
    ) -> Any:
        """A fitted `lightgbm.LGBMClassifier` on `rows`, early-stopped on `val`."""
        ...

    def fit_regressor(
        self, rows: np.ndarray, val: np.ndarray, target: np.ndarray, seed: int, layout: cand.BoosterLayout
    ) -> Any:
        """A fitted `lightgbm.LGBMRegressor` on `rows`, early-stopped on `val`."""
        ...

    def fit_rounds(
        self,
        rows: np.ndarray,
        target: np.ndarray,
        rounds: int,
        seed: int,
        layout: cand.BoosterLayout,
        *,
        classifier: bool,
        monotone: list[int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """A fitted LightGBM estimator on `rows` with exactly `rounds` rounds (no early stopping)."""
        ...


class InMemoryTrainingSet:
    """Every closed lead, its events and its features in this process: the single-process engine."""

    def __init__(self, closed: pd.DataFrame, events: pd.DataFrame, fingerprint: dict[str, Any]) -> None:
        self._closed = closed
        self._events = events
        self._fingerprint = fingerprint
        self._values: np.ndarray | None = None
        self._M: np.ndarray | None = None

    @property
    def closed(self) -> pd.DataFrame:
        return self._closed

    def fit_features(self, features: EngagementFeatures) -> tuple[EngagementFeatures, list[str]]:
        batch = LeadBatch(self._closed, self._events)
        # The vocabulary (categories) comes from every closed lead, as the refit sees them; no outcome is involved.
        features.fit(batch)
        _, columns = features.columns_of(batch)
        self._values = features.transform_columns(columns)
        self._M = ModelInput(features.feature_schema_).matrix(self._values)
        return features, input_warnings(features.inspect(batch))

    def values(self, rows: np.ndarray) -> np.ndarray:
        assert self._values is not None, "fit_features first"
        return self._values[:, rows]

    def baseline_rows(self, rows: np.ndarray) -> np.ndarray:
        return rows

    def batch(self, rows: np.ndarray) -> LeadBatch:
        return LeadBatch(self._closed.iloc[rows].reset_index(drop=True), self._events)

    def points(self, rows: np.ndarray) -> np.ndarray:
        return cand.points_score(self.batch(rows))

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint

    def _matrix(self) -> np.ndarray:
        assert self._M is not None, "fit_features first"
        return self._M

    def fit_classifier(
        self,
        rows: np.ndarray,
        val: np.ndarray,
        y: np.ndarray,
        seed: int,
        layout: cand.BoosterLayout,
        monotone: list[int],
        params: dict[str, Any] | None,
    ) -> Any:
        M = self._matrix()
        return cand.fit_lightgbm_classifier(M[rows], y[rows], M[val], y[val], seed, layout, monotone, params)

    def fit_regressor(
        self, rows: np.ndarray, val: np.ndarray, target: np.ndarray, seed: int, layout: cand.BoosterLayout
    ) -> Any:
        M = self._matrix()
        return cand.fit_lightgbm_regressor(M[rows], target[rows], M[val], target[val], seed, layout)

    def fit_rounds(
        self,
        rows: np.ndarray,
        target: np.ndarray,
        rounds: int,
        seed: int,
        layout: cand.BoosterLayout,
        *,
        classifier: bool,
        monotone: list[int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        M = self._matrix()
        return cand.fit_lightgbm_rounds(
            M[rows], target[rows], rounds, seed, layout, classifier=classifier, monotone=monotone, params=params
        )


def input_warnings(report: Any) -> list[str]:
    """What of a closed-leads input report is worth a warning in a training run. Events after the decision time
    (the post-decision touches) and events of open leads are expected in any history; only what would change the
    model's view of the data is reported."""
    report.events_at_or_after_as_of = 0
    report.events_unknown_lead = 0
    messages: list[str] = report.messages()
    return messages


def content_hash(leads: pd.DataFrame, events: pd.DataFrame) -> str:
    """A short hash of the two tables' contents."""
    h_leads = pd.util.hash_pandas_object(leads, index=False).to_numpy()
    h_events = pd.util.hash_pandas_object(events, index=False).to_numpy()
    return hashlib.sha256(h_leads.tobytes() + h_events.tobytes()).hexdigest()[:16]


def table_fingerprint(origin: str, leads: pd.DataFrame, n_events: int, digest: str) -> dict[str, Any]:
    """Sizes, dates and positive rate of a leads table, with the content hash of the data set."""
    closed = leads[c.OUTCOME].notna() if c.OUTCOME in leads else pd.Series(False, index=leads.index)
    won = (leads[c.OUTCOME] == c.WON) if c.OUTCOME in leads else closed
    fp: dict[str, Any] = {
        "origin": origin,
        "leads": len(leads),
        "events": n_events,
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
