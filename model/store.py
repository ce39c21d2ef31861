"""The stored form of a `LeadModel`: a folder of explicit artifacts, never a pickle.

    model.json        format name and version, feature schema, calibration parameters, the boosters' files,
                      default hours, training metadata (JSON-safe) and, from leadrank with monitoring on, the
                      training reference distributions (`model.reference`; key `reference`)
    classifier.txt    LightGBM's own model text of each booster
    hours.txt         (only when the model has that head)
    days.txt          (only when the model has that head)

Loading reads JSON and LightGBM model text and nothing else, so it executes nothing a file says. A folder of an
unknown format version, a missing or malformed file, or boosters that do not fit the feature schema is refused
with `ModelFormatError` naming the file and key. The `reference` key is optional within format version 1: a model
stored before it existed loads with `reference` None (it scores as before; monitoring says its drift checks need
a model trained by this leadrank), so the format version did not change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from features.engagement import EngagementFeatures, FeatureInputError
from features.schema import FeatureSchema, SchemaError
from model.calibration import CalibrationError, Calibrator
from model.lead_model import LeadModel
from model.reference import Reference, ReferenceFormatError

FORMAT: Final = "leadrank-lead-model"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "model.json"
_HEADS: Final = ("classifier", "hours", "days")
RETRAIN_HINT: Final = "retrain it with `leadrank train` (models registered before format 1 cannot be loaded)"


class ModelFormatError(ValueError):
    """A stored model cannot be loaded; the message names the file and key and says what to do."""


def save_model(model: LeadModel, path: Path) -> Path:
    """Write `model` into the folder `path` (created; files of the same names are replaced)."""
    path.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | None] = {}
    for head in _HEADS:
        booster = getattr(model, head)
        if booster is None:
            files[head] = None
            continue
        files[head] = f"{head}.txt"
        # The best iteration only (what `Booster.predict` uses when not told), in LightGBM's own format.
        (path / f"{head}.txt").write_text(booster.model_to_string(), encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_schema": model.schema.to_dict(),
        "columns": model.columns,
        "calibration": model.calibrator.to_dict(),
        "boosters": files,
        "default_hours": model.default_hours,
        "metadata": json_safe(model.metadata),
    }
    if model.reference is not None:
        manifest["reference"] = model.reference.to_dict()
    (path / MANIFEST).write_text(json.dumps(manifest, indent=1, allow_nan=False), encoding="utf-8")
    return path


def load_model(path: Path) -> LeadModel:
    """The `LeadModel` stored in the folder `path`; `ModelFormatError` when it cannot be."""
    import lightgbm as lgb

    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelFormatError(f"{manifest_path}: missing; this is not a leadrank model folder ({RETRAIN_HINT})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"{manifest_path}: not readable JSON ({exc})") from None
    if not isinstance(manifest, Mapping) or manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{manifest_path}: key 'format' is not {FORMAT!r}; not a leadrank model")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{manifest_path}: key 'format_version' is {version!r}; this leadrank reads version {FORMAT_VERSION} "
            "(a model written by another leadrank version: serve it with that version, or retrain)"
        )
    try:
        schema = FeatureSchema.from_dict(manifest.get("feature_schema"))  # type: ignore[arg-type]
        features = EngagementFeatures.from_schema(schema)
        calibrator = Calibrator.from_dict(manifest.get("calibration"))  # type: ignore[arg-type]
    except (SchemaError, CalibrationError, FeatureInputError) as exc:
        raise ModelFormatError(f"{manifest_path}: {exc}") from None
    files = manifest.get("boosters")
    if not isinstance(files, Mapping) or not isinstance(files.get("classifier"), str):
        raise ModelFormatError(f"{manifest_path}: key 'boosters.classifier' must name the classifier's file")
    boosters: dict[str, Any] = {}
    for head in _HEADS:
        name = files.get(head)
        if name is None:
            boosters[head] = None
            continue
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise ModelFormatError(f"{manifest_path}: key 'boosters.{head}' must be a file name in the folder")
        booster_path = path / name
        try:
            boosters[head] = lgb.Booster(model_str=booster_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"{booster_path}: cannot read the {head} booster ({exc})") from None
        except lgb.basic.LightGBMError as exc:
            raise ModelFormatError(f"{booster_path}: not a LightGBM model ({exc})") from None
    default_hours = manifest.get("default_hours")
    if isinstance(default_hours, bool) or not isinstance(default_hours, int | float) or not default_hours > 0:
        raise ModelFormatError(f"{manifest_path}: key 'default_hours' must be a positive number")
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelFormatError(f"{manifest_path}: key 'metadata' must be an object")
    columns = manifest.get("columns")
    reference = None
    if manifest.get("reference") is not None:
        try:
            reference = Reference.from_dict(manifest["reference"])
        except ReferenceFormatError as exc:
            raise ModelFormatError(f"{manifest_path}: {exc}") from None
    try:
        model = LeadModel(
            features,
            boosters["classifier"],
            calibrator,
            hours=boosters["hours"],
            days=boosters["days"],
            default_hours=float(default_hours),
            metadata=metadata,
            reference=reference,
        )
    except ValueError as exc:
        raise ModelFormatError(f"{path}: {exc} (schema mismatch; {RETRAIN_HINT})") from None
    if columns != model.columns:
        raise ModelFormatError(f"{manifest_path}: key 'columns' does not match the feature schema's modelled columns")
    return model


def json_safe(value: Any) -> Any:
    """`value` with numpy scalars and arrays as plain numbers and lists, non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
