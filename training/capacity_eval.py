"""Capacity metrics of the test period, computed with the very handoff policy sales will use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import contract as c
from handoff import hand_off


def capacity_budget(test_leads: pd.DataFrame, expected_hours: np.ndarray, share: float) -> float:
    """Selling hours available in the test period: `share` of the hours all its leads would cost.

    Real hours spent are used when the data has them (the same budget for every candidate), else the scorer's
    estimates.
    """
    if c.SALES_HOURS in test_leads.columns and test_leads[c.SALES_HOURS].notna().mean() > 0.5:
        hours = test_leads[c.SALES_HOURS].fillna(test_leads[c.SALES_HOURS].median()).to_numpy(dtype=float)
    else:
        hours = np.asarray(expected_hours, dtype=float)
    return float(share * hours.sum())


def select_at_capacity(lead_ids: np.ndarray, p: np.ndarray, hours: np.ndarray, budget: float) -> np.ndarray:
    """Boolean mask of the leads the handoff policy passes to sales within `budget` hours."""
    scored = pd.DataFrame({c.LEAD_ID: lead_ids.astype(str), "p_close": np.clip(p, 0, 1), "expected_hours": hours})
    result = hand_off(scored, {"hours": max(budget, 1e-9)})
    ready = set(result.sales_ready()[c.LEAD_ID])
    return np.fromiter((lead in ready for lead in scored[c.LEAD_ID]), dtype=bool, count=len(scored))


def select_by_order(lead_ids: np.ndarray, score: np.ndarray, hours: np.ndarray, budget: float) -> np.ndarray:
    """Hand off best-scored leads first until the hours run out (how a points threshold is used in practice)."""
    order = np.lexsort((lead_ids, -np.asarray(score, dtype=float)))
    within = np.cumsum(np.asarray(hours, dtype=float)[order]) <= budget
    mask = np.zeros(len(score), dtype=bool)
    mask[order[within]] = True
    return mask
