from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from handoff import hand_off, parse_capacity
from handoff.shortlist import Shortlist, shortlist_applies
from tests.handoff.conftest import random_scored


def _shortlisted(parts: list[pd.DataFrame], capacity: dict[str, Any], **kw: Any) -> tuple[pd.DataFrame, int, bool]:
    """The rounds of `handoff.shortlist` over in-memory parts: (the gathered leads, how many were left out,
    whether `covers` proved the handoff unchanged)."""
    rounds = Shortlist(parse_capacity(capacity), **kw)
    floor = rounds.floor([rounds.prefix(p) for p in parts])
    high = [rounds.above(p, floor) for p in parts]
    gathered = pd.concat([p.iloc[rows] for p, rows in zip(parts, high, strict=True)], ignore_index=True)
    unused = rounds.room(gathered)
    light = [rounds.fillers(p, floor, unused) for p in parts]
    gathered = pd.concat([gathered, *(p.iloc[f.rows] for p, f in zip(parts, light, strict=True))], ignore_index=True)
    ok = rounds.covers(gathered, floor, min(f.left_min_effort for f in light))
    return gathered, sum(len(p) for p in parts) - len(gathered), ok


def _split(frame: pd.DataFrame, n_parts: int, seed: int) -> list[pd.DataFrame]:
    part = np.random.default_rng(seed).integers(0, n_parts, len(frame))
    return [frame[part == k].reset_index(drop=True) for k in range(n_parts)]


def _same_handoff(full: Any, short: Any) -> None:
    everyone = dict(zip(full.leads["lead_id"], full.leads["stage"], strict=True))
    listed = dict(zip(short.leads["lead_id"], short.leads["stage"], strict=True))
    assert {i: everyone[i] for i in listed} == listed
    assert {i for i, s in everyone.items() if s != "nurture"} <= set(listed)
    a, b = full.summary.to_dict(), short.summary.to_dict()
    assert a == b


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("capacity", [{"hours": 60.0}, {"hours": 400.0}, {"max_leads": 25}, {"max_leads": 1}], ids=str)
def test_the_shortlist_hands_off_exactly_what_all_the_leads_would(seed: int, capacity: dict[str, Any]) -> None:
    frame = random_scored(20_000, seed)
    parts = _split(frame, 7, seed)
    gathered, left_out, ok = _shortlisted(parts, capacity)
    assert ok
    assert len(gathered) < len(frame) / 4  # the point: most leads stay where they are
    _same_handoff(hand_off(frame, capacity), hand_off(gathered, capacity, left_out=left_out))


def test_value_objective_and_horizon_go_through_the_same_rounds() -> None:
    frame = random_scored(20_000, 11)
    kw = {"objective": "value", "horizon_days": 30.0}
    gathered, left_out, ok = _shortlisted(_split(frame, 5, 1), {"hours": 120.0}, **kw)
    assert ok and left_out > 0
    _same_handoff(
        hand_off(frame, {"hours": 120.0}, **kw), hand_off(gathered, {"hours": 120.0}, left_out=left_out, **kw)
    )


def _heavy_and_light() -> pd.DataFrame:
    # Dense heavy leads fill the shortlist; below them, light leads (0.5 h) and heavier ones (5 h) worth less.
    n_heavy, n_light = 300, 6_000
    return pd.DataFrame(
        {
            "lead_id": [f"H{i:04d}" for i in range(n_heavy)] + [f"L{i:05d}" for i in range(n_light)],
            "p_close": np.r_[np.linspace(0.9, 0.8, n_heavy), np.linspace(0.02, 0.01, n_light)],
            "expected_hours": np.r_[np.full(n_heavy, 7.0), np.tile([0.5, 5.0], n_light // 2)],
        }
    )


def test_light_leads_far_down_the_order_are_gathered_to_fill_the_room() -> None:
    frame, capacity = _heavy_and_light(), {"hours": 10.0}  # one heavy lead fits; 3 h are left for light ones
    gathered, left_out, ok = _shortlisted(_split(frame, 3, 0), capacity)
    full = hand_off(frame, capacity)
    sales = full.leads[full.leads["stage"] == "sales_ready"]
    assert sales["lead_id"].str.startswith("L").any()  # the full handoff takes light leads from far down
    assert ok and left_out >= 3_000  # the 5 h leads cannot fit any room: left out
    _same_handoff(full, hand_off(gathered, capacity, left_out=left_out))


def test_covers_refuses_when_a_left_out_lead_could_fill_the_room() -> None:
    frame, rounds = _heavy_and_light(), Shortlist(parse_capacity({"hours": 10.0}))
    parts = _split(frame, 3, 0)
    floor = rounds.floor([rounds.prefix(p) for p in parts])
    gathered = pd.concat([p.iloc[rounds.above(p, floor)] for p in parts], ignore_index=True)
    # Without the fillers round, the lightest lead left out (0.5 h) fits the room: no proof.
    assert not rounds.covers(gathered, floor, 0.5)
    # Had every lead left out weighed 5 h, more than the room, the proof would hold.
    assert rounds.room(gathered) < 5.0
    assert rounds.covers(gathered, floor, 5.0)


def test_nothing_is_left_out_when_every_lead_can_matter() -> None:
    frame = random_scored(300, 2)
    gathered, left_out, ok = _shortlisted(_split(frame, 3, 0), {"hours": 5_000.0})
    assert ok and left_out == 0 and len(gathered) == len(frame)


def test_a_team_has_no_shortlist() -> None:
    team = parse_capacity({"team": [{"name": "ann", "hours": 10.0}, {"name": "bo", "hours": 5.0}]})
    assert not shortlist_applies(team)
    assert shortlist_applies(parse_capacity({"hours": 10.0})) and shortlist_applies(parse_capacity({"max_leads": 3}))
    with pytest.raises(ValueError, match="team"):
        Shortlist(team)


def test_left_out_leads_count_as_nurture_in_the_summary() -> None:
    res = hand_off(random_scored(50, 3), {"max_leads": 5}, left_out=1_000)
    assert res.summary.leads_scored == 1_050
    assert res.summary.leads_nurture == 1_050 - 5 - res.summary.leads_marketing_qualified
    assert math.isfinite(res.summary.expected_closes)
