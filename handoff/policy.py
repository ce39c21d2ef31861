"""The handoff policy: which leads go to sales this period, to which rep, and what "qualified" means now.

Capacity sets the bar. Each lead is worth its expected closes (`p_close`) or expected value
(`p_close * deal_value`), optionally times the chance that it closes within a horizon; the policy hands off
the set of leads worth the most in total that fits the capacity:

- `max_leads = N`: the N leads worth the most;
- `hours = H`: a knapsack over expected selling hours (see `handoff.knapsack`), i.e. essentially the leads
  with the most closes per selling hour;
- a team: the most worth within every rep's hours, cap and segments (see `handoff.team`): exact when few leads
  are in play (and then more capacity never gives less), else a fair greedy (`handoff.assign`) plus a local
  search; a lead that no eligible rep has room for is not handed off.

Every lead gets one stage: `sales_ready` (handed off), `marketing_qualified` (would be handed off if capacity
were 50% larger) or `nurture`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from handoff.assign import Eligibility, eligibility
from handoff.capacity import CapacityKind, CapacitySpec, Rep, parse_capacity
from handoff.errors import CapacitySpecError
from handoff.knapsack import KnapsackPlan
from handoff.scored import (
    EXPECTED_DAYS,
    LEAD_ID,
    MIN_HOURS,
    Objective,
    ScoredArrays,
    objective_value,
    validate_scored,
    within_horizon,
)
from handoff.team import SECOND_START_MAX_LEADS, assign_team
from handoff.team import Method as TeamMethod

log = logging.getLogger(__name__)

SALES_READY: Final = "sales_ready"
MARKETING_QUALIFIED: Final = "marketing_qualified"
NURTURE: Final = "nurture"
STAGES: Final = (SALES_READY, MARKETING_QUALIFIED, NURTURE)

# "Next in line": what a 50% larger capacity would add.
MQL_HEADROOM: Final = 1.5

RESULT_COLUMNS: Final = (
    "rank",
    LEAD_ID,
    "stage",
    "p_close",
    "expected_hours",
    EXPECTED_DAYS,
    "assigned_to",
    "expected_value",
    "closes_per_hour",
    "priority",
)


class RepSummary(BaseModel):
    """What one rep of the team was handed."""

    model_config = ConfigDict(frozen=True)

    name: str
    hours_available: float
    hours_used: float
    max_leads: int | None
    leads: int
    expected_closes: float
    expected_value: float | None


class HandoffSummary(BaseModel):
    """The numbers a sales lead needs about one handoff, and one sentence that says what they mean."""

    model_config = ConfigDict(frozen=True)

    objective: Objective
    capacity_kind: CapacityKind
    period: str
    horizon_days: float | None
    leads_scored: int
    leads_handed_off: int
    leads_marketing_qualified: int
    leads_nurture: int
    lead_capacity: int | None
    hours_available: float | None
    hours_used: float
    expected_closes: float
    expected_closes_within_horizon: float | None
    expected_value: float | None
    expected_close_rate: float | None
    expected_closes_per_hour: float | None
    cutoff_p_close: float | None
    min_p_close: float | None
    cutoff_closes_per_hour: float | None
    reps: list[RepSummary] | None
    # For a team: "exact" when the handoff is provably the best possible (few leads in play), else "heuristic".
    team_assignment: TeamMethod | None = None
    statement: str

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class HandoffResult:
    """Every scored lead with its stage (sales-ready first, in priority order), plus the summary."""

    leads: pd.DataFrame
    summary: HandoffSummary

    def sales_ready(self) -> pd.DataFrame:
        return self.leads[self.leads["stage"] == SALES_READY]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the summary and one record per lead, with missing values as `None`."""
        leads = self.leads.astype(object).where(self.leads.notna(), None)
        return {"summary": self.summary.to_dict(), "leads": leads.to_dict(orient="records")}


@dataclass
class Prepared:
    """A validated scored frame with the per-lead worth and the priority orders, computed once per frame."""

    data: ScoredArrays
    objective: Objective
    horizon_days: float | None
    value: NDArray[np.float64]  # worth of each lead under the objective (and horizon)
    candidates: NDArray[np.intp]  # leads worth > 0, by worth per selling hour (ties: lead id)
    plan: KnapsackPlan

    @cached_property
    def by_value(self) -> NDArray[np.intp]:
        """Leads worth > 0 by worth (ties: lead id); only a lead cap needs it, so it is built on demand."""
        return priority_order(self.value, self.data.ids, np.flatnonzero(self.value > 0))


