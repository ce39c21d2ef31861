"""Unit tests of `serving.inputs` (request -> the model's arrays) and `serving.reasons`, on a schema fitted to a tiny
hand-written history: no model, no MLflow, milliseconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import LeadBatch, empty_events
from features.engagement import EngagementFeatures
from features.parsing import iso_microseconds
from features.records import from_records
from features.schema import FeatureSchema
from model.groups import feature_groups
from serving.errors import RequestError
from serving.inputs import Limits, prepare
from serving.reasons import ONE_BY_ONE, ReasonInputs, ReasonWriter
from serving.schemas import Lead

NOW = pd.Timestamp("2026-10-01T00:00:00").value // 1000
LIMITS = Limits(max_batch=10, max_events_per_lead=5)


@pytest.fixture(scope="module")
def features() -> EngagementFeatures:
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "created_at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]).astype("datetime64[us]"),
            "decided_at": pd.to_datetime(["2026-02-01", "2026-02-02", "2026-02-03"]).astype("datetime64[us]"),
            "source": ["cold_call", "referral", "event"],
            "industry": ["retail", "software", "retail"],
            "company_size": [10, 200, 50],
        }
    )
    return EngagementFeatures().fit(LeadBatch(leads, empty_events()))


@pytest.fixture(scope="module")
def schema(features: EngagementFeatures) -> FeatureSchema:
    return features.feature_schema_


def leads_of(*items: dict[str, Any]) -> list[Lead]:
    base = {"lead_id": "L", "source": "cold_call"}
    return [Lead.model_validate({**base, "lead_id": f"L{i}", **item}) for i, item in enumerate(items)]


def problems(exc: pytest.ExceptionInfo[RequestError]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


def test_request_becomes_the_models_arrays(schema: FeatureSchema) -> None:
    prepared = prepare(
        leads_of(
            {
                "as_of": "2026-09-30T12:00:00+02:00",
                "created_at": "2026-09-01",
                "attributes": {"industry": "retail", "company_size": 12},
                "events": [
                    {"type": "demo_request", "ts": "2026-09-29T10:00:00Z"},
                    {"type": "page_visit", "ts": "2026-09-28T10:00:00Z", "asset": "p1"},
                ],
            },
            {},
        ),
        schema,
        LIMITS,
        NOW,
    )
    cols = prepared.columns
    assert prepared.lead_ids == ["L0", "L1"]
    as_of = cols.as_of_us.view("datetime64[us]")
    assert as_of[0] == np.datetime64("2026-09-30T10:00:00")  # UTC
    assert cols.as_of_us[1] == NOW  # default: now
    assert cols.created_us is not None
    assert cols.created_us.view("datetime64[us]")[0] == np.datetime64("2026-09-01")
    assert cols.created_us[1] == np.iinfo(np.int64).min  # unknown
    size = cols.attributes["company_size"]
    assert size[0] == 12.0 and np.isnan(size[1])
    assert cols.event_lead.tolist() == [0, 0] and cols.event_types.to_pylist() == ["demo_request", "page_visit"]
    assert cols.event_assets is not None and cols.event_assets.to_pylist() == [None, "p1"]


@pytest.mark.parametrize("n_copies", [1, 20])  # up to 16 leads the features look categories up in a dict
def test_request_arrays_give_the_features_of_the_batch(features: EngagementFeatures, n_copies: int) -> None:
    # The service computes features from `prepared.columns` (no DataFrames); they must equal the features of
    # the same leads as a LeadBatch, what training and the MLflow pyfunc compute.
    items = [
        {
            "as_of": "2026-09-30T12:00:00+02:00",
            "created_at": "2026-09-01",
            "attributes": {"industry": "retail", "company_size": "12"},
            "events": [
                {"type": "demo_request", "ts": "2026-09-29T10:00:00Z", "asset": "d1"},
                {"type": "page_visit", "ts": "2026-09-28T10:00:00Z", "asset": "p1"},
                {"type": "page_visit", "ts": "2026-09-20T10:00:00Z", "asset": "p1"},
                {"type": "mystery", "ts": "2026-08-20T10:00:00Z"},
                {"type": "pricing_view", "ts": "2026-10-20T10:00:00Z"},  # after as_of
            ],
        },
        {"source": "never_seen", "attributes": {"industry": 7}},  # as_of: now; created_at unknown
        {"source": "referral", "as_of": "2026-05-01", "attributes": {"company_size": 3000.5, "industry": None}},
    ]
    leads = leads_of(*(items * n_copies))
    prepared = prepare(leads, features.feature_schema_, Limits(max_batch=100, max_events_per_lead=10), NOW)
    values = features.transform_columns(prepared.columns)
    # The same leads through the one converter of request records to canonical tables (the MLflow pyfunc's).
    records = [lead.model_dump(exclude_none=True) for lead in leads]
    expected = features.transform(from_records(records, now=pd.Timestamp(NOW, unit="us")))
    assert values.shape == (expected.shape[1], len(leads))
    for k, column in enumerate(expected.columns):
        want = expected[column]
        want_values = want.cat.codes.to_numpy() if isinstance(want.dtype, pd.CategoricalDtype) else want.to_numpy()
        np.testing.assert_array_equal(values[k], want_values, err_msg=column)
    assert expected["n_page_visit_all"].iloc[0] == 2 and expected["n_pricing_view_all"].iloc[0] == 0
    assert expected["company_size"].iloc[0] == 12.0 and pd.isna(expected["source"].iloc[1])


def test_limits_are_413(schema: FeatureSchema) -> None:
    with pytest.raises(RequestError) as exc:
        prepare(leads_of(*[{}] * 11), schema, LIMITS, NOW)
    assert exc.value.status == 413 and "LEADRANK_MAX_BATCH" in exc.value.message
    events = [{"type": "x", "ts": "2026-09-01T00:00:00Z"}] * 6
    with pytest.raises(RequestError) as exc:
        prepare(leads_of({}, {"events": events}), schema, LIMITS, NOW)
    assert exc.value.status == 413 and list(problems(exc)) == ["leads[1].events"]


def test_all_problems_are_reported_at_once(schema: FeatureSchema) -> None:
    items = leads_of(
        {"as_of": "2026-02-30T00:00:00Z"},
        {"events": [{"type": "x", "ts": "2026-09-01T00:00:00Z"}, {"type": "x", "ts": "2026-09-01T99:00:00Z"}]},
        {"attributes": {"company_size": "lots", "industry": False, "lead_id": "x"}},
    )
    items.append(Lead.model_validate({"lead_id": "L0", "source": "x"}))
    with pytest.raises(RequestError) as exc:
        prepare(items, schema, LIMITS, NOW)
    assert exc.value.status == 400
    assert set(problems(exc)) == {
        "leads[0].as_of",
        "leads[1].events[1].ts",
        "leads[2].attributes.company_size",
        "leads[2].attributes.industry",
        "leads[2].attributes.lead_id",
        "leads[3].lead_id",
    }


def test_warnings_name_their_paths(schema: FeatureSchema) -> None:
    prepared = prepare(
        leads_of(
            {"source": "podcast", "attributes": {"industry": "mining", "colour": "red"}},
            {
                "as_of": "2026-09-01T00:00:00Z",
                "created_at": "2026-09-02T00:00:00Z",
                "events": [{"type": "fax", "ts": "2026-08-01T00:00:00Z"}, {"type": "x", "ts": "2026-09-01T00:00:00Z"}],
            },
        ),
        schema,
        LIMITS,
        NOW,
    )
    by_code = {w["code"]: w for w in prepared.warnings}
    assert by_code["unknown_attribute"]["paths"] == ["leads[0].attributes.colour"]
    unseen = [w for w in prepared.warnings if w["code"] == "unseen_category"]
    assert {p for w in unseen for p in w["paths"]} == {"leads[0].source", "leads[0].attributes.industry"}
    assert by_code["unknown_event_type"]["count"] == 2
    assert by_code["events_after_as_of"]["paths"] == ["leads[1].events[1].ts"]
    assert by_code["created_after_as_of"]["paths"] == ["leads[1].created_at"]


SPELLINGS = ["2026-09-20T10:00:00Z", "2026-09-20T12:00:00+02:00", "2026-09-20T10:00:00", "2026-09-20", None]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.sampled_from([*SPELLINGS, "2026-09-31"])] * 3), min_size=1, max_size=4))
def test_times_read_together_are_read_as_each_field_alone(schema: FeatureSchema, spellings: list[Any]) -> None:
    # prepare reads as_of, created_at and every event ts in one pass when Arrow reads them all one way, and field
    # by field otherwise: either way each value must be what `iso_microseconds` makes of its own field.
    items = [
        {"as_of": as_of, "created_at": created, "events": [] if ts is None else [{"type": "page_visit", "ts": ts}]}
        for as_of, created, ts in spellings
    ]
    fields = {
        "as_of": [as_of for as_of, _, _ in spellings],
        "created_at": [created for _, created, _ in spellings],
        "ts": [ts for _, _, ts in spellings if ts is not None],
    }
    alone = {name: iso_microseconds([pa.array(values, type=pa.large_string())])[0] for name, values in fields.items()}
    if any(bad.any() for _, bad in alone.values()):
        with pytest.raises(RequestError) as exc:
            prepare(leads_of(*items), schema, Limits(10, 5), NOW)
        flagged = set(problems(exc))
        assert {p for p in flagged if p.endswith(".as_of")} == {
            f"leads[{i}].as_of" for i in np.flatnonzero(alone["as_of"][1])
        }
        assert len(flagged) == sum(int(bad.sum()) for _, bad in alone.values())
        return
    columns = prepare(leads_of(*items), schema, Limits(10, 5), NOW).columns
    np.testing.assert_array_equal(
        columns.as_of_us, np.where(alone["as_of"][0] == np.iinfo(np.int64).min, NOW, alone["as_of"][0])
    )
    np.testing.assert_array_equal(columns.created_us, alone["created_at"][0])
    np.testing.assert_array_equal(columns.event_ts_us, alone["ts"][0])


# --- reasons --------------------------------------------------------------------------------------------------


def _writer(schema: FeatureSchema) -> tuple[ReasonWriter, list[str], dict[str, int]]:
    names = [n for n in schema.feature_names if not n.startswith("velocity_")]
    groups = feature_groups(names, schema)
    return ReasonWriter(groups, names), names, {g.key: k for k, g in enumerate(groups)}


def test_reasons_follow_the_effects_and_phrase_for_people(schema: FeatureSchema) -> None:
    writer, names, group = _writer(schema)
    col = {n: i for i, n in enumerate(names)}
    n_leads = 2
    contributions = np.zeros((n_leads, len(names)))
    effects = np.zeros((n_leads, len(writer.groups)))
    values = np.zeros((n_leads, len(names)))
    values[:, col["days_since_last_event"]] = [3.2, 60.0]
    values[:, col["lead_age_days"]] = [10.0, np.nan]
    values[:, col["n_demo_request_all"]] = [1, 0]
    values[:, col["company_size"]] = [120.0, 10.0]
    # Lead 0: a demo request up (its windows and flag make one reason), the source up, size and recency down.
    for name in ("n_demo_request_7d", "n_demo_request_30d", "demo_requested"):
        contributions[0, col[name]] = 0.3
    effects[0, [group["demo_request"], group["source"], group["company_size"], group["days_since_last_event"]]] = [
        0.12,
        0.03,
        -0.02,
        -0.01,
    ]
    # Lead 1: quiet for 60 days, a cold call, no demo request.
    effects[1, [group["days_since_last_event"], group["source"], group["demo_request"]]] = [-0.15, -0.08, -0.04]
    inputs = ReasonInputs(
        values=values,
        categories={
            "source": np.array(["referral", "cold_call"], dtype=object),
            "industry": np.array(["", ""], dtype=object),
        },
        last_days={"demo_request": np.array([3.4, np.nan])},
    )
    p_close = np.array([0.4, 0.05])
    first, second = writer.explain(contributions, effects, p_close, inputs)
    assert [(r["feature"], r["direction"]) for r in first] == [
        ("demo_request", "up"),
        ("source", "up"),
        ("company_size", "down"),  # the larger shortfall first
        ("days_since_last_event", "down"),
    ]
    assert first[0]["weight"] == pytest.approx(0.9)  # the log-odds shares of the group, summed
    assert first[0]["effect"] == 12.0 and first[0]["p_without"] == pytest.approx(0.28)
    assert first[0]["text"] == "asked for a demo 3 days ago"
    assert first[1]["text"] == "source: referral"
    assert first[2]["text"] == "company size: 120 employees"
    assert first[3]["text"] == "no activity in the last 3 days"  # a shortfall, not "the activity lowers it"
    assert [r["text"] for r in second] == [
        "no activity in the last 60 days",
        "source: cold call",
        "has not asked for a demo",
    ]
    assert [r["effect"] for r in second] == [-15.0, -8.0, -4.0]
    assert all(r["direction"] == "down" for r in second)


def test_each_kind_of_reason_is_worded_for_its_direction(schema: FeatureSchema) -> None:
    writer, names, group = _writer(schema)
    col = {n: i for i, n in enumerate(names)}
    values = np.zeros((1, len(names)))
    values[0, col["days_since_last_event"]] = 2.0
    values[0, col["days_since_first_event"]] = 5.0
    values[0, col["lead_age_days"]] = 40.0
    values[0, col["n_stage_decision_30d"]] = 2
    values[0, col["n_stage_decision_all"]] = 2
    values[0, col["company_size"]] = 50.0
    inputs = ReasonInputs(values, {"source": np.array(["inbound_content"], dtype=object)}, {})

    def worded(key: str, effect: float) -> tuple[str, str]:
        effects = np.zeros((1, len(writer.groups)))
        effects[0, group[key]] = effect
        (reason,) = writer.explain(np.zeros((1, len(names))), effects, np.array([0.3]), inputs)[0]
        return reason["direction"], reason["text"]

    assert worded("stage_decision", 0.05) == ("up", "2 decision-stage touches in the last 30 days")
    assert worded("stage_early", -0.05) == ("down", "no early-stage touches yet")
    assert worded("pricing_view", -0.05) == ("down", "has not viewed pricing")
    assert worded("days_since_last_event", 0.05) == ("up", "last activity 2 days ago")
    assert worded("days_since_last_event", -0.05) == ("down", "no activity in the last 2 days")
    assert worded("days_since_first_event", 0.05) == ("up", "first activity 5 days ago")
    assert worded("days_since_first_event", -0.05) == ("down", "first activity only 5 days ago")
    assert worded("lead_age_days", -0.05) == ("down", "lead created 40 days ago")
    assert worded("source", 0.05) == ("up", "source: inbound content")
    assert worded("company_size", -0.05) == ("down", "company size: 50 employees")
    assert worded("n_distinct_assets", -0.05) == ("down", "has not engaged with any content")


def test_reasons_skip_negligible_effects(schema: FeatureSchema) -> None:
    writer, names, _ = _writer(schema)
    empty = ReasonInputs(np.zeros((1, len(names))), {}, {})
    tiny = np.full((1, len(writer.groups)), 1e-4)
    assert writer.explain(np.ones((1, len(names))), tiny, np.array([0.5]), empty) == [[]]
    assert writer.explain(np.zeros((0, len(names))), np.zeros((0, len(writer.groups))), np.zeros(0), empty) == []


def test_stage_and_repeated_events_are_worded_with_counts(schema: FeatureSchema) -> None:
    writer, names, group = _writer(schema)
    col = {n: i for i, n in enumerate(names)}
    effects = np.zeros((3, len(writer.groups)))
    values = np.zeros((3, len(names)))
    effects[:, group["stage_decision"]] = [0.05, 0.05, -0.05]
    effects[:, group["pricing_view"]] = [0.02, 0.02, -0.02]
    values[:, col["n_stage_decision_7d"]] = [0, 0, 0]
    values[:, col["n_stage_decision_30d"]] = [2, 0, 0]
    values[:, col["n_stage_decision_90d"]] = [2, 0, 0]
    values[:, col["n_stage_decision_all"]] = [5, 1, 0]
    values[:, col["n_pricing_view_all"]] = [4, 1, 0]
    inputs = ReasonInputs(values, {}, {"pricing_view": np.array([2.2, 0.3, np.nan])})
    explained = writer.explain(np.zeros((3, len(names))), effects, np.full(3, 0.2), inputs)
    texts = [[r["text"] for r in reasons] for reasons in explained]
    assert texts == [
        ["2 decision-stage touches in the last 30 days", "viewed pricing 4 times, last 2 days ago"],
        ["1 decision-stage touch in total", "viewed pricing today"],
        ["no decision-stage touches yet", "has not viewed pricing"],
    ]


# Values the wording meets: never (NaN), none, counts, days with fractions and exact halves (rounding), a lead
# created after its as_of (negative age), large numbers.
_SPECIAL = np.array([np.nan, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 29.999, 30.0, -0.5, -3.2, 1e6, 123456.789])


def _draw_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    pick = rng.integers(0, 3, shape)
    special = rng.choice(_SPECIAL, shape)
    counts = rng.integers(0, 60, shape).astype(float)
    spread = rng.uniform(-1e4, 1e6, shape)
    return np.select([pick == 0, pick == 1], [special, counts], spread)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_a_lead_worded_alone_reads_as_in_a_batch(schema: FeatureSchema, seed: int, extra: int) -> None:
    # Batches above ONE_BY_ONE leads are worded with numpy, a single lead with plain Python: same words.
    writer, names, _ = _writer(schema)
    rng = np.random.default_rng(seed)
    n = ONE_BY_ONE + extra
    values = _draw_values(rng, (n, len(names)))
    contributions = rng.normal(0, 0.5, (n, len(names)))
    # Effects with ties, zeros and negligible sizes, so every ordering rule is exercised.
    g = len(writer.groups)
    effects = np.where(
        rng.random((n, g)) < 0.4,
        rng.choice([0.0, 1e-4, -1e-4, 0.05, -0.05], (n, g)),
        rng.normal(0, 0.05, (n, g)),
    )
    p_close = rng.random(n)
    texts = np.array(["", "referral", "cold_call", "c_level", "x"], dtype=object)
    categories = {"source": rng.choice(texts, n), "industry": rng.choice(texts, n)}
    last_days = {t: np.abs(_draw_values(rng, (n,))) for t in ("demo_request", "page_visit", "pricing_view")}
    together = writer.explain(contributions, effects, p_close, ReasonInputs(values, categories, last_days))
    assert sum(map(len, together)) > n  # not vacuous: most leads have reasons
    for i in range(n):
        alone = ReasonInputs(
            values[i : i + 1],
            {k: v[i : i + 1] for k, v in categories.items()},
            {k: v[i : i + 1] for k, v in last_days.items()},
        )
        one = writer.explain(contributions[i : i + 1], effects[i : i + 1], p_close[i : i + 1], alone)
        assert one == [together[i]], i
