"""Shortlists: of many scored leads kept in parts (partitions on a cluster), gather only those that can reach sales.

`hand_off` needs one table, but of millions of open leads only a few thousand can be `sales_ready` or
`marketing_qualified`; the rest are `nurture` whatever happens. A shortlist finds those few in small rounds
(the methods of `Shortlist`, in order) without gathering the rest, and proves that the handoff of the
shortlisted leads is the handoff of all of them (the stages, the ranks of the sales stages and every figure of
the summary, with `hand_off(..., left_out=n)` counting the rest):

1. `prefix`, on each part: the keys (worth per selling hour for an hour budget, worth for a lead cap) and hours
   of its best leads, as many as could matter.
2. `floor`, on the caller: the key above which leads are gathered. For an hour budget, where the merged best
   leads hold `REACH` times the wider (marketing-qualified) budget's hours, the knapsack's exact front and more
   than the budget's hours after it; never below the last key a part sent. For a lead cap, the wider cap's
   last lead.
3. `above`, on each part: its leads above the floor, gathered.
4. `room`, on the caller (hour budgets): the most hours the knapsack's greedy member leaves unused after those.
5. `fillers`, on each part: its leads below the floor that weigh no more than that room (the knapsack is not a
   cut at a key: its greedy member skips a lead that does not fit and takes a later, lighter one, so light
   leads far down the order can be handed off), gathered, and the fewest hours of its leads still left out.
6. `covers`, on the caller: every left-out lead is heavier than any room the greedy member leaves, the front
   (the first `FRONT_ITEMS` leads) and the runs after it lie above the floor. Then no left-out lead is ever
   taken and every shortlisted lead is decided as among all. If it does not hold, the caller gathers every lead.

A lead cap needs no proof: leads at or above the wider cap's key contain the answer. A team has no shortlist
(`shortlist_applies`): a rep whose segment few leads match can take a lead from anywhere in the order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from handoff.capacity import CapacitySpec
from handoff.knapsack import FRONT_ITEMS
from handoff.policy import MQL_HEADROOM, Prepared, prepare
from handoff.scored import MIN_HOURS, Objective

# The shortlist covers this many times the wider budget's hours: room for the greedy member's skips.
REACH: Final = 2.0


def shortlist_applies(spec: CapacitySpec) -> bool:
    """Whether this capacity has a shortlist (an hour budget or a lead cap; not a team)."""
    return spec.team is None


@dataclass(frozen=True)
class Prefix:
    """A part's best leads by the policy's key: their keys (descending) and selling hours (effort), and whether
    that is all its leads worth something."""

    key: NDArray[np.float64]
    effort: NDArray[np.float64]
    complete: bool


@dataclass(frozen=True)
class Fillers:
    """A part's leads below the floor light enough to fill the room, and the fewest hours among the others that
    are worth something (inf: none)."""

    rows: NDArray[np.intp]
    left_min_effort: float


def _enough(cum_effort: NDArray[np.float64], budget: float) -> int:
    """How many of the best leads (cumulative hours `cum_effort`) an hour budget needs for `covers` to hold:
    `REACH` times its hours, the knapsack's front, and more than the budget's hours after the front."""
    n_reach = int(np.searchsorted(cum_effort, REACH * budget, side="left")) + 1
    front_hours = float(cum_effort[FRONT_ITEMS - 1]) if len(cum_effort) >= FRONT_ITEMS else 0.0
    n_run = int(np.searchsorted(cum_effort, front_hours + budget, side="right")) + 1
    return min(len(cum_effort), max(n_reach, n_run, FRONT_ITEMS))


@dataclass(frozen=True)
class Shortlist:
    """The rounds of a shortlist for one handoff: `hand_off(scored, spec, objective, horizon_days,
    min_hours=min_hours)` over every part's leads together."""

    spec: CapacitySpec
    objective: Objective = "closes"
    horizon_days: float | None = None
    min_hours: float = MIN_HOURS

    def __post_init__(self) -> None:
        if not shortlist_applies(self.spec):
            raise ValueError("a team's handoff has no shortlist")

    @property
    def _wider(self) -> CapacitySpec:
        return self.spec.scaled(MQL_HEADROOM)

    def _prepared(self, scored: pd.DataFrame) -> Prepared:
        return prepare(scored, objective=self.objective, horizon_days=self.horizon_days, min_hours=self.min_hours)

    def _keyed(self, prep: Prepared) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """The leads worth something in the policy's order, and the key of every lead."""
        if self.spec.max_leads is not None:
            return prep.by_value, prep.value
        return prep.candidates, prep.value / prep.data.effort

    def _above(self, key: NDArray[np.float64], floor: float) -> NDArray[np.bool_]:
        # A lead cap keeps the leads tied with the floor (the wider cap's last lead); an hour budget does not.
        return key >= floor if self.spec.max_leads is not None else key > floor

    def prefix(self, scored: pd.DataFrame) -> Prefix:
        """Round 1, on a part: its best leads, as many as can matter whatever the other parts hold."""
        prep = self._prepared(scored)
        order, key = self._keyed(prep)
        wider = self._wider
        if wider.max_leads is not None:
            n = min(len(order), wider.max_leads)
        else:
            assert wider.hours is not None
            n = _enough(np.cumsum(prep.data.effort[order]), wider.hours)
        top = order[:n]
        return Prefix(key=key[top], effort=prep.data.effort[top], complete=n == len(order))

    def floor(self, prefixes: list[Prefix]) -> float:
        """Round 2, on the caller: the key above which the parts send their leads (-inf: every lead)."""
        wider = self._wider
        key = np.concatenate([p.key for p in prefixes]) if prefixes else np.empty(0)
        effort = np.concatenate([p.effort for p in prefixes]) if prefixes else np.empty(0)
        order = np.argsort(-key, kind="stable")
        key, effort = key[order], effort[order]
        if wider.max_leads is not None:
            return float(key[wider.max_leads - 1]) if len(key) >= wider.max_leads else -math.inf
        assert wider.hours is not None
        n = _enough(np.cumsum(effort), wider.hours)
        floor = float(key[n]) if n < len(key) else -math.inf
        # Below the last key a part sent, the merged prefixes miss that part's other leads: never go that low.
        sent_down_to = [float(p.key[-1]) for p in prefixes if not p.complete and len(p.key)]
        return max([floor, *sent_down_to])

    def above(self, scored: pd.DataFrame, floor: float) -> NDArray[np.intp]:
        """Round 3, on a part: its rows above the floor, in row order."""
        prep = self._prepared(scored)
        order, key = self._keyed(prep)
        return np.sort(order[self._above(key[order], floor)])

    def room(self, gathered: pd.DataFrame) -> float:
        """Round 4, on the caller, from the leads above the floor: the most hours the knapsack's greedy member
        leaves unused, for the budget or the wider one (0 for a lead cap). Only a lead this light could still
        be taken."""
        if self.spec.max_leads is not None:
            return 0.0
        plan = self._prepared(gathered).plan
        left = []
        for budget in (self.spec.hours, self._wider.hours):
            assert budget is not None
            left.append(budget - float(plan.weight[plan.greedy_sorted(budget)].sum()))
        return max(left)

    def fillers(self, scored: pd.DataFrame, floor: float, room: float) -> Fillers:
        """Round 5, on a part: its leads worth something at or below the floor that weigh at most `room`."""
        prep = self._prepared(scored)
        order, key = self._keyed(prep)
        below = order[~self._above(key[order], floor)]
        light = prep.data.effort[below] <= room
        rest = below[~light]
        return Fillers(np.sort(below[light]), float(prep.data.effort[rest].min()) if len(rest) else math.inf)

    def covers(self, shortlisted: pd.DataFrame, floor: float, left_min_effort: float) -> bool:
        """Round 6, on the caller: whether `hand_off` of the shortlisted leads is, for every stage, the handoff
        of all the leads (see the module docstring for why each condition is needed)."""
        if self.spec.max_leads is not None or floor == -math.inf or left_min_effort == math.inf:
            return True
        prep = self._prepared(shortlisted)
        plan = prep.plan
        density = prep.value[plan.order] / plan.weight
        high = int(np.count_nonzero(density > floor))  # the shortlist's leads above the floor come first
        if high < min(FRONT_ITEMS, len(plan)):
            return False
        run_room = float(plan.weight[FRONT_ITEMS:high].sum())
        for budget in (self.spec.hours, self._wider.hours):
            assert budget is not None
            if plan.cum_weight[-1] <= budget or run_room <= budget:
                return False
            greedy = plan.greedy_sorted(budget)
            if budget - float(plan.weight[:high][greedy[:high]].sum()) >= left_min_effort:
                return False
        return True
