"""The drift statistics: population stability index and the AUC's standard error.

A few lines of numpy on purpose (docs/data-science.md, "Why our own PSI"): the bins are the training reference's
own (`model.reference`), stored with the model, and a library such as Evidently would bin the two samples itself
from raw training data that monitoring no longer has. ECE and AUC come from `training.evaluate`, the functions
training reports them with.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

# The usual bands: below 0.1 the population is stable, 0.1 to 0.25 it moved, above 0.25 it changed.
PSI_WATCH: Final = 0.1
PSI_ACT: Final = 0.25
# An empty bin on one side would make the index infinite; shares are floored at this (a common choice).
_FLOOR: Final = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of `actual` shares against `expected` shares over the same bins:
    sum over bins of (actual - expected) * ln(actual / expected), shares floored at 1e-4."""
    e = np.maximum(np.asarray(expected, dtype=float), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def auc_standard_error(auc: float, n_won: int, n_lost: int) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC AUC from `n_won` positives and `n_lost` negatives."""
    if n_won < 1 or n_lost < 1 or not math.isfinite(auc):
        return math.nan
    q1 = auc / (2 - auc)
    q2 = 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_won - 1) * (q1 - auc**2) + (n_lost - 1) * (q2 - auc**2)) / (n_won * n_lost)
    return math.sqrt(max(var, 0.0))
