"""Calibration of the classifier's raw probability: isotonic regression or Platt scaling on the logit.

scikit-learn fits it; the fitted parameters are then kept as plain attributes (Platt `a_`, `b_`; isotonic
`x_thresholds_`, `y_thresholds_`) and `predict` is a few array operations on them. That is what is stored with the
model (as JSON) and what every prediction uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, Self, cast

import numpy as np

CalibrationMethod = Literal["isotonic", "sigmoid", "none"]
METHODS: Final = ("isotonic", "sigmoid", "none")

# Probabilities are kept inside (0, 1) so log loss and logit are finite for every lead.
EPS: Final = 1e-6


class CalibrationError(ValueError):
    """Stored calibration parameters are malformed; the message names the key."""


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


class Calibrator:
    """Maps a raw probability to a calibrated one. `method`: "isotonic", "sigmoid" (Platt) or "none"."""

    def __init__(self, method: CalibrationMethod = "isotonic") -> None:
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Self:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        raw = np.asarray(raw, dtype=np.float64)
        y = np.asarray(y, dtype=int)
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
            self.x_thresholds_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.y_thresholds_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        elif self.method == "sigmoid":
            platt = LogisticRegression(C=1e6).fit(logit(raw).reshape(-1, 1), y)
            self.a_ = float(platt.coef_.ravel()[0])
            self.b_ = float(platt.intercept_.ravel()[0])
        elif self.method != "none":
            raise ValueError(f"unknown calibration method {self.method!r}; expected one of {list(METHODS)}")
        self.fitted_ = True
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "isotonic":
            xs, ys = self.x_thresholds_, self.y_thresholds_
            p = np.interp(np.clip(raw, xs[0], xs[-1]), xs, ys)
        elif self.method == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-(self.a_ * logit(raw) + self.b_)))
        else:
            p = raw
        return np.clip(p, EPS, 1 - EPS)

    # --- stored form ------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.method == "isotonic":
            out["x_thresholds"] = self.x_thresholds_.tolist()
            out["y_thresholds"] = self.y_thresholds_.tolist()
        elif self.method == "sigmoid":
            out["a"], out["b"] = self.a_, self.b_
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        if not isinstance(data, Mapping):
            raise CalibrationError(f"calibration: expected a JSON object, got {type(data).__name__}")
        method = data.get("method")
        if method not in METHODS:
            raise CalibrationError(f"calibration key 'method': expected one of {list(METHODS)}, got {method!r}")
        cal = cls(cast(CalibrationMethod, method))
        if method == "isotonic":
            xs, ys = _floats(data, "x_thresholds"), _floats(data, "y_thresholds")
            if len(xs) != len(ys) or len(xs) == 0:
                raise CalibrationError(
                    "calibration keys 'x_thresholds' and 'y_thresholds': need equal, non-zero lengths"
                )
            if np.any(np.diff(xs) < 0):
                raise CalibrationError("calibration key 'x_thresholds': must be sorted ascending")
            cal.x_thresholds_, cal.y_thresholds_ = xs, ys
        elif method == "sigmoid":
            a, b = data.get("a"), data.get("b")
            for key, value in (("a", a), ("b", b)):
                if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                    raise CalibrationError(f"calibration key '{key}': expected a finite number, got {value!r}")
            cal.a_, cal.b_ = float(cast(float, a)), float(cast(float, b))
        cal.fitted_ = True
        return cal


def _floats(data: Mapping[str, Any], key: str) -> np.ndarray:
    value = data.get(key)
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in value
    ):
        raise CalibrationError(f"calibration key '{key}': expected a list of finite numbers")
    return np.asarray(value, dtype=np.float64)
