"""Evaluation on the test period: ranking, calibration, and what matters to sales: closes at capacity.

This is the only training module allowed to read the simulator's ground truth (`truth.*`): it compares the model
with the oracle that ranks by the true close probability. Training and serving never see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c

TOP_SHARES = (0.05, 0.10, 0.20)
CAPACITY_SHARE = 0.10


@dataclass
class Truth:
    """The simulator's ground truth, aligned to the test leads (evaluation only)."""

    p_close: np.ndarray
    expected_hours: np.ndarray


def read_truth_for(data_dir: Path, lead_ids: pd.Series) -> Truth | None:
    """The simulator's truth for these leads, or None when the data set has none (real CRM data)."""
    from simulator import read_truth

    if not any((data_dir / f"truth.{ext}").exists() for ext in ("parquet", "csv")):
        return None
    truth = read_truth(data_dir).set_index(c.LEAD_ID)
    aligned = truth.reindex(lead_ids.to_numpy())
    if aligned["p_close"].isna().any():
        return None
    return Truth(
        p_close=aligned["p_close"].to_numpy(dtype=float),
        expected_hours=aligned["expected_hours"].to_numpy(dtype=float),
    )


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-width probability bins, weighted by bin size."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    sum_p = np.bincount(which, weights=p, minlength=bins)
    sum_y = np.bincount(which, weights=y, minlength=bins)
    return float(np.abs(sum_p - sum_y).sum() / len(y))


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
    }


def probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, log_loss

    return {
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }


def top_order(score: np.ndarray, lead_ids: np.ndarray) -> np.ndarray:
    """Best first; ties broken by lead id so every ranking is deterministic."""
    return np.lexsort((lead_ids, -np.asarray(score, dtype=float)))


def gains_table(y: np.ndarray, score: np.ndarray, lead_ids: np.ndarray, points: int = 10) -> pd.DataFrame:
    """Cumulative gains and lift at each decile of leads contacted, best first."""
    order = top_order(score, lead_ids)
    cum = np.cumsum(y[order])
    total = max(float(cum[-1]), 1.0)
    rows = []
    for k in range(1, points + 1):
        n = max(1, round(len(y) * k / points))
        share = n / len(y)
        gain = float(cum[n - 1]) / total
        rows.append({"share_of_leads": share, "share_of_wins": gain, "lift": gain / share})
    return pd.DataFrame(rows)


def top_share_metrics(y: np.ndarray, score: np.ndarray, lead_ids: np.ndarray, truth: Truth | None) -> dict[str, float]:
    out: dict[str, float] = {}
    order = top_order(score, lead_ids)
    for share in TOP_SHARES:
        n = max(1, round(len(y) * share))
        top = order[:n]
        tag = f"top{round(share * 100)}pct"
        out[f"close_rate_{tag}"] = float(y[top].mean())
        out[f"closes_{tag}"] = float(y[top].sum())
        out[f"lift_{tag}"] = float(y[top].mean() / max(y.mean(), 1e-12))
        if truth is not None:
            out[f"true_expected_closes_{tag}"] = float(truth.p_close[top].sum())
    return out


def capacity_metrics(
    y: np.ndarray,
    selected: np.ndarray,
    truth: Truth | None,
) -> dict[str, float]:
    """What the handed-off set (boolean mask) achieved: realised closes, close rate, true expected closes."""
    n = int(selected.sum())
    out = {
        "leads_at_capacity": float(n),
        "expected_closes_at_capacity": float(y[selected].sum()),
        "close_rate_at_capacity": float(y[selected].mean()) if n else 0.0,
    }
    if truth is not None:
        out["true_expected_closes_at_capacity"] = float(truth.p_close[selected].sum())
    return out


def per_source_ece(y: np.ndarray, p: np.ndarray, source: np.ndarray) -> dict[str, float]:
    out = {}
    for s in sorted(pd.unique(source)):
        m = source == s
        if m.sum() >= 50:
            out[str(s)] = expected_calibration_error(y[m], p[m])
    return out
