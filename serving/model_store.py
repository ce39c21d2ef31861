"""From the MLflow registry to the BentoML model store, and from the store to a loaded `LeadModel`.

The service loads its model from the BentoML store, never from MLflow, so a bento built with `bentoml
build` carries the model and runs without the MLflow server. `import_model` copies a registered MLflow
version (the champion by default) into the store under a tag that pins it, `<model>:v<version>-<run id
prefix>`, and records the MLflow version, run, training date, data fingerprint and test metrics as the
BentoML model's metadata. Importing a version that is already in the store is a no-op.

Which stored model the service loads is the class attribute `LeadScorer.model_ref`, read from
`LEADRANK_BENTO_MODEL` (default `<model>:latest`); `leadrank serve` sets it to the tag it imported.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from serving.errors import ModelStoreError

if TYPE_CHECKING:
    import bentoml

    from model import LeadModel

log = logging.getLogger(__name__)

BENTO_MODEL_ENV: Final = "LEADRANK_BENTO_MODEL"
CHAMPION: Final = "champion"
_URI_ENV_VARS: Final = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# Where bentoml.mlflow.import_model puts the MLflow model inside a BentoML model.
_MLFLOW_MODEL_FOLDER: Final = "mlflow_model"


def bento_model_name(model_name: str) -> str:
    """A valid BentoML model name (lower case letters, digits, `-`, `_`, `.`) for an MLflow model name."""
    name = re.sub(r"[^a-z0-9._-]+", "-", model_name.strip().lower()).strip("-._")
    return name or "lead-scorer"


def model_tag_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The BentoML tag the service loads: `LEADRANK_BENTO_MODEL`, else `<LEADRANK_MODEL_NAME>:latest`."""
    env = os.environ if environ is None else environ
    tag = env.get(BENTO_MODEL_ENV, "").strip()
    if tag:
        return tag
    return f"{bento_model_name(env.get('LEADRANK_MODEL_NAME', 'lead-scorer'))}:latest"


@dataclass(frozen=True)
class ImportedModel:
    tag: str
    mlflow_version: str
    imported: bool  # False: the version was already in the store


@dataclass(frozen=True)
class LoadedModel:
    model: LeadModel
    tag: str
    model_version: str
    info: dict[str, Any]


