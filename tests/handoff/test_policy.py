from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from handoff import (
    MIN_HOURS,
    STAGES,
    CapacitySpecError,
    ScoredLeadsError,
    hand_off,
    parse_capacity,
    within_horizon,
)
from handoff.policy import RESULT_COLUMNS
from tests.handoff.conftest import random_scored


def stages(result_leads: pd.DataFrame) -> dict[str, str]:
    return dict(zip(result_leads["lead_id"], result_leads["stage"], strict=True))


def test_lead_cap_hands_off_top_n_and_labels_the_next_in_line(tiny: pd.DataFrame) -> None:
    res = hand_off(tiny, {"max_leads": 2})
    st = stages(res.leads)
    assert st == {
        "a": "sales_ready",
        "f": "sales_ready",
        "b": "marketing_qualified",  # floor(1.5 * 2) = 3 leads would take b too
        "c": "nurture",
        "e": "nurture",
        "d": "nurture",
    }
    assert list(res.leads["rank"]) == [1, 2, 3, 4, 5, 6]
    assert list(res.leads["lead_id"][:3]) == ["a", "f", "b"]
    assert res.leads["lead_id"].iloc[-1] == "d"  # worth nothing: last
    s = res.summary
    assert s.capacity_kind == "leads" and s.lead_capacity == 2 and s.hours_available is None
    assert s.leads_handed_off == 2 and s.leads_marketing_qualified == 1 and s.leads_nurture == 3
    assert s.expected_closes == pytest.approx(1.5)
    assert s.expected_close_rate == pytest.approx(0.75)
    assert s.hours_used == pytest.approx(18.0)
    assert s.expected_closes_per_hour == pytest.approx(1.5 / 18)
    assert s.cutoff_p_close == pytest.approx(0.6) and s.min_p_close == pytest.approx(0.6)
    assert s.statement.startswith("This week 'qualified' means the 2 leads")


def test_period_label_opens_the_statement_and_changes_nothing_else(tiny: pd.DataFrame) -> None:
    default = hand_off(tiny, {"max_leads": 2}).summary
    labelled = hand_off(tiny, {"max_leads": 2}, period_label="In week 42").summary
    assert labelled.statement == default.statement.replace("This week", "In week 42", 1)
    assert labelled.statement.startswith("In week 42 'qualified' means the 2 leads")
    assert labelled.model_dump(exclude={"statement"}) == default.model_dump(exclude={"statement"})
    monthly = hand_off(tiny, {"max_leads": 2, "period": "month"}).summary
    assert monthly.statement.startswith("This month 'qualified'")


def test_hours_budget_solves_the_knapsack_not_just_the_greedy_order() -> None:
    # Greedy by closes per hour takes x (0.11/h), after which neither y nor z fits: 0.66 closes.
    # The best use of 10 hours is y + z: 1.0 closes.
    scored = pd.DataFrame({"lead_id": ["x", "y", "z"], "p_close": [0.66, 0.5, 0.5], "expected_hours": [6.0, 5.0, 5.0]})
    res = hand_off(scored, {"hours": 10})
    assert stages(res.leads) == {"y": "sales_ready", "z": "sales_ready", "x": "marketing_qualified"}
    assert res.summary.expected_closes == pytest.approx(1.0)
    assert res.summary.hours_used == pytest.approx(10.0)
    assert res.summary.cutoff_closes_per_hour == pytest.approx(0.1)


def test_zero_hours_are_charged_the_minimum_effort(tiny: pd.DataFrame) -> None:
    res = hand_off(tiny, {"hours": 1.1})
    ready = res.sales_ready()
    # e costs 0 hours as given: it is charged MIN_HOURS, so e (0.1 h) + c (1 h) fit 1.1 h exactly.
    assert set(ready["lead_id"]) == {"e", "c"}
    assert res.summary.hours_used == pytest.approx(1.0 + MIN_HOURS)
    row = res.leads.set_index("lead_id").loc["e"]
    assert row["expected_hours"] == 0.0  # reported as given
    assert row["closes_per_hour"] == pytest.approx(0.2 / MIN_HOURS)
    assert np.isfinite(res.leads["priority"]).all()


def test_min_hours_is_configurable(tiny: pd.DataFrame) -> None:
    res = hand_off(tiny, {"hours": 1.1}, min_hours=0.5)
    assert res.summary.hours_used <= 1.1
    assert set(res.sales_ready()["lead_id"]) == {"c"}


