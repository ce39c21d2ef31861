"""The fitted lead scorer: one object holding features -> classifier -> calibration, plus effort and
time-to-close models.

Training builds and logs it; serving loads the very same object, so the two cannot drift apart. It lives in
`features` (not `training`) because serving must be able to load it without importing the training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import LeadBatch
from features.engagement import EngagementFeatures

CalibrationMethod = Literal["isotonic", "sigmoid", "none"]

# Probabilities are kept inside (0, 1) so log loss and logit are finite for every lead.
_EPS = 1e-6
# "Never happened" is as far in the past as it gets: a finite stand-in lets LightGBM keep recency monotone (a
# missing value could otherwise be sent to either side of a split, so a first demo request could lower a score).
NEVER_DAYS = 10_000.0
# Engagement velocity falls when an older event is added, so it cannot be monotone in "more engagement"; it is
# kept as a feature for people but not fed to the classifier.
_NOT_MODELLED = ("velocity_",)


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


@dataclass
class ProbabilityCalibrator:
    """Maps a classifier's raw probability to a calibrated one (isotonic, or Platt scaling on the logit)."""

    method: CalibrationMethod = "isotonic"
    model_: Any = None

    def fit(self, raw: np.ndarray, y: np.ndarray) -> ProbabilityCalibrator:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        raw = np.asarray(raw, dtype=float)
        y = np.asarray(y, dtype=int)
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        elif self.method == "sigmoid":
            self.model_ = LogisticRegression(C=1e6).fit(logit(raw).reshape(-1, 1), y)
        else:
            self.model_ = None
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            p = self.model_.predict(raw)
        elif self.method == "sigmoid":
            p = self.model_.predict_proba(logit(raw).reshape(-1, 1))[:, 1]
        else:
            p = raw
        return np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)


@dataclass
class LeadScorer:
    """Everything needed to score a lead from its raw record and events.

    `classifier` is a fitted LightGBM classifier on the frame produced by `features`; `hours_model` and
    `days_model` are fitted LightGBM regressors on the same frame (None when the data had no hours / dates, in
    which case `default_hours` / NaN is returned).
    """

    features: EngagementFeatures
    classifier: Any
    calibrator: ProbabilityCalibrator
    hours_model: Any = None
    default_hours: float = 1.0
    days_model: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def transform(self, batch: LeadBatch) -> pd.DataFrame:
        return self.features.transform(batch)

    @staticmethod
    def model_input(X: pd.DataFrame) -> pd.DataFrame:
        """The classifier's view of the feature frame: recency of nothing is "very long ago", velocity dropped."""
        cols = [col for col in X.columns if not col.startswith(_NOT_MODELLED)]
        Xm = X[cols].copy()
        for col in cols:
            if col.startswith("days_since_last_"):
                Xm[col] = Xm[col].fillna(NEVER_DAYS)
            elif col == "days_since_first_event":
                Xm[col] = Xm[col].fillna(0.0)
        return Xm

    @staticmethod
    def monotone_constraints(Xm: pd.DataFrame) -> list[int]:
        """+1 for counts and flags, -1 for recency, 0 otherwise: more (or more recent) engagement never lowers a
        score, which is what marketing expects and what the model behaviour tests check."""
        flags = {"demo_requested", "trial_requested", "webinar_attended"}
        out = []
        for col in Xm.columns:
            if col.startswith("n_") or col in flags or col == "days_since_first_event":
                out.append(1)
            elif col.startswith("days_since_last_"):
                out.append(-1)
            else:
                out.append(0)
        return out

    def raw_proba(self, Xm: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classifier.predict_proba(Xm)[:, 1], dtype=float)

    def predict_features(self, X: pd.DataFrame) -> pd.DataFrame:
        """Score an already-built feature frame (index = lead_id)."""
        X = self.model_input(X)
        p = self.calibrator.predict(self.raw_proba(X))
        if self.hours_model is not None:
            # Effort cannot be negative or zero: a lead always costs at least a short call.
            hours = np.maximum(np.asarray(self.hours_model.predict(X), dtype=float), 0.1)
        else:
            hours = np.full(len(X), float(self.default_hours))
        if self.days_model is not None:
            days = np.maximum(np.expm1(np.asarray(self.days_model.predict(X), dtype=float)), 0.0)
        else:
            days = np.full(len(X), np.nan)
        return pd.DataFrame(
            {
                c.LEAD_ID: X.index.astype(str),
                "p_close": p,
                "expected_hours": hours,
                "expected_days_to_close": days,
            }
        ).reset_index(drop=True)

    def predict(self, batch: LeadBatch) -> pd.DataFrame:
        """Score raw leads: `lead_id`, `p_close`, `expected_hours`, `expected_days_to_close`."""
        return self.predict_features(self.transform(batch))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's own per-prediction feature contributions (log-odds), one column per modelled feature."""
        X = self.model_input(X)
        contrib = self.classifier.booster_.predict(X, pred_contrib=True)
        return pd.DataFrame(contrib[:, :-1], columns=list(X.columns), index=X.index)
