"""The exact team assignment for small problems: a dynamic programme over subsets of leads.

For a team the handoff is a multiple knapsack with side constraints (segments, lead caps), which no fast rule
solves exactly. But when only a few leads are in play it can be solved exactly by brute force done well: with
the n leads numbered by bits, `best[r][T]` is the most worth reps `0..r` can take out of the lead set `T`,

    best[r][T] = max over S ⊆ T that rep r may take (covers, fits its hours and cap) of best[r-1][T \\ S] + worth(S)

which costs (reps - 1) * 3^n steps (each lead is in S, in T \\ S or outside T) plus 2^n for the last rep, all
vectorised. The optimum of a larger capacity is never below the optimum of a smaller one (every handoff that
fits the smaller capacity fits the larger), which is what makes the team handoff monotone where this runs.

`exact_cost` says what a problem would cost; `policy` calls the solver only below `EXACT_MAX_COST`. The cost
grows with capacity (more leads fit some rep, more reps take part), so if the larger of two capacities is
solved exactly, the smaller is too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

# (reps - 1) * 3^n + 2^n steps at most: 12 leads with 4 reps, 11 with 10, 10 with 28. About 40 ms.
EXACT_MAX_COST: Final = 3 * 3**12 + 2**12
# 3^n pairs of (set, subset) are kept in memory; past 13 leads that would be hundreds of MB.
EXACT_MAX_LEADS: Final = 13


def exact_cost(n_leads: int, n_reps: int) -> int:
    """Steps of the subset programme for `n_leads` leads in play and `n_reps` reps who can take one of them."""
    if n_leads == 0 or n_reps == 0:
        return 0
    return (n_reps - 1) * 3**n_leads + 2**n_leads


def in_exact_range(n_leads: int, n_reps: int) -> bool:
    return n_leads <= EXACT_MAX_LEADS and exact_cost(n_leads, n_reps) <= EXACT_MAX_COST


@lru_cache(maxsize=4)
def _subset_pairs(n: int) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.intp]]:
    """Every (T, S) with S ⊆ T ⊆ {0..n-1} as bit masks, grouped by T, and where each T's group starts.

    Built by adding one lead at a time: the lead is outside T, in T but not S, or in S.
    """
    t = np.zeros(1, dtype=np.int32)
    s = np.zeros(1, dtype=np.int32)
    for b in range(n):
        bit = np.int32(1 << b)
        t = np.concatenate([t, t | bit, t | bit])
        s = np.concatenate([s, s, s | bit])
    order = np.argsort(t, kind="stable")
    t, s = t[order], s[order]
    starts = np.searchsorted(t, np.arange(1 << n, dtype=np.int32))
    return t, s, np.asarray(starts, dtype=np.intp)


def _subset_sums(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.zeros(1)
    for v in x:
        out = np.concatenate([out, out + v])
    return out


def exact_assign(
    value: NDArray[np.float64],
    effort: NDArray[np.float64],
    may_take: NDArray[np.bool_],
    rep_hours: NDArray[np.float64],
    rep_caps: NDArray[np.float64],
) -> tuple[NDArray[np.intp], float]:
    """Best assignment of n leads to reps: rep index per lead (-1: none) and the optimal total worth.

    `may_take[i, r]`: rep r covers lead i. Lead i's bit is `1 << i`, so among optimal assignments the one
    found first in that numbering is returned: callers pass the leads in priority order to be deterministic.
    """
    n, n_reps = may_take.shape
    assigned = np.full(n, -1, dtype=np.intp)
    if n == 0 or n_reps == 0:
        return assigned, 0.0
    if n > EXACT_MAX_LEADS:
        raise ValueError(f"exact_assign handles at most {EXACT_MAX_LEADS} leads, got {n}")
    worth = _subset_sums(value)
    hours = _subset_sums(effort)
    count = _subset_sums(np.ones(n))
    masks = np.arange(1 << n, dtype=np.int32)
    bits = (1 << np.arange(n)).astype(np.int32)
    covered = (may_take * bits[:, None]).sum(axis=0).astype(np.int32)  # per rep: bit mask of leads it covers
    # The relative slack keeps a set whose hours add up to exactly the budget fitting whatever the order of the
    # float additions; the caller re-checks the chosen sets with its own sums.
    takes = [
        ((masks & ~covered[r]) == 0) & (hours <= rep_hours[r] * (1 + 1e-12)) & (count <= rep_caps[r])
        for r in range(n_reps)
    ]
    # tables[r][T]: the most reps 0..r can take out of T. The last rep needs only T = all leads, in the walk.
    tables: list[NDArray[np.float64]] = []
    if n_reps > 1:
        t, s, starts = _subset_pairs(n)
        for r in range(n_reps - 1):
            below = tables[-1][t ^ s] if tables else 0.0
            cand = np.where(takes[r][s], below + worth[s], -np.inf)
            tables.append(np.asarray(np.maximum.reduceat(cand, starts), dtype=np.float64))
    # Walk back from all leads: the subset the last rep takes, then the one before it, and so on.
    rest = (1 << n) - 1
    optimum = 0.0
    for r in range(n_reps - 1, -1, -1):
        sub = _submasks(rest)
        total = np.where(takes[r][sub], worth[sub], -np.inf)
        if r > 0:
            total = total + tables[r - 1][rest ^ sub]
        k = int(np.argmax(total))
        if r == n_reps - 1:
            optimum = float(total[k])
        chosen = int(sub[k])
        assigned[(chosen >> np.arange(n)) & 1 == 1] = r
        rest &= ~chosen
    return assigned, optimum


def _submasks(mask: int) -> NDArray[np.int32]:
    out = np.zeros(1, dtype=np.int32)
    b = 0
    while mask >> b:
        if mask >> b & 1:
            out = np.concatenate([out, out | np.int32(1 << b)])
        b += 1
    return out