@contextmanager
def _mlflow_uri(uri: str) -> Iterator[None]:
    """Point this process's MLflow client at `uri` for a while (and undo MLflow's export to os.environ)."""
    import mlflow

    saved_env = {name: os.environ.get(name) for name in _URI_ENV_VARS}
    saved = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        yield
    finally:
        mlflow.set_tracking_uri(saved[0])
        mlflow.set_registry_uri(saved[1])
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def import_model(tracking_uri: str, model_name: str, version: str | None = None) -> ImportedModel:
    """Copy MLflow version `version` of the registered model `model_name` (default: the champion) from the
    store at `tracking_uri` into the BentoML model store; a no-op when that version is there already."""
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        raise ModelStoreError(
            f"no MLflow store at {uri}: train a model first (`leadrank train`), or point LEADRANK_HOME / "
            "LEADRANK_TRACKING_URI at the store that has one"
        )
    name = model_name
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        if version is None:
            mv = client.get_model_version_by_alias(name, CHAMPION)
        else:
            wanted = str(version).strip()
            if not wanted.isdigit():
                raise ModelStoreError(f"--model-version must be a whole number like 3, got {version!r}")
            mv = client.get_model_version(name, wanted)
    except MlflowException as exc:
        which = "a champion" if version is None else f"version {version}"
        raise ModelStoreError(
            f"MLflow store {uri} has no {which} of model {name!r} ({exc.message}); train one (`leadrank "
            "train`) or pick a registered version with --model-version"
        ) from None
    run_id = mv.run_id or ""
    tag = f"{bento_model_name(name)}:v{mv.version}-{(run_id or 'norun')[:12]}"
    try:
        bentoml.models.get(tag)
        log.info("BentoML model %s is already in the store", tag)
        return ImportedModel(tag, str(mv.version), imported=False)
    except NotFound:
        pass
    metadata = _training_metadata(client, mv, uri)
    labels = {"mlflow_model": name, "mlflow_version": str(mv.version), "mlflow_run_id": run_id or "none"}
    try:
        with _mlflow_uri(uri):
            bentoml.mlflow.import_model(tag, model_uri=f"models:/{name}/{mv.version}", labels=labels, metadata=metadata)
    except (MlflowException, BentoMLException, OSError) as exc:
        raise ModelStoreError(f"cannot import version {mv.version} of {name!r} from {uri}: {exc}") from exc
    log.info("imported version %s of %r from %s as BentoML model %s", mv.version, name, uri, tag)
    return ImportedModel(tag, str(mv.version), imported=True)


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _training_metadata(client: Any, mv: Any, uri: str) -> dict[str, Any]:
    """MLflow facts about the version that /model reports: run, dates, data fingerprint, test metrics."""
    from mlflow.exceptions import MlflowException

    meta: dict[str, Any] = {
        "mlflow_model_name": mv.name,
        "mlflow_version": str(mv.version),
        "mlflow_run_id": mv.run_id,
        "mlflow_tracking_uri": uri,
        "registered_at": _iso(mv.creation_timestamp),
        "trained_at": None,
        "data_fingerprint": {},
        "test_metrics": {},
        "calibration": None,
    }
    if not mv.run_id:
        return meta
    try:
        run = client.get_run(mv.run_id)
        meta["trained_at"] = _iso(run.info.start_time)
        meta["calibration"] = run.data.tags.get("calibration")
        fingerprint = {
            key.removeprefix("fingerprint."): value
            for key, value in run.data.params.items()
            if key.startswith("fingerprint.")
        }
        with tempfile.TemporaryDirectory() as tmp:
            metrics = json.loads(Path(client.download_artifacts(mv.run_id, "metrics.json", tmp)).read_text())
    except (MlflowException, OSError, ValueError) as exc:
        log.warning("no training metrics for version %s of %r: %s", mv.version, mv.name, exc)
        return meta
    meta["data_fingerprint"] = metrics.get("fingerprint") or fingerprint
    meta["test_metrics"] = {
        key: value
        for key, value in metrics.items()
        if key.startswith("test_") and isinstance(value, int | float) and not isinstance(value, bool)
    }
    return meta


def stored_model(tag: str) -> bentoml.Model:
    """The model `tag` from the local BentoML store (no remote look-up); `ModelStoreError` if absent."""
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound

    try:
        return bentoml.models.get(tag)
    except NotFound:
        raise ModelStoreError(
            f"BentoML model {tag!r} is not in the store: start the service with `leadrank serve` (it imports "
            f"the champion from MLflow), or import one and set {BENTO_MODEL_ENV}"
        ) from None
    except BentoMLException as exc:
        raise ModelStoreError(f"cannot read BentoML model {tag!r}: {exc}") from exc


def load_model(stored: bentoml.Model) -> LoadedModel:
    """The `LeadModel` inside a stored MLflow pyfunc model, with what /model reports about it. A model that
    cannot be loaded (an older storage format, a missing or corrupt file) raises `ModelStoreError` saying why."""
    from model import ModelFormatError, load_model
    from model.pyfunc import MODEL_ARTIFACT

    # bentoml.mlflow keeps the MLflow model folder as it is; the fitted model is its artifact folder.
    folder = Path(stored.path_of(_MLFLOW_MODEL_FOLDER)) / "artifacts" / MODEL_ARTIFACT
    try:
        model = load_model(folder)
    except ModelFormatError as exc:
        raise ModelStoreError(f"cannot load BentoML model {stored.tag}: {exc}") from None
    meta: dict[str, Any] = dict(stored.info.metadata)
    version = str(meta.get("mlflow_version") or stored.tag.version)
    info = {
        "model_name": str(meta.get("mlflow_model_name") or stored.tag.name),
        "mlflow_version": meta.get("mlflow_version"),
        "mlflow_run_id": meta.get("mlflow_run_id"),
        "bento_tag": str(stored.tag),
        "trained_at": meta.get("trained_at"),
        "registered_at": meta.get("registered_at"),
        "data_fingerprint": dict(meta.get("data_fingerprint") or {}),
        "test_metrics": dict(meta.get("test_metrics") or model.metadata.get("test_metrics") or {}),
        "calibration": meta.get("calibration") or model.calibrator.method,
        "feature_schema": model.schema.to_dict(),
    }
    return LoadedModel(model=model, tag=str(stored.tag), model_version=version, info=info)
