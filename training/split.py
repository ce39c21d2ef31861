"""Time-ordered train / validation / test split of closed leads.

The oldest ~70% of closed leads train the models, the next ~10% validate them (early stopping, calibration,
threshold choices) and the newest ~20% test them, because a lead-scoring model is always used on leads newer than
the ones it learnt from, and the lead mix drifts. Open leads are never in any part.
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
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1])
    time_col: str | None = None
    warning = None
    if ordering == "time":
        time_col = c.DECIDED_AT if leads[c.DECIDED_AT].notna().all() else c.CREATED_AT
        if leads[time_col].isna().any():
            ordering = "none"
            time_col = None
    if ordering == "time" and time_col is not None:
        keys = [leads[time_col].to_numpy(), leads[c.LEAD_ID].to_numpy()]
        order = np.lexsort(keys[::-1])
        kind: SplitKind = "time"
    elif ordering == "row":
        order = np.argsort(leads["row_order"].to_numpy(), kind="stable")
        kind = "row"
    else:
        from sklearn.model_selection import train_test_split

        warning = (
            "no time information in the data: falling back to a STRATIFIED RANDOM split; test metrics will "
            "look better than real use on newer leads, because drift is hidden"
        )
        log.warning(warning)
        idx = np.arange(n)
        rest, test = train_test_split(idx, test_size=fractions[2], stratify=y, random_state=seed)
        train, val = train_test_split(
            rest, test_size=fractions[1] / (fractions[0] + fractions[1]), stratify=y[rest], random_state=seed
        )
        order = np.concatenate([np.sort(train), np.sort(val), np.sort(test)])
        n_train, n_val = len(train), len(val)
        kind = "random"
    train_idx, val_idx, test_idx = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    info: dict[str, Any] = {
        "kind": kind,
        "time_column": time_col,
        "train": _part_info(leads, train_idx, y, time_col),
        "validation": _part_info(leads, val_idx, y, time_col),
        "test": _part_info(leads, test_idx, y, time_col),
    }
    for part, idx in (("train", train_idx), ("validation", val_idx), ("test", test_idx)):
        if len(idx) == 0 or y[idx].sum() == 0:
            raise TrainingError(f"the {part} period has no won leads; need more closed history to train")
    return Split(kind=kind, train=train_idx, val=val_idx, test=test_idx, info=info, warning=warning)
