"""The feature schema: what `EngagementFeatures` learned in `fit`, in a JSON-safe form.

The schema travels with the logged model so that the HTTP layer can check a request's raw lead attributes
(a numeric column given as text, a list where a value was expected) and answer with a 4xx naming the field,
before any feature is computed. It is also the single place that fixes the output columns, their dtypes and
the categories of every categorical feature.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

import pandas as pd

SCHEMA_VERSION: Final = 1
NUMERIC: Final = "numeric"
CATEGORICAL: Final = "categorical"
AttributeKind = Literal["numeric", "categorical"]
ATTRIBUTE_KINDS: Final = (NUMERIC, CATEGORICAL)

FLOAT_DTYPE: Final = "float64"
CATEGORY_DTYPE: Final = "category"
FEATURE_DTYPES: Final = (FLOAT_DTYPE, CATEGORY_DTYPE)

STAGES: Final = ("early", "middle", "decision", "other")


class SchemaError(ValueError):
    """A feature schema (usually read back from JSON) is malformed; the message names the key."""


@dataclass(frozen=True)
class AttributeSpec:
    """One lead column used as a feature as it is: its kind and the output column it becomes."""

    column: str
    kind: AttributeKind
    feature: str


@dataclass(frozen=True)
class FeatureSchema:
    """Output columns (order, dtypes, categories), lead attribute columns, stage map and windows."""

    feature_names: tuple[str, ...]
    dtypes: Mapping[str, str]
    categories: Mapping[str, tuple[str, ...]]
    attributes: tuple[AttributeSpec, ...]
    stage_map: Mapping[str, str]
    windows: tuple[int, ...]
    version: int = SCHEMA_VERSION
    _by_column: Mapping[str, AttributeSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_column", {a.column: a for a in self.attributes})

    # --- serialisation -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (only str, int, lists and dicts) that `from_dict` reads back unchanged."""
        return {
            "version": self.version,
            "feature_names": list(self.feature_names),
            "dtypes": {name: self.dtypes[name] for name in self.feature_names},
            "categories": {name: list(cats) for name, cats in self.categories.items()},
            "attributes": [{"column": a.column, "kind": a.kind, "feature": a.feature} for a in self.attributes],
            "stage_map": dict(self.stage_map),
            "windows": list(self.windows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        """Read a schema written by `to_dict`; a malformed one raises `SchemaError` naming the key."""
        if not isinstance(data, Mapping):
            raise SchemaError(f"feature schema: expected a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if version != SCHEMA_VERSION:
            raise SchemaError(f"feature schema key 'version': expected {SCHEMA_VERSION}, got {version!r}")
        names = _str_list(data, "feature_names")
        if len(set(names)) != len(names):
            raise SchemaError("feature schema key 'feature_names': names are not unique")
        dtypes_raw = _mapping(data, "dtypes")
        dtypes: dict[str, str] = {}
        for name in names:
            dtype = dtypes_raw.get(name)
            if dtype not in FEATURE_DTYPES:
                raise SchemaError(
                    f"feature schema key 'dtypes.{name}': expected one of {list(FEATURE_DTYPES)}, got {dtype!r}"
                )
            dtypes[name] = dtype
        extra = set(dtypes_raw) - set(names)
        if extra:
            raise SchemaError(f"feature schema key 'dtypes': unknown features {sorted(extra)}")
        categories: dict[str, tuple[str, ...]] = {}
        for name, cats in _mapping(data, "categories").items():
            if dtypes.get(name) != CATEGORY_DTYPE:
                raise SchemaError(f"feature schema key 'categories.{name}': not a categorical feature")
            categories[name] = tuple(_str_list({"x": cats}, "x", where=f"categories.{name}"))
        missing = [n for n in names if dtypes[n] == CATEGORY_DTYPE and n not in categories]
        if missing:
            raise SchemaError(f"feature schema key 'categories': no categories for {missing}")
        attributes: list[AttributeSpec] = []
        raw_attrs = data.get("attributes")
        if not isinstance(raw_attrs, list):
            raise SchemaError("feature schema key 'attributes': expected a list")
        for i, raw in enumerate(raw_attrs):
            where = f"attributes[{i}]"
            if not isinstance(raw, Mapping):
                raise SchemaError(f"feature schema key '{where}': expected an object")
            column, kind, feature = raw.get("column"), raw.get("kind"), raw.get("feature")
            if not isinstance(column, str) or not column:
                raise SchemaError(f"feature schema key '{where}.column': expected a non-empty string")
            if kind not in ATTRIBUTE_KINDS:
                raise SchemaError(f"feature schema key '{where}.kind': expected numeric or categorical")
            if feature not in dtypes:
                raise SchemaError(f"feature schema key '{where}.feature': {feature!r} is not a feature")
            expected = CATEGORY_DTYPE if kind == CATEGORICAL else FLOAT_DTYPE
            if dtypes[feature] != expected:
                raise SchemaError(f"feature schema key '{where}': kind {kind} but feature dtype {dtypes[feature]}")
            attributes.append(AttributeSpec(column=column, kind=cast(AttributeKind, kind), feature=feature))
        stage_map: dict[str, str] = {}
        for event_type, stage in _mapping(data, "stage_map").items():
            if stage not in STAGES:
                raise SchemaError(f"feature schema key 'stage_map.{event_type}': unknown stage {stage!r}")
            stage_map[str(event_type)] = stage
        raw_windows = data.get("windows")
        if not isinstance(raw_windows, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in raw_windows
        ):
            raise SchemaError("feature schema key 'windows': expected a list of positive integers (days)")
        return cls(
            feature_names=tuple(names),
            dtypes=dtypes,
            categories=categories,
            attributes=tuple(attributes),
            stage_map=stage_map,
            windows=tuple(raw_windows),
        )

    # --- checks for raw request values ---------------------------------------------------------------------

    @property
    def attribute_columns(self) -> tuple[str, ...]:
        return tuple(a.column for a in self.attributes)

    def attribute(self, column: str) -> AttributeSpec | None:
        return self._by_column.get(column)

    def check_value(self, column: str, value: Any) -> str | None:
        """Check one raw attribute value; return a problem message, or None when the value is usable.

        Missing values (None, NaN) are always usable. An unseen category is usable too (it becomes a missing
        value); `is_known_category` tells whether to warn about it.
        """
        spec = self._by_column.get(column)
        if spec is None:
            known = ", ".join(self.attribute_columns)
            return f"'{column}' is not a lead attribute of this model (known: {known})"
        if _is_missing(value):
            return None
        if spec.kind == NUMERIC:
            if isinstance(value, bool):
                return f"'{column}' must be a number, got a boolean ({value!r})"
            if isinstance(value, numbers.Real):
                return None if math.isfinite(float(value)) else f"'{column}' must be a finite number, got {value!r}"
            if isinstance(value, str):
                try:
                    number = float(value.strip())
                except ValueError:
                    return f"'{column}' must be a number, got the text {value!r}"
                return None if math.isfinite(number) else f"'{column}' must be a finite number, got {value!r}"
            return f"'{column}' must be a number, got {type(value).__name__}"
        if isinstance(value, bool) or not isinstance(value, str | numbers.Real):
            return f"'{column}' must be a text value, got {type(value).__name__} ({value!r})"
        return None

    def is_known_category(self, column: str, value: Any) -> bool:
        """Whether a categorical attribute's value was seen in fit (missing values count as known)."""
        spec = self._by_column.get(column)
        if spec is None or spec.kind != CATEGORICAL or _is_missing(value):
            return True
        return str(value) in self.categories.get(spec.feature, ())

    def categorical_dtype(self, feature: str) -> pd.CategoricalDtype:
        """The pandas dtype of a categorical output column (string categories in the order seen in fit)."""
        return pd.CategoricalDtype(pd.Index(list(self.categories[feature]), dtype="str"))


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise SchemaError(f"feature schema key '{key}': expected an object")
    return value


def _str_list(data: Mapping[str, Any], key: str, where: str | None = None) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"feature schema key '{where or key}': expected a list of strings")
    return list(value)
