"""Likely leaks: attribute columns that on their own almost separate won from lost leads.

A column filled in only once a deal is decided (a close reason, a copied stage, an invoice number) predicts the
outcome of history perfectly and nothing about a new lead. A single column with a ROC AUC of 0.95 or more on the
closed leads is rarely a genuine signal in lead scoring, so the dataset spec loader names each one and says how
strong it is; the user decides whether to exclude it.

Numeric columns are scored by their values (missing placed below and above all values, whichever separates
better). Categorical columns are scored by out-of-fold won rates per value: a value's rate is learnt on the other
folds, so an identifier (every value unique) scores about 0.5, and a copied outcome about 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

from features.contract import OUTCOME, WON

LEAK_AUC: Final = 0.95
_FOLDS: Final = 5
_MIN_CLOSED: Final = 20


def single_feature_auc(values: pd.Series, y: np.ndarray, categorical: bool) -> float:
    """How well the column alone separates y = 1 from y = 0: ROC AUC folded to [0.5, 1]."""
    if categorical:
        scores = [_out_of_fold_rates(values, y)]
    else:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        missing = np.isnan(x)
        if missing.all():
            return 0.5
        low, high = np.nanmin(x) - 1.0, np.nanmax(x) + 1.0
        scores = [np.where(missing, low, x), np.where(missing, high, x)]
    best = 0.5
    for score in scores:
        auc = _auc(y, score)
        best = max(best, auc, 1.0 - auc)
    return best


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    from scipy.stats import rankdata

    positive = y == 1
    n1 = int(positive.sum())
    n0 = len(y) - n1
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _out_of_fold_rates(values: pd.Series, y: np.ndarray) -> np.ndarray:
    codes = pd.factorize(values.astype("object").where(values.notna(), "\0missing"))[0]
    fold = np.arange(len(y)) % _FOLDS
    prior = float(y.mean())
    out = np.empty(len(y))
    n_codes = int(codes.max()) + 1
    for k in range(_FOLDS):
        train, test = fold != k, fold == k
        wins = np.bincount(codes[train], weights=y[train], minlength=n_codes)
        counts = np.bincount(codes[train], minlength=n_codes)
        # One pseudo-lead at the prior: a value seen once elsewhere does not get a rate of exactly 0 or 1.
        out[test] = ((wins + prior) / (counts + 1.0))[codes[test]]
    return out


def likely_leaks(
    leads: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str], threshold: float = LEAK_AUC
) -> list[str]:
    """One warning per attribute whose single-feature AUC on the closed (won or lost) leads is >= `threshold`."""
    if OUTCOME not in leads.columns:
        return []
    closed = leads[OUTCOME].notna().to_numpy()
    y = (leads.loc[closed, OUTCOME] == WON).to_numpy(dtype=np.float64)
    if len(y) < _MIN_CLOSED or y.min() == y.max():
        return []
    out = []
    for column, is_categorical in [(col, True) for col in categorical] + [(col, False) for col in numeric]:
        if column not in leads.columns:
            continue
        auc = single_feature_auc(leads.loc[closed, column].reset_index(drop=True), y, is_categorical)
        if auc >= threshold:
            out.append(
                f"LIKELY LEAK: column '{column}' alone separates won from lost leads (single-feature AUC "
                f"{auc:.3f} on {len(y):,} closed leads): is it filled in only once the outcome is known? If so, "
                "list it under [leads] exclude"
            )
    return out
