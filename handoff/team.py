"""The team handoff: which leads go to which rep, exact for small problems, greedy plus local search above.

Guarantee. A team's handoff is a multiple knapsack (reps' hours and lead caps, segments), and raising capacity
(a rep's hours or cap, dropping a cap, or a new rep) only adds feasible handoffs, so the *optimal* worth never
falls when capacity grows. No fast heuristic keeps that promise: the fair greedy of `handoff.assign` can take a
lead that blocks two better ones once a rep has a little more room. Hence two regimes:

- **exact** (`handoff.exact`): when few leads are in play (worth > 0 and some covering rep has the hours for
  them) the subset programme finds the optimal worth. That is when `in_exact_range(leads in play, reps who can
  take one)` holds: 13 leads with 1 rep, 12 with up to 4 reps, 11 with up to 10, 10 with up to 28. Both numbers
  only grow with capacity, so whenever the larger of two capacities is in this range, its handoff is worth at
  least as much as the smaller one's (up to float rounding, ~1e-12 relative). This is exact.
- **heuristic**: above that, the fair greedy followed by a local search (`improve`) on a core of leads around
  the cut: insert an open lead, swap an open lead for a held one, move a held lead to another rep to make room,
  trade one open lead for two held ones, or repack one rep exactly over a few of its leads and a few open ones.
  Each move strictly raises the worth and keeps every rule (hours, caps, segments), so the search never does
  worse than the greedy it starts from. Monotonicity is *measured*, not proven, here: see
  `bench/bench_handoff.py` and BENCHMARKS.md.

Fairness: the greedy spreads the best leads over the reps; after the search, held leads are moved or exchanged
between reps while that brings each rep's worth closer to its share of the team's hours (the handoff set and
its worth stay the same). In the exact regime the greedy-plus-search assignment is kept when it is optimal;
otherwise the greedy is run again on the optimal set of leads, and only if it cannot place them all (a tight
packing) is the solver's own assignment used, rebalanced the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from handoff.assign import Eligibility, assign_greedy
from handoff.exact import EXACT_MAX_LEADS, exact_assign, in_exact_range

Method = Literal["exact", "heuristic"]

# The local search looks at the best open leads in priority order and at each rep's lowest-priority leads;
# what lies further from the cut almost never takes part in an improving move, and the core keeps the cost
# independent of the number of leads.
CORE_OPEN: Final = 256
CORE_PER_REP: Final = 16
PAIRS_PER_REP: Final = 6  # the last few of those may be given up two at a time for one better lead
MAX_MOVES: Final = 400
# Above this many leads worth > 0 the second start (greedy by worth) costs more time than it is worth.
SECOND_START_MAX_LEADS: Final = 5_000
# Repacking one rep solves a subset problem over its last few leads and a few open ones (2^14 subsets at most).
REPACK_HELD: Final = 6
REPACK_OPEN: Final = 5
REPACK_BY_WORTH: Final = 3
REPACK_SUBSETS: Final = 1 << (REPACK_HELD + REPACK_OPEN + REPACK_BY_WORTH)
# The search stops after examining about this many candidate moves, whatever the size of the team, so that a
# million leads and 50 reps stay within the time budget; small teams finish long before.
MAX_WORK: Final = 8_000_000
# A move must gain more than this (relative to the worth handed off) to count, so rounding cannot cycle.
TOL: Final = 1e-12


@dataclass(frozen=True)
class TeamAssignment:
    assigned: NDArray[np.intp]  # rep index per lead, -1: not handed off
    method: Method  # "exact": optimal worth; "heuristic": greedy plus local search


def total_worth(value: NDArray[np.float64], assigned: NDArray[np.intp], order: NDArray[np.intp]) -> float:
    """Worth handed off, summed in priority order so the result does not depend on the input row order."""
    return math.fsum(value[order][assigned[order] >= 0].tolist())


def leads_in_play(
    order: NDArray[np.intp], effort: NDArray[np.float64], elig: Eligibility, rep_hours: NDArray[np.float64]
) -> NDArray[np.intp]:
    """Leads of `order` (in that order) that some rep who covers them has the hours for."""
    room = np.where(elig.class_reps, rep_hours[None, :], -np.inf).max(axis=1)
    return order[effort[order] <= room[elig.lead_class[order]]]


def assign_team(
    order: NDArray[np.intp],
    value: NDArray[np.float64],
    effort: NDArray[np.float64],
    elig: Eligibility,
    rep_hours: NDArray[np.float64],
    rep_caps: NDArray[np.float64],
    *,
    search: bool = True,
    exact: bool = True,
    by_value: NDArray[np.intp] | None = None,
) -> TeamAssignment:
    """Rep index per lead for a team; `order` lists the leads worth > 0 in priority order (ties by lead id).

    `by_value`: the same leads by worth alone; the search then also starts from a greedy in that order (which
    suits lead caps) and keeps the better result. `search=False` / `exact=False` switch off the local search /
    the exact solver (for benchmarks only).
    """

    def greedy(leads: NDArray[np.intp]) -> NDArray[np.intp]:
        return assign_greedy(leads, effort, elig, rep_hours, rep_caps)

    def improved(start: NDArray[np.intp]) -> NDArray[np.intp]:
        return improve(start, order, value, effort, elig, rep_hours, rep_caps)

    assigned = greedy(order)
    if search:
        assigned = improved(assigned)
        if by_value is not None:
            alt = improved(greedy(by_value))
            if total_worth(value, alt, order) > total_worth(value, assigned, order) * (1 + TOL):
                assigned = alt
    play = leads_in_play(order, effort, elig, rep_hours)
    if not exact or len(play) > EXACT_MAX_LEADS:
        return TeamAssignment(assigned, "heuristic")
    may = elig.lead_reps(play) & (effort[play][:, None] <= rep_hours[None, :])
    reps = np.flatnonzero(may.any(axis=0))
    if not in_exact_range(len(play), len(reps)):
        return TeamAssignment(assigned, "heuristic")
    sol, optimum = exact_assign(value[play], effort[play], may[:, reps], rep_hours[reps], rep_caps[reps])
    if total_worth(value, assigned, order) >= optimum - TOL * max(1.0, optimum):
        return TeamAssignment(assigned, "exact")
    best_set = np.zeros(len(value), dtype=bool)
    best_set[play[sol >= 0]] = True
    again = greedy(order[best_set[order]])
    if np.count_nonzero(again >= 0) == np.count_nonzero(best_set):
        return TeamAssignment(again, "exact")
    solved = np.full(len(value), -1, dtype=np.intp)
    solved[play] = np.where(sol >= 0, reps[np.maximum(sol, 0)], -1)
    # No move can improve an optimum; what the search does here is spread the worth fairly over the reps.
    return TeamAssignment(improved(solved), "exact")


def improve(
    assigned: NDArray[np.intp],
    order: NDArray[np.intp],
    value: NDArray[np.float64],
    effort: NDArray[np.float64],
    elig: Eligibility,
    rep_hours: NDArray[np.float64],
    rep_caps: NDArray[np.float64],
    *,
    max_moves: int = MAX_MOVES,
    max_work: int = MAX_WORK,
) -> NDArray[np.intp]:
    """Local search from `assigned`: apply the best improving move until none is left, or until `max_moves`
    moves or about `max_work` candidate moves examined (which only large teams with many leads reach).

    Only leads in `order` (worth > 0) are ever handed off. Moves are chosen deterministically: largest gain,
    then the receiving rep with the most capacity share left, then priority order.
    """
    out = assigned.copy()
    core = _core(out, order, effort, elig, rep_hours)
    if core.size == 0:
        return out
    state = _Search(out, core, value, effort, elig.lead_reps(core), rep_hours, rep_caps)
    n_reps = len(rep_hours)
    work = 0
    for _ in range(max_moves):
        n_open = int(np.count_nonzero(state.rep < 0))
        work += n_open * (n_reps + 4 * (core.size - n_open))
        move = state.best_move()
        if move is None:
            work += n_reps * REPACK_SUBSETS
            move = state.best_repack()
        if move is None or work > max_work:
            break
        state.apply(move)
    if work <= max_work:
        state.rebalance(max_work - work)
    out[core] = state.rep
    return out


def _core(
    assigned: NDArray[np.intp],
    order: NDArray[np.intp],
    effort: NDArray[np.float64],
    elig: Eligibility,
    rep_hours: NDArray[np.float64],
) -> NDArray[np.intp]:
    """The leads the local search may touch, in priority order: the best open leads that fit some covering
    rep, and each rep's last `CORE_PER_REP` leads."""
    state = assigned[order]
    open_ = leads_in_play(order[state < 0], effort, elig, rep_hours)[:CORE_OPEN]
    held_pos = np.flatnonzero(state >= 0)
    held_rep = state[held_pos]
    by_rep = np.lexsort((-held_pos, held_rep))  # per rep, latest in priority order first
    r_sorted = held_rep[by_rep]
    first = np.searchsorted(r_sorted, r_sorted, side="left")
    last_of_rep = held_pos[by_rep][(np.arange(len(by_rep)) - first) < CORE_PER_REP]
    pos = np.full(len(assigned), -1, dtype=np.intp)
    pos[order] = np.arange(len(order))
    core = np.concatenate([order[last_of_rep], open_])
    return core[np.argsort(pos[core], kind="stable")]


