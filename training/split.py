"""Time order of closed leads, and the time-ordered train / validation / test split.

A lead-scoring model is always used on leads newer than the ones it learnt from, and the lead mix drifts, so every
evaluation holds out the newest leads: `order_closed` puts closed leads in time order (the backtest of
`training.backtest` cuts its folds from it); `time_split` is the single 70 / 10 / 20 split (the oldest leads train,
the next validate, the newest test). Open leads are never in any part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from features import contract as c

log = logging.getLogger(__name__)

SplitKind = Literal["time", "row", "random"]


class TrainingError(ValueError):
    """The data cannot train a model (no outcomes, too little history, a period without wins)."""


@dataclass
class Split:
    kind: SplitKind
    train: np.ndarray  # positional indices into the closed-leads frame
    val: np.ndarray
    test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None


def _part_info(leads: pd.DataFrame, idx: np.ndarray, y: np.ndarray, time_col: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "rows": len(idx),
        "positive_rate": float(y[idx].mean()) if len(idx) else None,
    }
    if time_col is not None and len(idx):
        t = leads[time_col].iloc[idx]
        info["from"] = str(t.min())
        info["to"] = str(t.max())
    elif time_col is None and "row_order" in leads and len(idx):
        r = leads["row_order"].iloc[idx]
        info["from"] = f"row {int(r.min()) + 1}"
        info["to"] = f"row {int(r.max()) + 1}"
    return info


@dataclass
class Ordering:
    """Closed leads oldest first (positions into the closed-leads frame), and how that order was found."""

    order: np.ndarray
    kind: SplitKind
    time_col: str | None
    warning: str | None = None


def order_closed(
    leads: pd.DataFrame, y: np.ndarray, ordering: Literal["time", "row", "none"] = "time", seed: int = 0
) -> Ordering:
    """Closed leads in time order: by `decided_at` (falling back to `created_at`) for `"time"`, by `row_order`
    for `"row"`. Without time information (`"none"`, or a time missing somewhere) the order is a stratified random
    one, flagged with a warning because it hides drift."""
    n = len(leads)
    time_col: str | None = None
    if ordering == "time":
        time_col = c.DECIDED_AT if leads[c.DECIDED_AT].notna().all() else c.CREATED_AT
        if leads[time_col].isna().any():
            ordering = "none"
            time_col = None
    if ordering == "time" and time_col is not None:
        keys = [leads[time_col].to_numpy(), leads[c.LEAD_ID].to_numpy()]
        return Ordering(np.lexsort(keys[::-1]), "time", time_col)
    if ordering == "row":
        return Ordering(np.argsort(leads["row_order"].to_numpy(), kind="stable"), "row", None)
    warning = (
        "no time information in the data: falling back to a STRATIFIED RANDOM split; test metrics will "
        "look better than real use on newer leads, because drift is hidden"
    )
    log.warning(warning)
    # Stratified in every stretch, not only in three parts: each class is shuffled and spread evenly over the
    # order, so any contiguous block (a split part, a backtest window) keeps the overall positive rate.
    rng = np.random.default_rng(seed)
    key = np.empty(n)
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        key[rng.permutation(members)] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return Ordering(np.argsort(key, kind="stable"), "random", None, warning)


def split_info(
    leads: pd.DataFrame, y: np.ndarray, kind: SplitKind, time_col: str | None, parts: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The `split` metrics entry: kind, time column, and rows / positive rate / range of each part."""
    info: dict[str, Any] = {"kind": kind, "time_column": time_col}
    for part, idx in parts.items():
        info[part] = _part_info(leads, idx, y, time_col)
    return info


def time_split(
    leads: pd.DataFrame,
    y: np.ndarray,
    ordering: Literal["time", "row", "none"] = "time",
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> Split:
    """Split closed leads (`leads` holds closed leads only, `y` their 0/1 outcome) by time or row order.

    `ordering="time"` orders by `decided_at` (falling back to `created_at`), `"row"` by `row_order`, and
    `"none"` falls back to a stratified random split, which is flagged with a warning because it hides drift.
    """
    n = len(leads)
    if n < 10:
        raise TrainingError(f"need at least 10 closed leads to split, got {n}")
    found = order_closed(leads, y, ordering, seed=seed)
    order = found.order
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1])
    train_idx, val_idx, test_idx = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
    info = split_info(leads, y, found.kind, found.time_col, parts)
    for part, idx in parts.items():
        if len(idx) == 0 or y[idx].sum() == 0:
            raise TrainingError(f"the {part} period has no won leads; need more closed history to train")
    return Split(kind=found.kind, train=train_idx, val=val_idx, test=test_idx, info=info, warning=found.warning)
