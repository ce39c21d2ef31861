"""One small simulated history and one trained, registered model shared by the training tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leadrank.config import gate_policy, tracking_config
from leadrank.settings import Settings
from simulator import SimulatedHistory, simulate, write_history
from training.pipeline import TrainOptions, TrainResult, load_training_data
from training.tracking_run import train_and_log


@dataclass
class Trained:
    home: Path
    data_dir: Path
    history: SimulatedHistory
    settings: Settings
    result: TrainResult


@pytest.fixture(scope="session")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulatedHistory]:
    data_dir = tmp_path_factory.mktemp("history")
    history = simulate(n_leads=6000, seed=11)
    write_history(history, data_dir)
    return data_dir, history


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, small_history: tuple[Path, SimulatedHistory]
) -> Iterator[Trained]:
    data_dir, history = small_history
    home = tmp_path_factory.mktemp("mlflow-home")
    settings = Settings(home=home, min_closed_leads=300, min_wins=30)
    data = load_training_data(data_dir=data_dir)
    result = train_and_log(data, tracking_config(settings), gate_policy(settings), TrainOptions(seed=5))
    yield Trained(home, data_dir, history, settings, result)
