"""Evaluation plots logged with every training run (PNG files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def calibration_by_source(y: np.ndarray, p: np.ndarray, source: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Observed close rate against predicted probability, one line per lead source (equal-count bins)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for s in sorted(pd.unique(source)):
        m = source == s
        if m.sum() < 50:
            continue
        order = np.argsort(p[m], kind="stable")
        chunks = np.array_split(order, min(bins, max(2, int(m.sum()) // 25)))
        xs = [p[m][ch].mean() for ch in chunks if len(ch)]
        ys = [y[m][ch].mean() for ch in chunks if len(ch)]
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=f"{s} (n={int(m.sum()):,})")
    top = float(max(np.quantile(p, 0.995), 0.05))
    ax.set_xlim(0, min(1, top * 1.1))
    ax.set_ylim(0, min(1, top * 1.3))
    ax.set_xlabel("predicted p_close")
    ax.set_ylabel("observed close rate")
    ax.set_title("Calibration by lead source (test period)")
    ax.legend(fontsize=7)
    return _save(plt, fig, path)


def cumulative_gains(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Share of wins captured against share of leads contacted, best first, per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    for name, (x, g) in curves.items():
        ax.plot(x, g, linewidth=1.4, label=name)
    ax.set_xlabel("share of leads handed off (best first)")
    ax.set_ylabel("share of wins captured")
    ax.set_title("Cumulative gains (test period)")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def gains_curve(y: np.ndarray, score: np.ndarray, lead_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from training.evaluate import top_order

    order = top_order(score, lead_ids)
    cum = np.cumsum(y[order]) / max(float(y.sum()), 1.0)
    x = np.arange(1, len(y) + 1) / len(y)
    step = max(1, len(y) // 400)
    return np.r_[0, x[::step], 1.0], np.r_[0, cum[::step], 1.0]


def feature_importance(model: Any, columns: list[str], path: Path, top: int = 25) -> Path:
    """LightGBM gain importance of the served classifier."""
    plt = _pyplot()
    gain = model.feature_importance(importance_type="gain")
    order = np.argsort(gain)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(order) + 1.2))
    ax.barh([columns[i] for i in order], gain[order] / max(gain.sum(), 1e-12))
    ax.set_xlabel("share of total gain")
    ax.set_title("Feature importance (LightGBM gain)")
    return _save(plt, fig, path)
