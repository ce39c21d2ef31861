"""The rolling-origin backtest: how the training recipe does on leads newer than everything it learnt from.

Closed leads in time order are cut into folds. Fold k tests on one window of the newest history and learns from
everything before it: the newest part of that (`val_share`) early-stops and calibrates, the rest fits. The windows
tile the newest `n_folds * test_share` of the history, oldest fold first, so the last fold tests on the newest
leads of all.

On drifting data the oldest history can hurt: the backtest may instead fit only on the most recent part of what
comes before each window (`WINDOWS`: a share of it). The window is chosen on the folds before the last, by mean
ROC AUC (ties keep all history); the last fold then measures the chosen recipe on leads that took no part in any
choice, and those are the numbers reported as the test metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

# Training windows the backtest may choose from: all history, or its most recent half. Few on purpose: each costs
# one fit per fold, and more choices fit the backtest rather than the future.
WINDOWS: Final = (1.0, 0.5)
N_FOLDS: Final = 3
TEST_SHARE: Final = 0.1  # of the closed leads, per fold
VAL_SHARE: Final = 0.125  # of what comes before a fold's window: early stopping and calibration


def window_name(share: float) -> str:
    return "all history" if share >= 1.0 else f"most recent {share:.0%}"


@dataclass(frozen=True)
class Fold:
    """One backtest fold: positions into the closed-leads frame."""

    number: int  # 1 = oldest window
    history: np.ndarray  # everything before the window, oldest first (fit + val with the full window)
    val: np.ndarray  # the newest part of `history`
    test: np.ndarray

    def fit_rows(self, window: float) -> np.ndarray:
        """The rows a model of this fold fits on when it learns from the most recent `window` of its history."""
        before_val = self.history[: len(self.history) - len(self.val)]
        keep = max(1, round(window * len(before_val)))
        return before_val[len(before_val) - keep :]


def rolling_folds(
    order: np.ndarray,
    y: np.ndarray,
    n_folds: int = N_FOLDS,
    test_share: float = TEST_SHARE,
    val_share: float = VAL_SHARE,
) -> tuple[list[Fold], list[str]]:
    """The folds (oldest window first) and why any were dropped: a fold needs won and lost leads in each part.

    `order` holds the positions of the closed leads, oldest first; `y` their outcomes (by position)."""
    n = len(order)
    size = max(1, round(test_share * n))
    folds: list[Fold] = []
    dropped: list[str] = []
    for k in range(n_folds):
        end = n - (n_folds - 1 - k) * size
        start = end - size
        history = order[:start]
        n_val = max(1, round(val_share * len(history)))
        fold = Fold(number=k + 1, history=history, val=history[len(history) - n_val :], test=order[start:end])
        parts = {"fit": fold.fit_rows(1.0), "validation": fold.val, "test": fold.test}
        empty = [name for name, idx in parts.items() if len(idx) == 0 or y[idx].min() == y[idx].max()]
        if len(history) < 2 * n_val or empty:
            dropped.append(f"fold {k + 1}: its {' and '.join(empty) or 'history'} lacks won or lost leads")
            continue
        folds.append(fold)
    return [Fold(i + 1, f.history, f.val, f.test) for i, f in enumerate(folds)], dropped


def choose_window(scores: dict[float, list[float]]) -> tuple[float, str]:
    """The window with the best mean score over the choosing folds (ties: the larger window), and why."""
    if not scores or not any(scores.values()):
        return 1.0, "all history: no fold before the last to choose a window on"
    means = {w: float(np.mean(s)) for w, s in scores.items() if s}
    best = max(means, key=lambda w: (round(means[w], 6), w))
    listed = ", ".join(f"{window_name(w)} {m:.4f}" for w, m in sorted(means.items(), reverse=True))
    n = len(next(iter(scores.values())))
    return (
        best,
        f"{window_name(best)}: best mean AUC over the {n} fold{'s' if n != 1 else ''} before the last ({listed})",
    )
