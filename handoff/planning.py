"""Capacity planning: how many closes each level of sales capacity buys, and what one more rep-week adds.

The curve runs the same selection as `hand_off` (top leads for a lead count, the knapsack for hours) at a
grid of capacities; the validation, worth and priority order are computed once, so a curve costs little more
than one handoff.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from handoff.errors import HandoffError
from handoff.policy import prepare
from handoff.scored import MIN_HOURS, Objective

CurveKind = Literal["hours", "leads"]

CURVE_COLUMNS = (
    "capacity",
    "leads_handed_off",
    "hours_used",
    "expected_closes",
    "expected_value",
    "objective_value",
    "rep_week",
    "marginal_closes_per_rep_week",
    "marginal_value_per_rep_week",
)


def _grid(grid: Sequence[float] | None, points: int, top: float, kind: CurveKind) -> NDArray[np.float64]:
    if grid is not None:
        g = np.asarray(list(grid), dtype=np.float64)
        if g.ndim != 1 or len(g) == 0:
            raise HandoffError("grid must list at least one capacity")
        if not np.all(np.isfinite(g)) or np.any(g < 0):
            raise HandoffError("grid capacities must be finite and >= 0")
    else:
        if points < 2:
            raise HandoffError(f"points must be at least 2; got {points}")
        g = np.linspace(0.0, top, points)
    if kind == "leads":
        g = np.floor(g)
    return np.unique(g)


def capacity_curve(
    scored: pd.DataFrame,
    *,
    kind: CurveKind = "hours",
    grid: Sequence[float] | None = None,
    points: int = 21,
    max_capacity: float | None = None,
    objective: Objective = "closes",
    horizon_days: float | None = None,
    rep_week_hours: float = 40.0,
    min_hours: float = MIN_HOURS,
) -> pd.DataFrame:
    """Expected closes (and value) of the handoff at each capacity, and the gain of one more rep-week.

    `kind="hours"`: capacity in selling hours; one rep-week is `rep_week_hours` more hours.
    `kind="leads"`: capacity in leads; one rep-week is the number of leads that many hours buys at the average
    expected effort of the leads worth handing off (at least one lead), shown in column `rep_week`.
    The default grid runs from 0 to the capacity that takes every lead worth anything, in `points` steps.
    """
    if kind not in ("hours", "leads"):
        raise HandoffError(f"kind must be 'hours' or 'leads'; got {kind!r}")
    if not (math.isfinite(rep_week_hours) and rep_week_hours > 0):
        raise HandoffError(f"rep_week_hours must be a positive number; got {rep_week_hours!r}")
    prep = prepare(scored, objective=objective, horizon_days=horizon_days, min_hours=min_hours)
    data = prep.data
    p = data.p_close
    ev = data.p_close * data.deal_value if data.deal_value is not None else None

    if kind == "hours":
        order = prep.candidates
        top = float(prep.plan.cum_weight[-1]) if len(order) else 0.0
        step = float(rep_week_hours)
    else:
        order = prep.by_value
        top = float(len(order))
        mean_effort = float(data.effort[order].mean()) if len(order) else 1.0
        step = float(max(1, round(rep_week_hours / mean_effort)))
    caps = _grid(grid, points, top if max_capacity is None else float(max_capacity), kind)

    def at(capacity: float) -> tuple[int, float, float, float, float]:
        if kind == "hours":
            chosen = order[prep.plan.select_sorted(capacity)] if len(order) else order
        else:
            chosen = order[: int(capacity)]
        value = math.nan if ev is None else float(np.nansum(ev[chosen]))
        return (
            len(chosen),
            float(data.effort[chosen].sum()),
            float(p[chosen].sum()),
            value,
            float(prep.value[chosen].sum()),
        )

    rows = []
    for c in caps:
        n, hours, closes, value, worth = at(float(c))
        _, _, closes_more, value_more, _ = at(float(c) + step)
        rows.append((float(c), n, hours, closes, value, worth, step, closes_more - closes, value_more - value))
    curve = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    curve["leads_handed_off"] = curve["leads_handed_off"].astype(np.int64)
    curve.attrs["kind"] = kind
    return curve


def plot_capacity_curve(
    curve: pd.DataFrame,
    path: str | Path,
    *,
    current: float | None = None,
    title: str | None = None,
) -> Path:
    """Draw expected closes against capacity, with the marginal closes of one more rep-week, to a PNG file."""
    # The Agg canvas is attached to this figure only: headless (servers, CI), global backend left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    missing = [c for c in ("capacity", "expected_closes", "marginal_closes_per_rep_week") if c not in curve]
    if missing:
        raise HandoffError(f"curve lacks column(s) {', '.join(missing)}; build it with capacity_curve()")
    path = Path(path)
    kind = curve.attrs.get("kind", "hours")
    unit = "selling hours" if kind == "hours" else "leads"

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(curve["capacity"], curve["expected_closes"], marker="o", color="tab:blue", label="expected closes")
    ax.set_xlabel(f"capacity ({unit} per period)")
    ax.set_ylabel("expected closes", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(
        curve["capacity"],
        curve["marginal_closes_per_rep_week"],
        linestyle="--",
        color="tab:orange",
        label="closes from one more rep-week",
    )
    ax2.set_ylabel("closes from one more rep-week", color="tab:orange")
    ax2.set_ylim(bottom=0)
    if current is not None:
        ax.axvline(current, color="grey", linestyle=":", label="current capacity")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="lower right")
    ax.set_title(title or "Expected closes by sales capacity")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    except OSError as exc:
        raise HandoffError(f"cannot write plot {path}: {exc.strerror or exc}") from None
    return path
