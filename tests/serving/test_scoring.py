"""The scoring engine's fast path against the scorer's own methods, and its guards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from features.contract import LeadBatch
from features.scorer import ProbabilityCalibrator
from serving.errors import ModelStoreError
from serving.inputs import Limits
from serving.scoring import FastPath, Predictor, ScoringEngine, fast_calibrator
from tests.serving.conftest import Trained

# These use the session's trained model (a real MLflow store) and the in-process service.
pytestmark = pytest.mark.integration


def test_fast_path_reproduces_the_scorer(instance: Any, trained: Trained) -> None:
    engine = instance.engine
    assert isinstance(engine.predictor, FastPath)
    history = trained.history
    leads = history.leads.sample(400, random_state=5).reset_index(drop=True)
    # Scored at their decision time, with every kind of lead: closed, open, with and without events.
    batch = LeadBatch(leads, history.events)
    X = engine.scorer.transform(batch)
    reference = Predictor(engine.scorer, engine.predictor.columns).predict(X)
    # From the feature frame, and from the features' arrays (what the service scores).
    from_arrays = engine.predictor.predict_values(
        engine.scorer.features.transform_columns(engine.scorer.features.columns_of(batch)[1])
    )
    for fast in (engine.predictor.predict(X), from_arrays):
        for name in ("p_close", "expected_hours", "expected_days", "contributions"):
            np.testing.assert_allclose(getattr(fast, name), getattr(reference, name), rtol=0, atol=1e-9, err_msg=name)
        np.testing.assert_array_equal(fast.values, reference.values)  # NaN where never / categorical
        assert fast.categories.keys() == reference.categories.keys()
        for column, values in fast.categories.items():
            assert values.tolist() == reference.categories[column].tolist(), column


@pytest.mark.parametrize("method", ["isotonic", "sigmoid", "none"])
def test_fast_calibrator_is_exact(method: str) -> None:
    rng = np.random.default_rng(1)
    raw = rng.beta(1, 6, 2000)
    y = (rng.random(2000) < raw * 1.3).astype(int)
    calibrator = ProbabilityCalibrator(method).fit(raw, y)  # type: ignore[arg-type]
    fast = fast_calibrator(calibrator)
    grid = np.concatenate([[0.0, 1e-9, 0.5, 1 - 1e-9, 1.0], rng.random(500)])
    np.testing.assert_allclose(fast(grid), calibrator.predict(grid), rtol=0, atol=1e-12)


def test_a_calibrator_without_a_fast_path_is_used_as_it_is() -> None:
    class Odd:
        method = "odd"

        def predict(self, raw: np.ndarray) -> np.ndarray:
            return np.asarray(raw) ** 2

    assert fast_calibrator(Odd())(np.array([0.5])).tolist() == [0.25]


def test_a_model_that_cannot_score_stops_the_engine(instance: Any) -> None:
    class Broken:
        features = instance.engine.scorer.features

        def transform(self, batch: Any) -> Any:
            raise AttributeError("'EngagementFeatures' object has no attribute 'something_new_'")

    with pytest.raises(ModelStoreError, match="cannot score with this version of leadrank"):
        ScoringEngine(Broken(), "9", Limits(10, 10))  # type: ignore[arg-type]
