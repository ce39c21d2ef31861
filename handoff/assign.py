"""Hand leads to the reps of a team: who may take which lead (segments) and the fair greedy assignment.

The assignment walks the leads in priority order (worth per selling hour) and gives each lead to the rep,
among the narrowest reps who cover it and still have room for it (a territory rep before a generalist), with
the largest share of capacity left. A lead that no eligible rep has room for is skipped (and can never fit
later, since capacity only shrinks). This spreads the best leads over the team instead of filling one rep
first, and keeps the generalists' room for the leads that only they can take.

It runs in vectorised rounds rather than one lead at a time: each round looks at a window of the next leads,
points the leads of each class at the reps in order of remaining share (best lead to the rep with the most
left), and lets each rep take the leads pointed at it until it has given up a small quantum of its capacity.
Shares therefore never drift apart by more than about one quantum or one lead, which is the fairness the
one-at-a-time rule gives, in a few rounds per lead a rep receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from handoff.capacity import Rep

# Fraction of a rep's capacity it may give up per round; smaller is fairer and slower.
QUANTUM: Final = 0.05
WINDOW: Final = 1024


@dataclass(frozen=True)
class Eligibility:
    """Which reps may take which leads, stored per class of leads with identical segment attributes."""

    lead_class: NDArray[np.intp]  # class of each lead
    class_reps: NDArray[np.bool_]  # (classes, reps): may a rep take a lead of this class?

    def lead_has_rep(self) -> NDArray[np.bool_]:
        any_rep: NDArray[np.bool_] = np.asarray(self.class_reps.any(axis=1), dtype=bool)
        return np.asarray(any_rep[self.lead_class], dtype=bool)

    def lead_reps(self, rows: NDArray[np.intp]) -> NDArray[np.bool_]:
        return np.asarray(self.class_reps[self.lead_class[rows]], dtype=bool)


def eligibility(frame: pd.DataFrame, team: list[Rep]) -> Eligibility:
    """Match every lead against every rep's segments without looping over leads.

    Each segment column is factorised once; a rep's rule becomes a boolean over the column's distinct values,
    and a lead's class is its combination of codes, so the work per rep grows with the distinct values only.
    A missing attribute matches no segment (only reps without a rule on that column may take the lead).
    """
    n = len(frame)
    cols: list[str] = []
    for rep in team:
        cols.extend(c for c in rep.segments if c not in cols)
    if not cols:
        return Eligibility(np.zeros(n, dtype=np.intp), np.ones((1, len(team)), dtype=bool))

    codes: list[NDArray[np.intp]] = []
    uniques: list[NDArray[np.str_]] = []
    for col in cols:
        c, u = pd.factorize(frame[col], use_na_sentinel=True)
        # Shift so that code 0 means "missing"; the uniques get a matching placeholder that no rule can name.
        codes.append(np.asarray(c, dtype=np.intp) + 1)
        uniques.append(np.asarray([str(x) for x in u], dtype=object))
    sizes = [len(u) + 1 for u in uniques]
    combined = np.ravel_multi_index(tuple(codes), tuple(sizes)) if len(codes) > 1 else codes[0]
    class_key, lead_class = np.unique(combined, return_inverse=True)
    class_codes = np.unravel_index(class_key, tuple(sizes)) if len(codes) > 1 else (class_key,)

    class_reps = np.ones((len(class_key), len(team)), dtype=bool)
    for r, rep in enumerate(team):
        for ci, col in enumerate(cols):
            if col not in rep.segments:
                continue
            allowed = np.concatenate([[False], np.isin(uniques[ci], rep.segments[col])])
            class_reps[:, r] &= allowed[class_codes[ci]]
    return Eligibility(np.asarray(lead_class, dtype=np.intp).reshape(-1), class_reps)


def _targets(
    w: NDArray[np.float64],
    cls: NDArray[np.intp],
    class_ok: NDArray[np.bool_],
    share: NDArray[np.float64],
    hours_left: NDArray[np.float64],
    breadth: NDArray[np.intp],
    breadth_rank: NDArray[np.intp],
) -> NDArray[np.intp]:
    """The rep each lead of a round points at.

    A lead goes first to the narrowest reps that cover it (a territory rep before a generalist), so that reps
    who can take anything keep their room for the leads only they can take. Among those, within a class of
    leads, the best lead goes to the rep with the most capacity share left, the next lead to the rep with the
    next most, and so on (wrapping around): handing leads out one at a time to "the rep with the most share
    left", for a whole window at once. Ties go to the rep listed first, so it is deterministic. The work is
    per class of leads, not per lead and rep; only a lead too big for its rep in turn looks at every rep, and
    then takes the narrowest, then most-share-left, rep among those it fits.
    """
    # Narrowest available reps per class of leads.
    tier = np.where(class_ok, breadth[None, :], np.iinfo(np.intp).max).min(axis=1)
    in_tier = class_ok & (breadth[None, :] == tier[:, None])
    rep_order = np.argsort(-share, kind="stable")
    ok_sorted = in_tier[:, rep_order]
    # Row c lists class c's reps in share order first (a stable sort puts True before False).
    table = rep_order[np.argsort(~ok_sorted, axis=1, kind="stable")]
    n_ok = ok_sorted.sum(axis=1)
    # Position of each lead among the leads of its class in this round (they arrive in priority order).
    by_cls = np.argsort(cls, kind="stable")
    cls_sorted = cls[by_cls]
    first = np.searchsorted(cls_sorted, cls_sorted, side="left")
    j = np.empty(len(cls), dtype=np.intp)
    j[by_cls] = np.arange(len(cls)) - first
    target = table[cls, j % n_ok[cls]]
    misfit = np.flatnonzero(w > hours_left[target])
    if misfit.size:
        fits = class_ok[cls[misfit]] & (w[misfit, None] <= hours_left[None, :])
        # Narrowest first, then most share left (share is at most 1, so it only orders within a breadth).
        score = np.where(fits, 2.0 * breadth_rank[None, :] - share[None, :], np.inf)
        target[misfit] = np.argmin(score, axis=1)
    return np.asarray(target, dtype=np.intp)


def assign_greedy(
    order: NDArray[np.intp],
    effort: NDArray[np.float64],
    elig: Eligibility,
    rep_hours: NDArray[np.float64],
    rep_caps: NDArray[np.float64],
    *,
    quantum: float = QUANTUM,
    window: int | None = None,
) -> NDArray[np.intp]:
    """Rep index for every lead (-1: not handed off), taking the leads listed in `order` in that order.

    `rep_caps` holds each rep's lead cap (`inf` for none). Never exceeds any rep's hours or cap and never
    gives a lead to a rep whose segments do not cover it.
    """
    n_reps = len(rep_hours)
    assigned = np.full(len(effort), -1, dtype=np.intp)
    hours_left = np.asarray(rep_hours, dtype=np.float64).copy()
    leads_left = np.asarray(rep_caps, dtype=np.float64).copy()
    capped = np.isfinite(rep_caps)
    quantum_hours = quantum * hours_left
    quantum_leads = np.where(np.isfinite(leads_left), quantum * leads_left, np.inf)
    # Pre-filter leads nobody could take even with full capacity, so rounds are spent on real candidates.
    todo = order[elig.lead_has_rep()[order]]
    todo = todo[effort[todo] <= rep_hours.max()]
    reps_idx = np.arange(n_reps)
    # How many of the leads in play each rep could take: its breadth, to serve narrow reps first.
    class_count = np.bincount(elig.lead_class[todo], minlength=elig.class_reps.shape[0])
    breadth = np.asarray(class_count @ elig.class_reps, dtype=np.intp)
    breadth_rank = np.asarray(np.unique(breadth, return_inverse=True)[1], dtype=np.intp).reshape(-1)
    carry = np.zeros(0, dtype=np.intp)  # leads seen but not yet placed, in priority order
    ptr = 0
    window = WINDOW if window is None else window
    size = window
    while carry.size or ptr < todo.size:
        if not np.any((leads_left >= 1) & (hours_left > 0)):
            break
        take = max(0, size - carry.size)
        win = np.concatenate([carry, todo[ptr : ptr + take]])
        ptr += take
        w = effort[win]
        share = hours_left / rep_hours
        lead_share = np.divide(leads_left, rep_caps, out=np.full(n_reps, np.inf), where=capped)
        np.minimum(share, lead_share, out=share)
        class_ok = elig.class_reps & (leads_left >= 1)[None, :]
        room = np.where(class_ok, hours_left[None, :], -np.inf).max(axis=1)  # most hours left per class
        cls = elig.lead_class[win]
        # Leads nobody can take now never fit later (capacity only shrinks): they are dropped for good.
        cand = np.flatnonzero(w <= room[cls])
        if cand.size == 0:
            # Capacity is nearly used up and the leads coming are too big: look further ahead per round.
            carry = np.zeros(0, dtype=np.intp)
            size = min(size * 4, 1 << 16)
            continue
        size = window
        t = _targets(w[cand], cls[cand], class_ok, share, hours_left, breadth, breadth_rank)
        by_rep = np.argsort(t, kind="stable")  # keeps priority order within each rep
        cand, t = cand[by_rep], t[by_rep]
        wc = w[cand]
        start = np.searchsorted(t, reps_idx)  # first position of each rep's group
        cum = np.cumsum(wc)
        hours_upto = cum - np.concatenate([[0.0], cum])[start[t]]
        rank = np.arange(cand.size) - start[t]
        ok = (
            (hours_upto <= hours_left[t])
            & (rank < leads_left[t])
            & ((rank == 0) | ((hours_upto - wc < quantum_hours[t]) & (rank < quantum_leads[t])))
        )
        # A rep takes only an unbroken run from the top of its list, so priority order is kept per rep.
        bad_before = np.cumsum(~ok)
        accept = bad_before == np.concatenate([[0], bad_before])[start[t]]
        got, got_rep = win[cand[accept]], t[accept]
        assigned[got] = got_rep
        hours_left -= np.bincount(got_rep, weights=effort[got], minlength=n_reps)
        leads_left -= np.bincount(got_rep, minlength=n_reps)
        waiting = np.zeros(win.size, dtype=bool)
        waiting[cand[~accept]] = True
        carry = win[waiting]
    return assigned