def _pairs(a: NDArray[np.intp], ra: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Pairs of held core leads of the same rep among each rep's last `PAIRS_PER_REP` (core is in priority
    order, so the last are the least dense)."""
    by_rep = np.lexsort((-a, ra))
    r_sorted = ra[by_rep]
    first = np.searchsorted(r_sorted, r_sorted, side="left")
    keep = (np.arange(len(by_rep)) - first) < PAIRS_PER_REP
    sel, sel_rep = a[by_rep][keep], r_sorted[keep]
    p1: list[NDArray[np.intp]] = []
    p2: list[NDArray[np.intp]] = []
    for d in range(1, PAIRS_PER_REP):
        same = sel_rep[:-d] == sel_rep[d:]
        p1.append(sel[:-d][same])
        p2.append(sel[d:][same])
    if not p1:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(p1), np.concatenate(p2)


@lru_cache(maxsize=32)
def _subset_bits(k: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Every subset of k items as a 0/1 row, and the size of each."""
    sub = np.arange(1 << k)
    bits = ((sub[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)
    return bits, bits.sum(axis=1)


class _Search:
    """The local search's state over the core leads: their rep (-1: open), each rep's hours and lead slots
    left, and each rep's worth handed off (over all its leads, not only the core)."""

    def __init__(
        self,
        assigned: NDArray[np.intp],
        core: NDArray[np.intp],
        value: NDArray[np.float64],
        effort: NDArray[np.float64],
        ok_rep: NDArray[np.bool_],
        rep_hours: NDArray[np.float64],
        rep_caps: NDArray[np.float64],
    ) -> None:
        n_reps = len(rep_hours)
        held = assigned >= 0
        self.slack = rep_hours - np.bincount(assigned[held], weights=effort[held], minlength=n_reps)
        self.room = rep_caps - np.bincount(assigned[held], minlength=n_reps)
        self.worth = np.bincount(assigned[held], weights=value[held], minlength=n_reps).astype(np.float64)
        self.w, self.v, self.ok_rep = effort[core], value[core], ok_rep
        self.rep = assigned[core].copy()
        self.rep_hours = rep_hours

    @property
    def tol(self) -> float:
        return TOL * max(1.0, float(self.worth.sum()))

    def apply(self, steps: list[tuple[int, int]]) -> None:
        """Give core lead k to rep r (-1: back to open) for each step (k, r), in order."""
        for k, r in steps:
            old = self.rep[k]
            if old >= 0:
                self.slack[old] += self.w[k]
                self.room[old] += 1
                self.worth[old] -= self.v[k]
            if r >= 0:
                self.slack[r] -= self.w[k]
                self.room[r] -= 1
                self.worth[r] += self.v[k]
            self.rep[k] = r

    def best_move(self) -> list[tuple[int, int]] | None:
        """The best improving move as (core lead, new rep or -1) steps, or None. Candidates are compared by gain,
        then by the receiving rep's share of capacity left (more first), then by kind and priority order."""
        w, v, ok_rep, rep, slack, room, tol = self.w, self.v, self.ok_rep, self.rep, self.slack, self.room, self.tol
        u = np.flatnonzero(rep < 0)
        a = np.flatnonzero(rep >= 0)
        if u.size == 0:
            return None
        ra = rep[a]
        share = slack / self.rep_hours
        wu, vu, oku = w[u], v[u], ok_rep[u]
        best: tuple[float, float, list[tuple[int, int]]] | None = None

        Steps = Callable[..., list[tuple[int, int]]]

        def offer(gain: NDArray[np.float64], key: NDArray[np.float64], steps: Steps) -> None:
            # Keep the best candidate so far: higher gain, or (within tolerance) the same gain and a higher key.
            nonlocal best
            if gain.size == 0:
                return
            g = float(gain.max())
            if not g > tol:
                return
            near = np.where(gain >= g - tol, key, -np.inf)
            flat = int(np.argmax(near))
            k = float(near.flat[flat])
            if best is None or g > best[0] + tol or (g >= best[0] - tol and k > best[1]):
                best = (g, k, steps(*np.unravel_index(flat, gain.shape)))

        # Insert an open lead into a rep with room.
        fits = oku & (wu[:, None] <= slack[None, :]) & (room >= 1)[None, :]
        gain = np.where(fits, vu[:, None], -np.inf)
        offer(gain, np.broadcast_to(share, fits.shape), lambda j, r: [(int(u[j]), int(r))])
        if a.size == 0:
            return None if best is None else best[2]
        wa, va = w[a], v[a]
        # Swap: an open lead replaces a held one at the same rep.
        fits = oku[:, ra] & (wu[:, None] <= slack[ra][None, :] + wa[None, :])
        gain = np.where(fits, vu[:, None] - va[None, :], -np.inf)
        offer(gain, np.broadcast_to(share[ra], gain.shape), lambda j, i: [(int(a[i]), -1), (int(u[j]), int(ra[i]))])
        # Make room: a held lead moves to another rep (the one with most share left), an open lead takes its place.
        can_go = np.asarray(ok_rep[a] & (wa[:, None] <= slack[None, :]) & (room >= 1)[None, :], dtype=bool)
        can_go[np.arange(a.size), ra] = False
        target = np.argmax(np.where(can_go, share[None, :], -np.inf), axis=1)
        movable: NDArray[np.bool_] = np.asarray(can_go.any(axis=1), dtype=bool)
        fits = oku[:, ra] & movable[None, :] & (wu[:, None] <= slack[ra][None, :] + wa[None, :])
        offer(
            np.where(fits, vu[:, None], -np.inf),
            np.broadcast_to(share[ra], fits.shape),
            lambda j, i: [(int(a[i]), int(target[i])), (int(u[j]), int(ra[i]))],
        )
        # One open lead for two held ones of the same rep (a big lead that two small ones were blocking).
        p1, p2 = _pairs(a, ra)
        if p1.size:
            rp = rep[p1]
            fits = oku[:, rp] & (wu[:, None] <= slack[rp][None, :] + w[p1][None, :] + w[p2][None, :])
            gain = np.where(fits, vu[:, None] - v[p1][None, :] - v[p2][None, :], -np.inf)
            offer(
                gain,
                np.broadcast_to(share[rp], gain.shape),
                lambda j, q: [(int(p1[q]), -1), (int(p2[q]), -1), (int(u[j]), int(rp[q]))],
            )
        return None if best is None else best[2]

    def best_repack(self) -> list[tuple[int, int]] | None:
        """Repack one rep exactly: the best subset of its last few leads and the best open leads it covers, within
        its hours and cap. Finds trades that single moves cannot (three small leads for two bigger ones). Returns
        the first rep's improvement found, reps taken in order."""
        w, v, ok_rep, rep, slack, room, tol = self.w, self.v, self.ok_rep, self.rep, self.slack, self.room, self.tol
        open_ = np.flatnonzero(rep < 0)
        for r in range(len(slack)):
            mine = np.flatnonzero(rep == r)[-REPACK_HELD:]
            freed_hours = slack[r] + float(w[mine].sum())
            cand = open_[ok_rep[open_, r] & (w[open_] <= freed_hours)]
            by_worth = cand[np.argsort(-v[cand], kind="stable")[:REPACK_BY_WORTH]]
            pick = np.unique(np.concatenate([mine, cand[:REPACK_OPEN], by_worth]))
            if pick.size == mine.size:
                continue
            bits, count = _subset_bits(pick.size)
            fits = (bits @ w[pick] <= freed_hours) & (count <= room[r] + mine.size)
            gain = np.where(fits, bits @ v[pick], -np.inf) - float(v[mine].sum())
            best = int(np.argmax(gain))
            if gain[best] > tol:
                take = bits[best] == 1
                return [(int(k), -1) for k in pick[~take]] + [(int(k), r) for k in pick[take]]
        return None

    def rebalance(self, max_work: int) -> None:
        """Spread the worth handed off fairly again, in place, without changing which leads are handed off.

        The search moves leads at the margin to whichever rep can take them, which can leave one rep with much
        more than its share. Fair here means worth in proportion to hours; the unfairness is the sum over reps of
        (worth - share of the total)^2 / hours. Moving a held lead to another rep, or exchanging two held leads
        between reps, keeps the set and the worth; the best such step (within hours, caps and segments) is taken
        while it lowers the unfairness.
        """
        w, v, ok_rep, rep, slack, room, worth = self.w, self.v, self.ok_rep, self.rep, self.slack, self.room, self.worth
        rep_hours = self.rep_hours
        total_hours = float(rep_hours.sum())
        work = 0
        for _ in range(MAX_MOVES):
            held = np.flatnonzero(rep >= 0)
            work += held.size * (held.size + len(rep_hours))
            if held.size == 0 or work > max_work:
                return
            dev = worth - rep_hours * float(worth.sum()) / total_hours
            tol = TOL * max(1.0, float(worth.sum())) ** 2
            r, wh, vh = rep[held], w[held], v[held]

            def change(reps: NDArray[np.intp], delta: NDArray[np.float64], dev: NDArray[np.float64] = dev) -> Any:
                # How much a rep's term of the unfairness changes when its worth changes by `delta`.
                return ((dev[reps] + delta) ** 2 - dev[reps] ** 2) / rep_hours[reps]

            # Move a held lead i from its rep to rep t.
            can = ok_rep[held] & (wh[:, None] <= slack[None, :]) & (room >= 1)[None, :]
            can[np.arange(held.size), r] = False
            reps_t = np.broadcast_to(np.arange(len(rep_hours))[None, :], can.shape)
            move = change(r, -vh)[:, None] + change(reps_t, np.broadcast_to(vh[:, None], can.shape))
            move = np.where(can, move, np.inf)
            # Exchange held leads i and k of different reps (each must be covered by, and fit, the other's rep).
            can = (
                (r[:, None] != r[None, :])
                & ok_rep[held][:, r]
                & ok_rep[held][:, r].T
                & (wh[None, :] <= slack[r][:, None] + wh[:, None])
                & (wh[:, None] <= slack[r][None, :] + wh[None, :])
            )
            delta = vh[None, :] - vh[:, None]  # what i's rep gains
            swap = change(np.broadcast_to(r[:, None], can.shape), delta) + change(
                np.broadcast_to(r[None, :], can.shape), -delta
            )
            swap = np.where(can, swap, np.inf)
            best_move, best_swap = float(move.min()), float(swap.min())
            if min(best_move, best_swap) >= -tol:
                return
            if best_move <= best_swap:
                i, t = np.unravel_index(int(np.argmin(move)), move.shape)
                steps = [(int(held[i]), int(t))]
            else:
                i, k = np.unravel_index(int(np.argmin(swap)), swap.shape)
                steps = [(int(held[i]), int(r[k])), (int(held[k]), int(r[i]))]
            self.apply(steps)