def test_horizon_prefers_leads_that_close_within_it() -> None:
    scored = pd.DataFrame(
        {
            "lead_id": ["slow", "fast"],
            "p_close": [0.5, 0.45],
            "expected_hours": [5.0, 5.0],
            "expected_days_to_close": [300.0, 10.0],
        }
    )
    assert hand_off(scored, {"max_leads": 1}).sales_ready()["lead_id"].tolist() == ["slow"]
    res = hand_off(scored, {"max_leads": 1}, horizon_days=30)
    assert res.sales_ready()["lead_id"].tolist() == ["fast"]
    assert res.summary.expected_closes_within_horizon == pytest.approx(0.45 * (1 - math.exp(-30 / 10)))
    assert res.summary.horizon_days == 30


def test_within_horizon_formula() -> None:
    got = within_horizon(np.array([0.0, 10.0, 30.0]), 30.0)
    assert got == pytest.approx([1.0, 1 - math.exp(-3), 1 - math.exp(-1)])


def test_value_objective_uses_deal_value(tiny: pd.DataFrame) -> None:
    res = hand_off(tiny, {"max_leads": 2}, objective="value")
    assert set(res.sales_ready()["lead_id"]) == {"b", "f"}  # 2500 and 1200 expected value
    assert res.summary.expected_value == pytest.approx(3700.0)
    assert res.summary.objective == "value"
    assert res.leads.set_index("lead_id").loc["b", "expected_value"] == pytest.approx(2500.0)


def test_team_respects_segments_caps_and_hours(tiny: pd.DataFrame) -> None:
    team = {
        "team": [
            {"name": "dach", "hours": 6, "segments": {"country": ["DE", "AT"]}},
            {"name": "any", "hours": 10, "max_leads": 1},
        ]
    }
    res = hand_off(tiny, team)
    ready = res.sales_ready().set_index("lead_id")
    # "any" may take one lead: a (p = 0.9, 10 h), which fits none of DACH's hours, rather than b (p = 0.5), the
    # denser lead a greedy would hand it first. Five leads are in play, so this is the exact optimum.
    assert ready["assigned_to"].to_dict() == {"e": "dach", "c": "dach", "a": "any"}
    assert stages(res.leads)["b"] != "sales_ready"
    assert res.leads.loc[res.leads["stage"] != "sales_ready", "assigned_to"].isna().all()
    reps = {r.name: r for r in res.summary.reps or []}
    assert reps["dach"].leads == 2 and reps["dach"].hours_used == pytest.approx(1.0 + MIN_HOURS)
    assert reps["any"].leads == 1 and reps["any"].max_leads == 1
    assert res.summary.hours_available == 16


def test_lead_nobody_covers_is_not_handed_off() -> None:
    scored = pd.DataFrame(
        {
            "lead_id": ["us", "de"],
            "p_close": [0.9, 0.1],
            "expected_hours": [1.0, 1.0],
            "country": ["US", "DE"],
        }
    )
    res = hand_off(scored, {"team": [{"name": "dach", "hours": 100, "segments": {"country": ["DE"]}}]})
    assert stages(res.leads) == {"de": "sales_ready", "us": "nurture"}


def test_territory_reps_are_served_before_generalists() -> None:
    # The generalist is listed first and has room for one lead only; giving it the DE lead would strand
    # the US lead, which only the generalist covers.
    scored = pd.DataFrame(
        {"lead_id": ["de", "us"], "p_close": [0.5, 0.4], "expected_hours": [4.0, 4.0], "country": ["DE", "US"]}
    )
    spec = {
        "team": [
            {"name": "any", "hours": 5},
            {"name": "dach", "hours": 5, "segments": {"country": ["DE", "AT"]}},
        ]
    }
    ready = hand_off(scored, spec).sales_ready().set_index("lead_id")
    assert ready["assigned_to"].to_dict() == {"de": "dach", "us": "any"}


def test_missing_attribute_matches_no_segment() -> None:
    scored = pd.DataFrame(
        {"lead_id": ["x", "y"], "p_close": [0.9, 0.1], "expected_hours": [1.0, 1.0], "country": [None, "DE"]}
    )
    spec = {"team": [{"name": "dach", "hours": 100, "segments": {"country": ["DE"]}}]}
    assert stages(hand_off(scored, spec).leads) == {"y": "sales_ready", "x": "nurture"}
    spec["team"].append({"name": "anyone", "hours": 5})
    assert stages(hand_off(scored, spec).leads) == {"y": "sales_ready", "x": "sales_ready"}