def _id_rank(ids: pd.Series, rows: NDArray[np.intp]) -> NDArray[np.intp]:
    subset = ids.iloc[rows]
    if not pd.api.types.is_numeric_dtype(subset.dtype):
        subset = subset.astype(str)
    codes, _ = pd.factorize(subset, sort=True)
    return np.asarray(codes, dtype=np.intp)


def priority_order(key: NDArray[np.float64], ids: pd.Series, rows: NDArray[np.intp]) -> NDArray[np.intp]:
    """`rows` sorted by `key` descending, ties broken by lead id ascending.

    Only tied rows pay for the id comparison, so the usual case costs one float sort; the result does not
    depend on the input row order.
    """
    # An unstable sort is fine (and much faster): ties are put in id order below.
    order = rows[np.argsort(-key[rows])]
    ks = key[order]
    same = ks[1:] == ks[:-1]
    if same.any():
        tied = np.zeros(len(order), dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        pos = np.flatnonzero(tied)
        sub = order[pos]
        order[pos] = sub[np.lexsort((_id_rank(ids, sub), -key[sub]))]
    return order


def prepare(
    scored: pd.DataFrame,
    *,
    objective: Objective = "closes",
    horizon_days: float | None = None,
    segment_columns: list[str] | tuple[str, ...] = (),
    min_hours: float = MIN_HOURS,
) -> Prepared:
    """Validate `scored` and compute what every capacity shares: worth, density order, knapsack plan."""
    data = validate_scored(
        scored,
        objective=objective,
        horizon_days=horizon_days,
        segment_columns=segment_columns,
        min_hours=min_hours,
    )
    value = objective_value(data, objective, horizon_days)
    positive = np.flatnonzero(value > 0)
    candidates = priority_order(value / data.effort, data.ids, positive)
    plan = KnapsackPlan(value, data.effort, order=candidates)
    return Prepared(data, objective, horizon_days, value, candidates, plan)


def policy_order(prep: Prepared, spec: CapacitySpec) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """The order in which the policy considers leads (worth > 0 only) and the key it sorts by.

    A lead cap ranks by worth; an hour budget by worth per selling hour. A team whose reps all have lead caps
    spends two resources at once, so each lead is ranked by its worth per share of team capacity it uses,
    `worth / (hours / team hours + 1 / team leads)`: a cheap lead still uses up a whole lead slot.
    """
    if spec.kind == "leads":
        return prep.by_value, prep.value
    density = prep.value / prep.data.effort
    total_leads = spec.total_leads()
    if spec.kind == "hours" or total_leads is None:
        return prep.candidates, density
    total_hours = spec.total_hours() or 1.0
    key = prep.value / (prep.data.effort / total_hours + 1.0 / total_leads)
    return priority_order(key, prep.data.ids, prep.candidates), key


def team_capacity(team: list[Rep]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Hours and lead cap (`inf` for none) of each rep, as arrays."""
    rep_hours = np.array([r.hours for r in team], dtype=np.float64)
    rep_caps = np.array([np.inf if r.max_leads is None else r.max_leads for r in team], dtype=np.float64)
    return rep_hours, rep_caps


def _select(
    prep: Prepared,
    spec: CapacitySpec,
    order: NDArray[np.intp],
    elig: Eligibility | None = None,
) -> tuple[NDArray[np.intp], TeamMethod | None]:
    """Rep index per lead for a team (-1: not handed off); 0 / -1 for the single-pool capacities.

    Also says, for a team, whether the assignment is provably optimal ("exact") or not ("heuristic").
    """
    n = len(prep.data)
    assigned = np.full(n, -1, dtype=np.intp)
    if spec.max_leads is not None:
        assigned[order[: spec.max_leads]] = 0
    elif spec.hours is not None:
        if len(prep.candidates):
            assigned[prep.candidates[prep.plan.select_sorted(spec.hours)]] = 0
    else:
        assert spec.team is not None
        if elig is None:
            elig = eligibility(prep.data.frame, spec.team)
        rep_hours, rep_caps = team_capacity(spec.team)
        by_value = prep.by_value if len(order) <= SECOND_START_MAX_LEADS else None
        team = assign_team(order, prep.value, prep.data.effort, elig, rep_hours, rep_caps, by_value=by_value)
        return team.assigned, team.method
    return assigned, None


def _as_spec(capacity: CapacitySpec | Mapping[str, Any]) -> CapacitySpec:
    if isinstance(capacity, CapacitySpec):
        return capacity
    if isinstance(capacity, Mapping):
        return parse_capacity(capacity)
    raise CapacitySpecError(
        f"capacity must be a CapacitySpec or a mapping of capacity keys, got {type(capacity).__name__}"
    )


def hand_off(
    scored: pd.DataFrame,
    capacity: CapacitySpec | Mapping[str, Any],
    objective: Objective = "closes",
    horizon_days: float | None = None,
    *,
    min_hours: float = MIN_HOURS,
    period_label: str | None = None,
    left_out: int = 0,
) -> HandoffResult:
    """Choose the leads sales gets this period, assign them to reps and label every lead.

    `scored` needs `lead_id`, `p_close` and `expected_hours`; `deal_value` for `objective="value"`;
    `expected_days_to_close` when `horizon_days` is given; and the attribute columns the team's segments use.
    Expected hours below `min_hours` (including 0) are charged as `min_hours`. `period_label` opens the
    summary's statement (e.g. "In week 42"); by default "This week" (or the capacity's period).
    Raises `ScoredLeadsError` / `CapacitySpecError` with a message naming the column or key. `left_out`: leads
    scored but not in `scored` because a shortlist (`handoff.shortlist`) showed they stay in nurture; the summary
    counts them.
    """
    spec = _as_spec(capacity)
    if left_out < 0:
        raise ValueError(f"left_out counts leads: it cannot be negative, got {left_out}")
    prep = prepare(
        scored,
        objective=objective,
        horizon_days=horizon_days,
        segment_columns=spec.segment_columns(),
        min_hours=min_hours,
    )
    order, key = policy_order(prep, spec)
    elig = eligibility(prep.data.frame, spec.team) if spec.team is not None else None
    assigned, method = _select(prep, spec, order, elig)
    # The same order for the wider capacity keeps "next in line" meaning next in the same queue.
    wider, _ = _select(prep, spec.scaled(MQL_HEADROOM), order, elig)
    handed = assigned >= 0
    stage_code = np.where(handed, 0, np.where(wider >= 0, 1, 2))
    log.info(
        "handoff: %d of %d leads sales-ready, %d marketing-qualified (%s capacity)",
        int(handed.sum()),
        len(handed),
        int((stage_code == 1).sum()),
        spec.kind,
    )
    frame = _result_frame(prep, spec, order, key, assigned, stage_code)
    summary = _summary(prep, spec, order, assigned, stage_code, method, period_label, left_out)
    return HandoffResult(frame, summary)


def _result_frame(
    prep: Prepared,
    spec: CapacitySpec,
    prio_order: NDArray[np.intp],
    priority: NDArray[np.float64],
    assigned: NDArray[np.intp],
    stage_code: NDArray[np.int_],
) -> pd.DataFrame:
    data = prep.data
    n = len(data)
    # Rank: sales-ready first, then marketing-qualified, then nurture; within a stage by the policy's priority
    # (see `policy_order`); leads worth nothing come last, by p_close, ties by lead id.
    worthless = np.flatnonzero(prep.value <= 0)
    prio_stage = stage_code[prio_order]
    order = np.concatenate(
        [
            prio_order[prio_stage == 0],
            prio_order[prio_stage == 1],
            prio_order[prio_stage == 2],
            priority_order(data.p_close, data.ids, worthless),
        ]
    )

    deal = data.deal_value
    expected_value = data.p_close * deal if deal is not None else np.full(n, np.nan)
    days = data.days if data.days is not None else np.full(n, np.nan)
    # Taking from a tiny `str` Series is far cheaper than building a million-row string array from objects.
    stages = pd.Series(list(STAGES), dtype="str")
    if spec.team is not None:
        names = pd.Series([r.name for r in spec.team] + [None], dtype="str")
        assigned_to = names.take(np.where(assigned >= 0, assigned, len(spec.team))[order]).array
    else:
        assigned_to = pd.array(pa.nulls(n, pa.large_string()), dtype="str")
    columns: dict[str, Any] = {
        "rank": np.arange(1, n + 1, dtype=np.int64),
        LEAD_ID: data.ids.take(order).array,
        "stage": stages.take(stage_code[order]).array,
        "p_close": data.p_close[order],
        "expected_hours": data.hours[order],
        EXPECTED_DAYS: days[order],
        "assigned_to": assigned_to,
        "expected_value": expected_value[order],
        "closes_per_hour": (data.p_close / data.effort)[order],
        "priority": priority[order],
    }
    for col in data.frame.columns:
        if col not in columns:
            columns[col] = data.frame[col].take(order).array
    return pd.DataFrame(columns, copy=False)


def _fmt_pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _statement(s: HandoffSummary, label: str | None = None) -> str:
    period = label if label is not None else f"This {s.period}"
    if s.leads_handed_off == 0:
        why = "no lead with a chance to close fits the capacity"
        return f"{period} no lead is handed to sales: {why}; {s.leads_nurture} leads stay in nurture."
    one = s.leads_handed_off == 1
    base = f"{period} 'qualified' means the {s.leads_handed_off} lead{'' if one else 's'} "
    make = "makes" if one else "make"
    if s.capacity_kind == "leads":
        fit = f"worth the most among {s.leads_scored} (at most {s.lead_capacity} per {s.period})"
    elif s.capacity_kind == "hours":
        fit = f"that {make} the most of {s.hours_available:g} selling hours ({s.hours_used:.0f} h used)"
    else:
        n_reps = len(s.reps or [])
        fit = (
            f"that {make} the most of the team's {s.hours_available:g} selling hours across {n_reps} "
            f"rep{'s' if n_reps != 1 else ''} ({s.hours_used:.0f} h used)"
        )
    numbers = (
        f": together {s.expected_closes:.1f} expected closes, a {_fmt_pct(s.expected_close_rate or 0.0)} "
        f"close rate and {s.expected_closes_per_hour or 0.0:.3f} closes per selling hour"
    )
    if s.expected_value is not None and s.objective == "value":
        numbers += f", worth {s.expected_value:,.0f} in expected deal value"
    bar = (
        f"; none below {s.cutoff_closes_per_hour or 0.0:.3f} closes per hour or a "
        f"{_fmt_pct(s.min_p_close or 0.0)} chance to close"
    )
    n_mql = s.leads_marketing_qualified
    nxt = f"; {n_mql} more {'waits' if n_mql == 1 else 'wait'} as marketing-qualified."
    return base + fit + numbers + bar + nxt


def _summary(
    prep: Prepared,
    spec: CapacitySpec,
    prio_order: NDArray[np.intp],
    assigned: NDArray[np.intp],
    stage_code: NDArray[np.int_],
    method: TeamMethod | None,
    period_label: str | None = None,
    left_out: int = 0,
) -> HandoffSummary:
    data = prep.data
    # Sums run over the handed-off leads in priority order, not input order, so that float rounding (and so
    # the summary) does not depend on how the input rows happen to be ordered.
    handed = prio_order[assigned[prio_order] >= 0]
    p = data.p_close[handed]
    effort = data.effort[handed]
    hours_used = math.fsum(effort.tolist())
    closes = math.fsum(p.tolist())
    deal = data.deal_value
    value = None
    if deal is not None:
        ev = (data.p_close * deal)[handed]
        value = math.fsum(np.nan_to_num(ev).tolist())
    in_horizon = None
    if prep.horizon_days is not None and data.days is not None:
        in_horizon = math.fsum((p * within_horizon(data.days[handed], prep.horizon_days)).tolist())

    cutoff_p = float(p[-1]) if len(handed) else None
    n_handed = len(handed)

    reps = None
    if spec.team is not None:
        n_reps = len(spec.team)
        a = assigned[handed]
        hours_by = np.bincount(a, weights=effort, minlength=n_reps)
        leads_by = np.bincount(a, minlength=n_reps)
        closes_by = np.bincount(a, weights=p, minlength=n_reps)
        value_by = None
        if deal is not None:
            value_by = np.bincount(a, weights=np.nan_to_num((data.p_close * deal)[handed]), minlength=n_reps)
        reps = [
            RepSummary(
                name=rep.name,
                hours_available=rep.hours,
                hours_used=float(hours_by[i]),
                max_leads=rep.max_leads,
                leads=int(leads_by[i]),
                expected_closes=float(closes_by[i]),
                expected_value=None if value_by is None else float(value_by[i]),
            )
            for i, rep in enumerate(spec.team)
        ]

    fields: dict[str, Any] = {
        "objective": prep.objective,
        "capacity_kind": spec.kind,
        "period": spec.period,
        "horizon_days": prep.horizon_days,
        "leads_scored": len(data) + left_out,
        "leads_handed_off": n_handed,
        "leads_marketing_qualified": int((stage_code == 1).sum()),
        "leads_nurture": int((stage_code == 2).sum()) + left_out,
        "lead_capacity": spec.total_leads(),
        "hours_available": spec.total_hours(),
        "hours_used": hours_used,
        "expected_closes": closes,
        "expected_closes_within_horizon": in_horizon,
        "expected_value": value,
        "expected_close_rate": closes / n_handed if n_handed else None,
        "expected_closes_per_hour": closes / hours_used if hours_used > 0 else None,
        "cutoff_p_close": cutoff_p,
        "min_p_close": float(p.min()) if n_handed else None,
        "cutoff_closes_per_hour": float((p / effort).min()) if n_handed else None,
        "reps": reps,
        "team_assignment": method,
        "statement": "",
    }
    draft = HandoffSummary(**fields)
    return draft.model_copy(update={"statement": _statement(draft, period_label)})
