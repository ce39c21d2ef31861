"""The training reference: how the model's inputs and its score were distributed on the leads it was fitted on.

Stored with the model (`model.json`, key `reference`), so monitoring compares a later window with the training
data without access to it. Per modelled feature:

- numeric: inner bin edges at the deciles of the training values (duplicates dropped, so a count that is mostly
  zero gets few bins) and the share of leads in each bin, plus the share missing ("never happened" for recency
  features, no value for an attribute) as its own bin;
- categorical: the share of each category, and of missing.

The score (`p_close`) is binned like a numeric feature; `source_mix` repeats the source shares under their own
key because monitoring reports them on their own. `binned` is the one binning both sides use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from features import contract as c

REFERENCE_VERSION: Final = 1
# Deciles: enough resolution for the population stability index, few enough bins to fill from a week of leads.
_QUANTILES: Final = np.linspace(0.1, 0.9, 9)
MISSING: Final = "(missing)"


class ReferenceFormatError(ValueError):
    """A stored reference is malformed; the message names the key."""


@dataclass(frozen=True)
class Distribution:
    """One variable's training distribution. `edges` (numeric only): inner bin edges, so there are
    `len(edges) + 1` value bins; `shares`: per bin (numeric, then missing last) or per category (categorical,
    then missing last), summing to 1; `labels`: the categories (categorical only)."""

    kind: str  # "numeric" or "categorical"
    shares: np.ndarray
    edges: np.ndarray | None = None
    labels: tuple[str, ...] = ()

    @property
    def missing(self) -> float:
        return float(self.shares[-1])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "shares": [float(s) for s in self.shares]}
        if self.edges is not None:
            out["edges"] = [float(e) for e in self.edges]
        if self.labels:
            out["labels"] = list(self.labels)
        return out

    @classmethod
    def from_dict(cls, data: Any, key: str) -> Distribution:
        if not isinstance(data, Mapping):
            raise ReferenceFormatError(f"key '{key}' must be an object")
        kind = data.get("kind")
        shares = _floats(data.get("shares"), f"{key}.shares")
        if kind == "numeric":
            edges = _floats(data.get("edges"), f"{key}.edges")
            if len(shares) != len(edges) + 2 or np.any(np.diff(edges) <= 0):
                raise ReferenceFormatError(
                    f"key '{key}': edges must increase and shares must have len(edges) + 2 values"
                )
            return cls("numeric", shares, edges=edges)
        if kind == "categorical":
            labels = data.get("labels", [])
            if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
                raise ReferenceFormatError(f"key '{key}.labels' must be a list of texts")
            if len(shares) != len(labels) + 1:
                raise ReferenceFormatError(f"key '{key}': shares must have one value per label plus missing")
            return cls("categorical", shares, labels=tuple(labels))
        raise ReferenceFormatError(f"key '{key}.kind' must be 'numeric' or 'categorical', got {kind!r}")


def _floats(value: Any, key: str) -> np.ndarray:
    if not isinstance(value, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise ReferenceFormatError(f"key '{key}' must be a list of numbers")
    out = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(out)):
        raise ReferenceFormatError(f"key '{key}' must hold finite numbers")
    return out


def binned(dist: Distribution, values: np.ndarray) -> np.ndarray:
    """Shares of `values` in `dist`'s bins (numeric: floats, NaN missing; categorical: codes into `dist.labels`,
    -1 missing or unseen). Empty input gives all zeros."""
    values = np.asarray(values, dtype=float)
    n_bins = len(dist.shares)
    if dist.kind == "numeric":
        assert dist.edges is not None
        bins = np.where(np.isnan(values), n_bins - 1, np.searchsorted(dist.edges, values, side="right"))
    else:
        bins = np.where((values < 0) | np.isnan(values), n_bins - 1, values).astype(np.int64)
    counts = np.bincount(bins.astype(np.int64), minlength=n_bins).astype(float)
    return counts / max(len(values), 1)


def numeric_distribution(values: np.ndarray) -> Distribution:
    """Decile bins of `values` (NaN: missing) and their shares."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, _QUANTILES)) if len(present) else np.array([])
    dist = Distribution("numeric", np.zeros(len(edges) + 2), edges=edges)
    return Distribution("numeric", binned(dist, values), edges=edges)


def categorical_distribution(codes: np.ndarray, labels: tuple[str, ...]) -> Distribution:
    dist = Distribution("categorical", np.zeros(len(labels) + 1), labels=labels)
    return Distribution("categorical", binned(dist, codes), labels=labels)


@dataclass(frozen=True)
class Reference:
    """Training distributions of every modelled feature, of the score and of the source mix."""

    n_leads: int
    features: dict[str, Distribution]
    score: Distribution
    source_mix: Distribution | None
    positive_rate: float
    period: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REFERENCE_VERSION,
            "n_leads": self.n_leads,
            "positive_rate": self.positive_rate,
            "period": dict(self.period),
            "score": self.score.to_dict(),
            "source_mix": None if self.source_mix is None else self.source_mix.to_dict(),
            "features": {name: dist.to_dict() for name, dist in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Reference:
        if not isinstance(data, Mapping):
            raise ReferenceFormatError("key 'reference' must be an object")
        if data.get("version") != REFERENCE_VERSION:
            version = data.get("version")
            raise ReferenceFormatError(f"key 'reference.version' is {version!r}; expected {REFERENCE_VERSION}")
        n = data.get("n_leads")
        rate = data.get("positive_rate")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ReferenceFormatError("key 'reference.n_leads' must be a positive whole number")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ReferenceFormatError("key 'reference.positive_rate' must be a number between 0 and 1")
        features = data.get("features")
        if not isinstance(features, Mapping):
            raise ReferenceFormatError("key 'reference.features' must be an object")
        period = data.get("period") or {}
        if not isinstance(period, Mapping):
            raise ReferenceFormatError("key 'reference.period' must be an object")
        mix = data.get("source_mix")
        return cls(
            n_leads=n,
            features={str(k): Distribution.from_dict(v, f"reference.features.{k}") for k, v in features.items()},
            score=Distribution.from_dict(data.get("score"), "reference.score"),
            source_mix=None if mix is None else Distribution.from_dict(mix, "reference.source_mix"),
            positive_rate=float(rate),
            period={str(k): str(v) for k, v in period.items()},
        )


def build_reference(
    model: Any, values: np.ndarray, p_close: np.ndarray, y: np.ndarray, period: Mapping[str, Any] | None = None
) -> Reference:
    """The reference of `model` (a `LeadModel`) from the features it was fitted on (`values`, as
    `EngagementFeatures.transform_columns` gives them: features x leads), its scores there and the outcomes."""
    schema = model.schema
    raw = values[model.input.rows]  # modelled columns x leads, "never" still missing
    features: dict[str, Distribution] = {}
    for k, column in enumerate(model.columns):
        if k in model.input.categorical:
            features[column] = categorical_distribution(raw[k], tuple(schema.categories[column]))
        else:
            features[column] = numeric_distribution(raw[k])
    source_feature = next((a.feature for a in schema.attributes if a.column == c.SOURCE), None)
    return Reference(
        n_leads=int(values.shape[1]),
        features=features,
        score=numeric_distribution(p_close),
        source_mix=features.get(source_feature) if source_feature else None,
        positive_rate=float(np.mean(y)) if len(y) else 0.0,
        period={str(k): str(v) for k, v in (period or {}).items() if v is not None},
    )