def test_team_spreads_the_best_leads_over_the_reps() -> None:
    scored = random_scored(600, seed=3)
    spec = {"team": [{"name": f"rep{i}", "hours": 40} for i in range(4)]}
    res = hand_off(scored, spec)
    ready = res.sales_ready()
    per_rep = ready.groupby("assigned_to")["p_close"].sum()
    assert len(per_rep) == 4
    assert per_rep.max() / per_rep.min() < 1.2
    # The ten best leads handed off are not all with one rep: every rep gets at least one of them.
    assert ready.head(10)["assigned_to"].nunique() == 4
    for rep in res.summary.reps or []:
        assert rep.hours_used <= 40 + 1e-9


def test_team_with_lead_caps_ranks_by_share_of_capacity_used() -> None:
    # Two slots and plenty of hours: the slots should go to the likeliest closes, not to the cheapest leads.
    scored = pd.DataFrame(
        {
            "lead_id": ["cheap1", "cheap2", "good1", "good2"],
            "p_close": [0.05, 0.05, 0.6, 0.6],
            "expected_hours": [0.2, 0.2, 8.0, 8.0],
        }
    )
    res = hand_off(scored, {"team": [{"name": "a", "hours": 40, "max_leads": 2}]})
    assert set(res.sales_ready()["lead_id"]) == {"good1", "good2"}


def test_summary_agrees_with_the_frame() -> None:
    scored = random_scored(300, seed=4)
    res = hand_off(scored, {"hours": 150}, objective="value")
    ready = res.sales_ready()
    s = res.summary
    effort = np.maximum(ready["expected_hours"], MIN_HOURS)
    assert s.leads_handed_off == len(ready)
    assert s.leads_handed_off + s.leads_marketing_qualified + s.leads_nurture == len(scored)
    assert s.expected_closes == pytest.approx(ready["p_close"].sum())
    assert s.expected_value == pytest.approx((ready["p_close"] * ready["deal_value"]).sum())
    assert s.hours_used == pytest.approx(effort.sum())
    assert s.hours_used <= 150
    assert s.expected_close_rate == pytest.approx(ready["p_close"].mean())
    assert s.expected_closes_per_hour == pytest.approx(ready["p_close"].sum() / effort.sum())
    assert s.cutoff_p_close == pytest.approx(ready["p_close"].iloc[-1])
    assert s.min_p_close == pytest.approx(ready["p_close"].min())
    assert s.cutoff_closes_per_hour == pytest.approx((ready["p_close"] / effort).min())
    d = s.to_dict()
    assert d["leads_handed_off"] == len(ready) and isinstance(d["statement"], str)
    assert "150 selling hours" in s.statement


