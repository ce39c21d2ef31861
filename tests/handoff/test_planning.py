from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from handoff import HandoffError, capacity_curve, hand_off, plot_capacity_curve
from handoff.planning import CURVE_COLUMNS
from tests.handoff.conftest import random_scored


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    return random_scored(400, seed=11)


def test_hours_curve_matches_hand_off_and_is_monotone(scored: pd.DataFrame) -> None:
    curve = capacity_curve(scored, kind="hours", grid=[0, 50, 100, 200, 400], rep_week_hours=40)
    assert tuple(curve.columns) == CURVE_COLUMNS
    assert curve["capacity"].tolist() == [0, 50, 100, 200, 400]
    assert curve.loc[0, "expected_closes"] == 0
    assert np.all(np.diff(curve["expected_closes"]) >= 0)
    for _, row in curve.iterrows():
        assert row["hours_used"] <= row["capacity"] + 1e-9
        if row["capacity"] > 0:
            res = hand_off(scored, {"hours": row["capacity"]})
            assert row["expected_closes"] == pytest.approx(res.summary.expected_closes)
            assert row["leads_handed_off"] == res.summary.leads_handed_off
            plus = hand_off(scored, {"hours": row["capacity"] + 40}).summary.expected_closes
            assert row["marginal_closes_per_rep_week"] == pytest.approx(plus - res.summary.expected_closes)
    # Diminishing returns: the next rep-week buys less the more capacity there already is.
    assert curve["marginal_closes_per_rep_week"].iloc[0] > curve["marginal_closes_per_rep_week"].iloc[-1]


def test_default_grid_runs_to_every_lead_worth_anything(scored: pd.DataFrame) -> None:
    curve = capacity_curve(scored, points=5)
    assert len(curve) == 5
    assert curve["expected_closes"].iloc[-1] == pytest.approx(scored["p_close"].sum())
    assert curve["marginal_closes_per_rep_week"].iloc[-1] == pytest.approx(0)


def test_leads_curve(scored: pd.DataFrame) -> None:
    curve = capacity_curve(scored, kind="leads", grid=[0, 10, 10.7, 50], objective="value")
    assert curve["capacity"].tolist() == [0, 10, 50]  # lead counts are whole numbers
    top10 = scored.assign(ev=scored["p_close"] * scored["deal_value"]).nlargest(10, "ev")
    assert curve.loc[1, "expected_value"] == pytest.approx(top10["ev"].sum())
    assert curve.loc[1, "leads_handed_off"] == 10
    step = curve["rep_week"].iloc[0]
    mean_hours = np.maximum(scored["expected_hours"], 0.1).mean()
    assert step == max(1, round(40 / mean_hours))
    assert np.all(np.diff(curve["expected_value"]) >= 0)


def test_plot_writes_a_png(scored: pd.DataFrame, tmp_path: Path) -> None:
    curve = capacity_curve(scored, points=6)
    out = plot_capacity_curve(curve, tmp_path / "plots" / "capacity.png", current=120)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_planning_errors(scored: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(HandoffError, match="kind must be"):
        capacity_curve(scored, kind="reps")  # type: ignore[arg-type]
    with pytest.raises(HandoffError, match="rep_week_hours must be a positive"):
        capacity_curve(scored, rep_week_hours=0)
    with pytest.raises(HandoffError, match="grid capacities must be finite"):
        capacity_curve(scored, grid=[-1, 3])
    with pytest.raises(HandoffError, match="points must be at least 2"):
        capacity_curve(scored, points=1)
    with pytest.raises(HandoffError, match="curve lacks column"):
        plot_capacity_curve(pd.DataFrame({"x": [1]}), tmp_path / "x.png")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(HandoffError, match="cannot write plot"):
        plot_capacity_curve(capacity_curve(scored, points=3), blocker / "x.png")
