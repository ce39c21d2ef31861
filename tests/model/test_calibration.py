"""The calibrator: its own arithmetic on the fitted parameters equals scikit-learn's, and its stored form."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from model.calibration import CalibrationError, Calibrator


def _data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.beta(1, 6, 2000)
    return raw, (rng.random(2000) < raw * 1.3).astype(int)


def _grid() -> np.ndarray:
    return np.concatenate([[0.0, 1e-12, 1e-9, 0.5, 1 - 1e-9, 1.0], np.random.default_rng(2).random(500)])


def test_isotonic_equals_scikit_learns() -> None:
    from sklearn.isotonic import IsotonicRegression

    raw, y = _data()
    cal = Calibrator("isotonic").fit(raw, y)
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y).predict(_grid())
    np.testing.assert_allclose(cal.predict(_grid()), np.clip(reference, 1e-6, 1 - 1e-6), rtol=0, atol=1e-12)


def test_platt_equals_scikit_learns_and_exposes_a_and_b() -> None:
    from sklearn.linear_model import LogisticRegression

    raw, y = _data()
    cal = Calibrator("sigmoid").fit(raw, y)
    q = np.clip(raw, 1e-6, 1 - 1e-6)
    lr = LogisticRegression(C=1e6).fit(np.log(q / (1 - q)).reshape(-1, 1), y)
    assert cal.a_ == pytest.approx(float(lr.coef_[0, 0])) and cal.b_ == pytest.approx(float(lr.intercept_[0]))
    g = np.clip(_grid(), 1e-6, 1 - 1e-6)
    expected = np.clip(lr.predict_proba(np.log(g / (1 - g)).reshape(-1, 1))[:, 1], 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(cal.predict(_grid()), expected, rtol=0, atol=1e-12)


def test_none_only_clips() -> None:
    assert Calibrator("none").fit(*_data()).predict(np.array([0.0, 0.3, 1.0])).tolist() == [1e-6, 0.3, 1 - 1e-6]


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_the_stored_form_gives_the_same_predictions(method: Any) -> None:
    import json

    cal = Calibrator(method).fit(*_data(3))
    back = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(back.predict(_grid()), cal.predict(_grid()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        ({"method": "magic"}, "key 'method'"),
        ({"method": "sigmoid", "a": "1", "b": 0.0}, "key 'a'"),
        ({"method": "sigmoid", "a": 1.0}, "key 'b'"),
        ({"method": "isotonic", "x_thresholds": [0, 1], "y_thresholds": [0.1]}, "equal, non-zero lengths"),
        ({"method": "isotonic", "x_thresholds": [1, 0], "y_thresholds": [0.1, 0.2]}, "sorted"),
        ({"method": "isotonic", "x_thresholds": [0, None], "y_thresholds": [0.1, 0.2]}, "key 'x_thresholds'"),
    ],
)
def test_a_malformed_stored_form_is_refused_naming_the_key(data: Any, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        Calibrator.from_dict(data)
