"""Fixtures of the model tests: the tiny edge-case boosters, and one small model trained in-process (no MLflow)."""

from __future__ import annotations

from typing import Any

import pytest

from model import LeadModel
from simulator import SimulatedHistory, simulate


@pytest.fixture(scope="session")
def boosters() -> dict[str, Any]:
    """The tiny boosters of `tests.model.tiny_boosters`, trained once."""
    from tests.model.tiny_boosters import BOOSTERS, train

    return {name: train(params, seed=k) for k, (name, params) in enumerate(BOOSTERS.items())}


@pytest.fixture(scope="session")
def history() -> SimulatedHistory:
    return simulate(n_leads=4000, seed=21)


@pytest.fixture(scope="session")
def lead_model(history: SimulatedHistory) -> LeadModel:
    from features.contract import LeadBatch
    from training.pipeline import TrainingData, TrainOptions, train

    return train(TrainingData(batch=LeadBatch(history.leads, history.events)), TrainOptions(seed=3)).model
