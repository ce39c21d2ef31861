"""Choose leads that maximise total value within an hour budget (a 0/1 knapsack), near-optimally and monotonely.

Monotone means: a larger budget never hands off less value. The exact optimum has that property, but no fast
near-optimal rule has it by accident (a heuristic tuned around the break item can, rarely, do slightly worse
with a little more room). So the answer is, by construction, the best member of a *fixed* family of handoffs,
each worth a non-decreasing amount as the budget grows; a larger budget can only make more members feasible and
each of them worth more, so the best can only rise. Two kinds of member, with items in value-density order:

- **greedy**: take each item that still fits, in density order. Its worth never falls as the budget grows:
  where a larger budget first takes an item x that the smaller one could not fit, everything the smaller one
  takes from there on has density <= x's and weighs less than x, so it is worth less than x alone.
- **front**: a subset of the first `FRONT_ITEMS` items from their Pareto front (the lightest way to reach each
  worth, found once per plan by dynamic programming, independent of the budget), followed by the longest run
  of the remaining items, in order, that fits. When the budget ends among the first items, as it does for
  small and medium problems, this is the optimum (up to the front's thinning, see `MAX_FRONT`); for large
  budgets the greedy member is within one item's worth of it.

Cost: one sort and the front (a few milliseconds, once per plan), then O(n) per budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np
from numpy.typing import NDArray

# How many of the densest items the front covers: all of a small problem, and far past the break item of any
# budget that hands off fewer leads than this.
FRONT_ITEMS: Final = 256
# Past this many Pareto points the front keeps the best point per weight bucket (MAX_FRONT buckets of equal
# relative width, fixed per plan); integer hours rarely need it.
MAX_FRONT: Final = 8192


@dataclass(frozen=True)
class _Front:
    """The Pareto front of subsets of the first items: weight, worth, and how to rebuild each subset."""

    weight: NDArray[np.float64]
    worth: NDArray[np.float64]
    parent: list[NDArray[np.int32]]  # per item: for each point after the item, its point before it
    took: list[NDArray[np.bool_]]  # per item: whether that point includes the item

    def subset(self, point: int) -> NDArray[np.bool_]:
        mask = np.zeros(len(self.parent), dtype=bool)
        for j in range(len(self.parent) - 1, -1, -1):
            mask[j] = self.took[j][point]
            point = int(self.parent[j][point])
        return mask


def _pareto_front(worth: NDArray[np.float64], weight: NDArray[np.float64]) -> _Front:
    """Every subset of the items that no lighter-or-equal subset beats, thinned to MAX_FRONT weight buckets."""
    # Buckets of equal *relative* width between the lightest item and all of them: a budget of a few hours
    # gets as fine a front as one of thousands.
    lightest = float(weight.min()) if len(weight) else 1.0
    log_width = max(np.log(float(weight.sum()) / lightest), 1e-9) / MAX_FRONT
    fw = np.zeros(1)
    fv = np.zeros(1)
    parents: list[NDArray[np.int32]] = []
    took: list[NDArray[np.bool_]] = []
    for j in range(len(worth)):
        size = len(fw)
        nw = np.concatenate([fw, fw + weight[j]])
        # Both halves are sorted by weight already: a stable sort merges the two runs in linear time.
        order = np.argsort(nw, kind="stable")
        nw = nw[order]
        nv = np.concatenate([fv, fv + worth[j]])[order]
        # Keep a point only if it is worth strictly more than every lighter-or-equal point; of two kept points
        # of equal weight the later is worth more, so drop the earlier.
        keep = np.empty(len(nv), dtype=bool)
        keep[0] = True  # the empty set: weight 0, worth 0, first
        np.greater(nv[1:], np.maximum.accumulate(nv)[:-1], out=keep[1:])
        kept = np.flatnonzero(keep)
        same = nw[kept[1:]] == nw[kept[:-1]]
        if same.any():
            keep[kept[:-1][same]] = False
            kept = np.flatnonzero(keep)
        if len(kept) > MAX_FRONT:
            # Within a bucket the kept points rise in worth: keep the last (best) one, and always the empty set.
            with np.errstate(divide="ignore"):
                bucket = np.floor(np.log(nw[kept] / lightest) / log_width)
            last = np.append(bucket[1:] != bucket[:-1], True)
            last[0] = True
            kept = kept[last]
        chosen = order[kept]
        fw, fv = nw[kept], nv[kept]
        parents.append((chosen % size).astype(np.int32))
        took.append(chosen >= size)
    return _Front(fw, fv, parents, took)


class KnapsackPlan:
    """Items sorted once by density; `select(budget)` then answers any budget in O(n).

    `order` lists the items to consider, in the density order to use (ties already broken by the caller, e.g.
    by lead id); by default all items, stably sorted by value / weight, descending. Items considered need
    value > 0 and weight > 0. The order must be non-increasing in value / weight: the monotonicity argument
    (module docstring) rests on it.
    """

    def __init__(
        self,
        value: NDArray[np.float64],
        weight: NDArray[np.float64],
        order: NDArray[np.intp] | None = None,
    ) -> None:
        value = np.asarray(value, dtype=np.float64)
        weight = np.asarray(weight, dtype=np.float64)
        if value.shape != weight.shape or value.ndim != 1:
            raise ValueError("value and weight must be 1-d arrays of the same length")
        if order is None:
            order = np.argsort(-(value / weight), kind="stable")
        self.order = np.asarray(order, dtype=np.intp)
        self.value = value[self.order]
        self.weight = weight[self.order]
        if not (np.all(self.value > 0) and np.all(self.weight > 0)):
            raise ValueError("knapsack items need positive value and positive weight")
        self.cum_weight = np.cumsum(self.weight)
        self._front_items = min(FRONT_ITEMS, len(self.order))

    def __len__(self) -> int:
        return len(self.order)

    # Built on the first budget asked for (a plan made for a team or a lead cap never needs them).
    @cached_property
    def front(self) -> _Front:
        m = self._front_items
        return _pareto_front(self.value[:m], self.weight[:m])

    @cached_property
    def _run(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cumulative weight and worth of the items after the front's, from 0."""
        m = self._front_items
        return np.concatenate([[0.0], np.cumsum(self.weight[m:])]), np.concatenate([[0.0], np.cumsum(self.value[m:])])

    def select_sorted(self, budget: float) -> NDArray[np.bool_]:
        """Mask over the density-sorted items: which ones to take for this budget."""
        n = len(self.order)
        take = np.zeros(n, dtype=bool)
        if n == 0 or not budget > 0:
            return take
        if self.cum_weight[-1] <= budget:
            take[:] = True
            return take
        greedy = self.greedy_sorted(budget)
        greedy_worth = float(self.value[greedy].sum())
        point, run, front_worth = self._best_front_member(budget)
        if front_worth <= greedy_worth:
            return greedy
        m = self._front_items
        take[:m] = self.front.subset(point)
        take[m : m + run] = True
        return take

    def _best_front_member(self, budget: float) -> tuple[int, int, float]:
        """The best front member for `budget`: its point, the length of its run, and its worth."""
        front = self.front
        fits = np.flatnonzero(front.weight <= budget)  # never empty: the empty subset weighs 0
        run_weight, run_worth = self._run
        run = np.searchsorted(run_weight, budget - front.weight[fits], side="right") - 1
        worth = front.worth[fits] + run_worth[run]
        best = int(np.argmax(worth))
        return int(fits[best]), int(run[best]), float(worth[best])

    def greedy_sorted(self, budget: float) -> NDArray[np.bool_]:
        """Mask over the density-sorted items: the greedy handoff alone (each item that still fits)."""
        # Take each item that still fits, in density order. A run of items that fit one after the other is
        # taken in one step, so the loop turns once per item skipped, and the candidates shrink to the items
        # light enough for what is left.
        take = np.zeros(len(self.order), dtype=bool)
        slack = budget
        cand = np.flatnonzero(self.weight <= slack)
        while cand.size:
            cum = np.cumsum(self.weight[cand])
            t = int(np.searchsorted(cum, slack, side="right"))
            take[cand[:t]] = True
            if t == cand.size:
                break
            slack -= float(cum[t - 1]) if t else 0.0
            rest = cand[t + 1 :]
            cand = rest[self.weight[rest] <= slack]
        return take

    def select(self, budget: float, n_items: int | None = None) -> NDArray[np.bool_]:
        """Mask over the items in their original positions (`n_items`: length of the original arrays)."""
        mask = np.zeros(len(self.order) if n_items is None else n_items, dtype=bool)
        mask[self.order[self.select_sorted(budget)]] = True
        return mask


def knapsack_select(
    value: NDArray[np.float64],
    weight: NDArray[np.float64],
    budget: float,
    order: NDArray[np.intp] | None = None,
) -> NDArray[np.bool_]:
    """Near-optimal 0/1 knapsack: a mask of items with total weight <= budget and (almost) maximal value,
    never less value for a larger budget."""
    return KnapsackPlan(value, weight, order).select(budget, len(value))
