"""The serving tests' session (its fixtures are registered in tests/conftest.py): one trained and registered
model per session, imported once into a BentoML store in a temp dir, and one in-process service app.

Training (simulate, fit, log to a SQLite MLflow store, register) is the slow part, so it happens once. Every
environment variable the service reads is set for the whole session and restored afterwards, so nothing
leaks into other test packages, and nothing is read from or written to the user's ~/bentoml.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from features.contract import LeadBatch
from features.records import to_records
from leadrank.config import gate_policy, tracking_config
from leadrank.settings import Settings
from simulator import SimulatedHistory, simulate

with warnings.catch_warnings():
    # Starlette 1.x nudges towards httpx2 when its TestClient is imported; the client works as documented.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import starlette.testclient  # noqa: F401

# Limits small enough that tests can exceed them cheaply, large enough for realistic leads.
MAX_BATCH = 40
MAX_EVENTS = 400


@dataclass(frozen=True)
class Trained:
    home: Path
    settings: Settings
    history: SimulatedHistory
    bento_tag: str
    mlflow_version: str


@pytest.fixture(scope="session")
def serving_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temp home for MLflow, BentoML and the prediction log, set in the environment for the session."""
    home = tmp_path_factory.mktemp("serving-home")
    mp = pytest.MonkeyPatch()
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "LEADRANK_TRACKING_URI",
        "LEADRANK_PREDICTION_DB",
        "LEADRANK_API_TOKENS",
        "LEADRANK_BENTO_MODEL",
        "LEADRANK_MODEL_NAME",
    ):
        mp.delenv(name, raising=False)
    mp.setenv("LEADRANK_HOME", str(home))
    mp.setenv("BENTOML_HOME", str(home / "bentoml"))
    mp.setenv("BENTOML_DO_NOT_TRACK", "True")
    mp.setenv("LEADRANK_MAX_BATCH", str(MAX_BATCH))
    mp.setenv("LEADRANK_MAX_EVENTS_PER_LEAD", str(MAX_EVENTS))
    _point_bentoml_at(home / "bentoml")
    yield home
    mp.undo()


def _point_bentoml_at(path: Path) -> None:
    # BentoML resolves its home lazily, once per process; set it explicitly in case something resolved it.
    from bentoml._internal.configuration.containers import BentoMLContainer

    path.mkdir(parents=True, exist_ok=True)
    for sub in ("bentos", "models", "envs", "tmp"):
        (path / sub).mkdir(exist_ok=True)
    BentoMLContainer.bentoml_home.set(str(path))


@pytest.fixture(scope="session")
def trained(serving_env: Path) -> Trained:
    """A model trained on simulated history, registered as champion, and imported into the BentoML store."""
    from serving.model_store import BENTO_MODEL_ENV, import_model
    from training.pipeline import TrainingData, TrainOptions
    from training.tracking_run import train_and_log

    history = simulate(n_leads=3000, seed=3)
    settings = Settings(home=serving_env, min_closed_leads=200, min_wins=20)
    data = TrainingData(batch=LeadBatch(history.leads, history.events))
    result = train_and_log(data, tracking_config(settings), gate_policy(settings), TrainOptions(seed=1))
    assert result.registration is not None and result.registration.promoted
    imported = import_model(settings.resolved_tracking_uri(), settings.model_name)
    import os

    os.environ[BENTO_MODEL_ENV] = imported.tag  # restored by serving_env's monkeypatch (deleted there)
    return Trained(serving_env, settings, history, imported.tag, imported.mlflow_version)


@pytest.fixture(scope="session")
def service_cls(trained: Trained) -> Any:
    from serving.service import LeadScorer

    return LeadScorer


@pytest.fixture(scope="session")
def client(service_cls: Any) -> Iterator[Any]:
    """An in-process client of the service (no auth), started once."""
    from starlette.testclient import TestClient

    with TestClient(service_cls.to_asgi()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def instance(client: Any) -> Any:
    """The running service object behind `client`."""
    import bentoml

    return bentoml.get_current_service()


def request_leads(
    history: SimulatedHistory, n: int, start: int = 0, max_events: int = MAX_EVENTS
) -> list[dict[str, Any]]:
    """`n` simulated leads as /score request items (as_of = their decision time), skipping very busy ones."""
    leads = history.leads
    events = history.events
    counts = events.groupby("lead_id").size()
    ok = leads["lead_id"].map(counts).fillna(0) <= max_events
    chosen = leads[ok].iloc[start : start + n]
    return to_records(chosen, events, before_as_of=False, deal_value=True)
