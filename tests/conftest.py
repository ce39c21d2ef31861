"""Fixtures shared across test packages.

The serving session (one trained, registered model imported into a temp BentoML store, and one in-process service)
is used by the serving and marketing tests: defined once here so that each test process builds it once (BentoML's
metrics may be registered only once per process).
"""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.session import client, instance, service_cls, serving_env, trained

__all__ = ["client", "instance", "service_cls", "serving_env", "trained"]

_OURS = ("features", "model", "training", "handoff", "serving", "simulator", "marketing", "monitoring", "leadrank")


@pytest.fixture(autouse=True)
def _our_loggers_enabled() -> Iterator[None]:
    """BentoML's logging set-up (`bentoml._internal.log`, run when a test builds or serves the service in this
    process) applies `dictConfig` with `disable_existing_loggers=True`, which silences every logger created before
    it, ours included. A real server configures logging before it imports our modules; tests that read our log
    lines must not depend on which tests ran before them in the same process."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.disabled and name.split(".")[0] in _OURS:
            logger.disabled = False
    yield


def use_store(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point `leadrank` commands at the MLflow store in `home`, whatever the environment says."""
    for name in ("MLFLOW_TRACKING_URI", "LEADRANK_TRACKING_URI", "LEADRANK_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADRANK_HOME", str(home))