def test_result_frame_shape_and_dtypes(tiny: pd.DataFrame) -> None:
    res = hand_off(tiny, {"hours": 12})
    out = res.leads
    assert tuple(out.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert list(out.columns[len(RESULT_COLUMNS) :]) == ["deal_value", "country"]  # attributes passed through
    assert out["stage"].dtype == "str" and out["assigned_to"].dtype == "str"
    assert out["rank"].tolist() == list(range(1, len(tiny) + 1))
    order = out["stage"].map({s: i for i, s in enumerate(STAGES)})
    assert order.is_monotonic_increasing
    assert sorted(out["lead_id"]) == sorted(tiny["lead_id"])
    payload = res.to_dict()
    assert len(payload["leads"]) == len(tiny) and payload["summary"]["capacity_kind"] == "hours"
    assert payload["leads"][0]["assigned_to"] is None  # JSON-ready: no NaN


def test_nothing_fits() -> None:
    scored = pd.DataFrame({"lead_id": [1, 2], "p_close": [0.5, 0.0], "expected_hours": [50.0, 1.0]})
    res = hand_off(scored, {"hours": 10})
    assert res.summary.leads_handed_off == 0
    assert res.summary.expected_close_rate is None and res.summary.cutoff_p_close is None
    assert "no lead is handed to sales" in res.summary.statement
    empty = hand_off(scored.iloc[:0], {"max_leads": 3})
    assert len(empty.leads) == 0 and empty.summary.leads_scored == 0


def test_numeric_ids_and_capacity_object() -> None:
    scored = pd.DataFrame({"lead_id": [10, 9, 100], "p_close": [0.3, 0.3, 0.3], "expected_hours": [1.0] * 3})
    res = hand_off(scored, parse_capacity({"max_leads": 2}))
    # Equal worth: ties go by lead id, numerically.
    assert res.sales_ready()["lead_id"].tolist() == [9, 10]


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda f: f.drop(columns="p_close"), {}, "lack column(s) 'p_close'"),
        (
            lambda f: f.drop(columns="deal_value"),
            {"objective": "value"},
            "'deal_value' (needed for objective",
        ),
        (lambda f: f.drop(columns="expected_days_to_close"), {"horizon_days": 30}, "(needed for a horizon)"),
        (
            lambda f: f.assign(p_close=[0.1, np.nan, 0.2, 0.3, 0.1, 0.1]),
            {},
            "'p_close' is missing or not finite",
        ),
        (lambda f: f.assign(p_close=[0.1, 1.2, 0.2, 0.3, 0.1, 0.1]), {}, "'p_close' is outside [0, 1]"),
        (lambda f: f.assign(p_close=[0.1, -0.2, 0.2, 0.3, 0.1, 0.1]), {}, "row 1 (lead_id 'b')"),
        (lambda f: f.assign(expected_hours=[1, -1, 1, 1, 1, 1]), {}, "'expected_hours' is negative"),
        (lambda f: f.assign(expected_hours=[1, np.inf, 1, 1, 1, 1]), {}, "'expected_hours' is missing"),
        (lambda f: f.assign(p_close=["0.1", "x", "1", "0", "0", "0"]), {}, "'x' is not a number"),
        (lambda f: f.assign(lead_id=["a", "b", "a", "d", "e", "b"]), {}, "duplicate ids"),
        (lambda f: f.assign(lead_id=["a", None, "c", "d", "e", "f"]), {}, "'lead_id' is empty"),
        (
            lambda f: f.assign(deal_value=[1, np.nan, 1, 1, 1, 1]),
            {"objective": "value"},
            "'deal_value' is missing",
        ),
        (lambda f: f.assign(deal_value=[1, -5, 1, 1, 1, 1]), {}, "'deal_value' is negative"),
        (
            lambda f: f.assign(expected_days_to_close=[1, -5, 1, 1, 1, 1]),
            {},
            "'expected_days_to_close' is neg",
        ),
        (lambda f: f, {"objective": "profit"}, "objective must be one of"),
        (lambda f: f, {"horizon_days": 0}, "horizon_days must be a positive"),
        (lambda f: f, {"min_hours": 0}, "min_hours must be a positive"),
    ],
)
def test_bad_scored_frames_get_clear_errors(
    tiny: pd.DataFrame,
    change: Callable[[pd.DataFrame], pd.DataFrame],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ScoredLeadsError) as err:
        hand_off(change(tiny), {"max_leads": 2}, **kwargs)
    assert message in str(err.value)


def test_duplicate_id_error_lists_the_rows(tiny: pd.DataFrame) -> None:
    with pytest.raises(ScoredLeadsError, match=r"row 0 \(lead_id 'a'\), row 2 \(lead_id 'a'\)"):
        hand_off(tiny.assign(lead_id=["a", "b", "a", "d", "e", "f"]), {"max_leads": 2})


def test_segment_column_missing_and_bad_capacity(tiny: pd.DataFrame) -> None:
    spec = {"team": [{"name": "x", "hours": 3, "segments": {"industry": ["software"]}}]}
    with pytest.raises(ScoredLeadsError, match=r"segments refer to column.*'industry'"):
        hand_off(tiny, spec)
    with pytest.raises(ScoredLeadsError, match="must be a pandas DataFrame"):
        hand_off([1, 2], {"max_leads": 1})  # type: ignore[arg-type]
    with pytest.raises(CapacitySpecError, match="found none of them"):
        hand_off(tiny, {})
    with pytest.raises(CapacitySpecError, match="capacity must be a CapacitySpec"):
        hand_off(tiny, 5)  # type: ignore[arg-type]


def test_the_statement_agrees_in_number_for_one_lead() -> None:
    scored = pd.DataFrame({"lead_id": ["a", "b"], "p_close": [0.5, 0.1], "expected_hours": [4.0, 4.0]})
    statement = hand_off(scored, {"hours": 5}).summary.statement
    assert statement.startswith("This week 'qualified' means the 1 lead that makes the most of 5 selling hours")
