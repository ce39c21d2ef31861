"""Where MLflow keeps runs, models and artifacts, and how to point this process at it.

The default is a self-contained local store in the home directory (`LEADRANK_HOME`): the SQLite database
`mlflow.db` for runs, metrics and the model registry, and the directory `mlartifacts/` for artifacts (models,
plots). `LEADRANK_TRACKING_URI` or `MLFLOW_TRACKING_URI` point it somewhere else, e.g. a shared tracking server.
The command line resolves those settings into a `TrackingConfig` (leadrank/config.py) and passes it in.

Nothing here runs at import time; mlflow itself is imported inside the functions because it takes seconds.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

logger = logging.getLogger(__name__)

ARTIFACT_DIR = "mlartifacts"

# Loggers that chat at INFO on every fresh or upgraded SQLite store (schema creation, one line per migration).
# INFO chatter on every run (schema migrations on a fresh store, uv requirement export, input-example checks).
_NOISY_LOGGERS = (
    "alembic",
    "alembic.runtime.migration",
    "mlflow.store.db.utils",
    "mlflow.utils.uv_utils",
    "mlflow.utils.environment",
    "mlflow.pyfunc",
)
# Warnings MLflow gives on every `log_model` that say nothing about this run: uv environments have no pip to
# pin, and the pyfunc is a Python object by design (loaded only from the team's own registry).
_EXPECTED_WARNINGS = ("Failed to resolve installed pip version", "Passing a Python object as `python_model`")


class _DropExpectedWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _EXPECTED_WARNINGS)


_DROP_EXPECTED = _DropExpectedWarnings()

# MLflow's `set_*_uri` export these for subprocesses to inherit; `configure_tracking` says why we undo that.
_URI_ENV_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


class TrackingError(Exception):
    """The tracking store is misconfigured or unusable; the message says what to change."""


@dataclass(frozen=True)
class TrackingConfig:
    """Which MLflow store to use and what to call things in it.

    `tracking_uri`: the resolved store URI (tracking and registry). `home`: the directory of the local store,
    named in error messages; artifacts of a local store go to `<home>/mlartifacts`. `experiment`: the default
    experiment of training runs. `model_name`: the registered model.
    """

    tracking_uri: str
    home: Path
    experiment: str = "leadrank"
    model_name: str = "lead-scorer"

    @property
    def artifact_root(self) -> Path:
        """The directory that holds artifacts of the local store: `<home>/mlartifacts`, absolute."""
        return (self.home / ARTIFACT_DIR).resolve()


@contextmanager
def store_errors(uri: str, error: type[TrackingError] = TrackingError) -> Iterator[None]:
    """Turn MLflow and database failures inside the block into `error` naming the store."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except MlflowException as exc:
        raise error(f"MLflow store {uri}: {exc.message}") from exc
    except SQLAlchemyError as exc:
        # Typically the file is not an MLflow database, or was written by a newer MLflow.
        orig = getattr(exc, "orig", None)
        detail = str(orig) if orig is not None else str(exc).splitlines()[0]
        raise error(f"MLflow store {uri} cannot be used: {detail}") from exc


def is_server_uri(uri: str) -> bool:
    """True when the URI names a tracking server, which decides itself where artifacts go."""
    scheme = urlparse(uri).scheme.lower()
    return scheme in {"http", "https"} or scheme.startswith("databricks")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI, None for any other kind of store."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri[len("sqlite:///") :].split("?", 1)[0]))


def _quiet_mlflow_logging() -> None:
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _DROP_EXPECTED not in logger.filters:
            logger.addFilter(_DROP_EXPECTED)


def configure_tracking(config: TrackingConfig) -> str:
    """Point MLflow tracking and registry of this process at the configured store and return its URI.

    Creates the directory of a local SQLite store if missing (MLflow creates the database itself on first use)
    and quiets the schema-migration chatter MLflow logs on a fresh store.
    """
    import mlflow

    _quiet_mlflow_logging()
    uri = config.tracking_uri
    db_file = sqlite_path(uri)
    if db_file is not None:
        try:
            db_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(
                f"cannot create the directory {db_file.parent} for the MLflow store {uri}: {exc.strerror}"
            ) from exc

    # MLflow exports the URI to os.environ as a side effect. Left there, it would outrank LEADRANK_HOME for
    # every configuration resolved later in this process (an unset LEADRANK_TRACKING_URI falls back to
    # MLFLOW_TRACKING_URI), so a second configure_tracking with another home would silently keep using the
    # first store. mlflow holds the
    # in-process URI itself, so restoring the environment loses nothing here.
    saved = {name: os.environ.get(name) for name in _URI_ENV_VARS}
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    logger.debug("MLflow tracking and registry URI: %s", uri)
    return uri


def _experiment_dir_name(name: str) -> str:
    # Experiment names are free text; a directory name must not contain separators or start with a dot.
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return cleaned or "experiment"


def get_or_create_experiment(config: TrackingConfig, name: str | None = None) -> str:
    """The id of the experiment `name` (default `config.experiment`), created if missing.

    On a local store a new experiment keeps its artifacts in `<home>/mlartifacts/<name>`; without an explicit
    location MLflow would put them in `./mlruns` of whatever directory the process happens to run in. A
    tracking server chooses its own artifact location. Call `configure_tracking` first.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    experiment_name = name or config.experiment
    uri = mlflow.get_tracking_uri()
    with store_errors(uri):
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise TrackingError(
                    f"MLflow experiment {experiment_name!r} (id {experiment.experiment_id}) in {uri} is "
                    "deleted; restore it with "
                    f"`mlflow experiments restore --experiment-id {experiment.experiment_id}` "
                    "or choose another name with LEADRANK_EXPERIMENT"
                )
            return str(experiment.experiment_id)

        location: str | None = None
        if not is_server_uri(uri):
            directory = config.artifact_root / _experiment_dir_name(experiment_name)
            location = directory.as_uri()
        try:
            experiment_id = client.create_experiment(experiment_name, artifact_location=location)
        except MlflowException as exc:
            # Another process created it between our lookup and create: use theirs.
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            existing = client.get_experiment_by_name(experiment_name)
            if existing is None:
                raise
            return str(existing.experiment_id)
    logger.info("Created MLflow experiment %r (id %s), artifacts in %s", experiment_name, experiment_id, location)
    return str(experiment_id)


def mlflow_server_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for `mlflow_server_command`: this one, with MLflow's background job runner off.

    The job runner (several worker processes) only serves GenAI evaluation features leadrank does not use; a
    user who sets MLFLOW_SERVER_ENABLE_JOB_EXECUTION keeps their choice.
    """
    env = dict(os.environ if environ is None else environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


def mlflow_server_command(config: TrackingConfig, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """The command line that runs the MLflow UI on the configured store, with the same artifact root.

    Raises TrackingError when the store is a tracking server (it has its own UI) or the port is invalid.
    """
    uri = config.tracking_uri
    if is_server_uri(uri):
        raise TrackingError(
            f"the tracking URI {uri} is a tracking server, which has its own UI: open it in a browser "
            "(unset LEADRANK_TRACKING_URI / MLFLOW_TRACKING_URI to browse the local store instead)"
        )
    if not 1 <= port <= 65535:
        raise TrackingError(f"port must be between 1 and 65535, got {port}")
    if not host.strip():
        raise TrackingError("host must not be empty (e.g. 127.0.0.1)")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        config.artifact_root.as_uri(),
        "--host",
        host,
        "--port",
        str(port),
        # A local browsing session needs one worker; the default of four costs memory for nothing.
        "--workers",
        "1",
    ]
