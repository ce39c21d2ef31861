"""Properties of the point-in-time engagement features on random small histories (hypothesis).

Every property runs on histories with leads whose reference time may be unknown, events of leads not in the
batch, events exactly at window edges and at the reference time, unknown event types, and unseen categories.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import features.engagement as engagement
from features.contract import LeadBatch
from features.engagement import DEFAULT_STAGE_MAP, FLAG_EVENT_TYPES, EngagementFeatures, LeadColumns

SETTINGS = settings(max_examples=50, deadline=None)
BASE = pd.Timestamp("2024-06-01")
BASE_US = BASE.value // 1000
US_PER_DAY = 86_400_000_000
TYPES = [*DEFAULT_STAGE_MAP, "mystery_touch"]
DECISION_TYPES = [t for t, stage in DEFAULT_STAGE_MAP.items() if stage == "decision"]
ASSETS = [None, "page-1", "page-2", "doc-1"]
# Offsets of an event from its lead's reference time, in microseconds: random, plus every window edge exactly.
EDGES = [0, -1, -7 * US_PER_DAY, -30 * US_PER_DAY, -60 * US_PER_DAY, -90 * US_PER_DAY, -90 * US_PER_DAY - 1]
PAST = st.one_of(st.integers(-200 * US_PER_DAY, -1), st.sampled_from([e for e in EDGES if e < 0]))
FUTURE = st.one_of(st.integers(0, 30 * US_PER_DAY), st.just(0))


@cache
def fitted() -> EngagementFeatures:
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(["t1", "t2", "t3"], dtype="str"),
            "created_at": pd.Series([BASE - pd.Timedelta(days=9)] * 3, dtype="datetime64[us]"),
            "decided_at": pd.Series([BASE] * 3, dtype="datetime64[us]"),
            "source": pd.Series(["referral", "event", "referral"], dtype="str"),
            "industry": pd.Series(["saas", "retail", None], dtype="str"),
            "company_size": [10.0, 50.0, None],
        }
    )
    return EngagementFeatures().fit(LeadBatch(leads, pd.DataFrame()))


@st.composite
def histories(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = draw(st.integers(1, 4))
    as_of = [None if draw(st.integers(0, 5)) == 0 else BASE_US + draw(st.integers(0, 10**11)) for _ in range(n)]
    created = [
        None if ref is None or draw(st.booleans()) else ref - draw(st.integers(0, 300)) * US_PER_DAY for ref in as_of
    ]
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series([f"L{i}" for i in range(n)], dtype="str"),
            "created_at": _stamps(created),
            "decided_at": _stamps(as_of),
            "source": pd.Series(
                [draw(st.sampled_from(["referral", "event", "unseen_source", None])) for _ in range(n)],
                dtype="str",
            ),
            "industry": pd.Series([draw(st.sampled_from(["saas", "mining", None])) for _ in range(n)], dtype="str"),
            "company_size": [draw(st.one_of(st.none(), st.floats(1, 1e5))) for _ in range(n)],
        }
    )
    rows = [
        (
            draw(st.integers(0, n)),  # n: a lead that is not in the batch
            draw(st.one_of(PAST, FUTURE)),
            draw(st.sampled_from(TYPES)),
            draw(st.sampled_from(ASSETS)),
        )
        for _ in range(draw(st.integers(0, 25)))
    ]
    return leads, _events(leads, rows)


def _stamps(us: Sequence[int | None]) -> pd.Series:
    values = np.array([np.iinfo(np.int64).min if v is None else v for v in us], dtype=np.int64)
    return pd.Series(values.view("datetime64[us]"))


def _events(leads: pd.DataFrame, rows: list[tuple[int, int, str, str | None]]) -> pd.DataFrame:
    """Events from (lead position, microseconds from its reference time, type, asset) rows."""
    refs = leads["decided_at"].to_numpy().view(np.int64)
    missing = np.iinfo(np.int64).min
    ids, ts = [], []
    for who, offset, _, _ in rows:
        ref = refs[who] if who < len(refs) and refs[who] != missing else BASE_US
        ids.append(f"L{who}" if who < len(refs) else "ghost")
        ts.append(int(ref) + offset)
    return pd.DataFrame(
        {
            "lead_id": pd.Series(ids, dtype="str"),
            "ts": _stamps(ts),
            "event_type": pd.Series([r[2] for r in rows], dtype="str"),
            "asset": pd.Series([r[3] for r in rows], dtype="str"),
        }
    )


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """assert_frame_equal's checks (index, columns, dtypes, values, categories) at a fraction of its cost."""
    pd.testing.assert_index_equal(got.index, expected.index)
    pd.testing.assert_index_equal(got.columns, expected.columns)
    assert list(got.dtypes) == list(expected.dtypes)
    numeric = [c for c in got.columns if got[c].dtype == np.float64]
    np.testing.assert_array_equal(got[numeric].to_numpy(), expected[numeric].to_numpy())
    for col in got.columns.difference(numeric):
        np.testing.assert_array_equal(got[col].cat.codes.to_numpy(), expected[col].cat.codes.to_numpy())


def _features(leads: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    return fitted().transform(LeadBatch(leads, events))


def _count_columns(out: pd.DataFrame) -> list[str]:
    return [c for c in out.columns if c.startswith("n_") and c != "n_distinct_assets"]


def _reference(leads: pd.DataFrame, events: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The features of every lead computed the slow, obvious way, event by event (test oracle)."""
    out: dict[str, dict[str, float]] = {}
    for lead in leads.itertuples():
        ref = lead.decided_at
        known = [] if pd.isna(ref) else [e for e in events.itertuples() if e.lead_id == lead.lead_id and e.ts < ref]
        ages = [(ref - e.ts) // pd.Timedelta(microseconds=1) for e in known]
        f: dict[str, float] = {}
        for suffix, days in (("7d", 7), ("30d", 30), ("90d", 90), ("all", None)):

            def inside(age: int, days: int | None = days) -> bool:
                return days is None or age <= days * US_PER_DAY

            for event_type in DEFAULT_STAGE_MAP:
                f[f"n_{event_type}_{suffix}"] = sum(
                    1 for e, a in zip(known, ages, strict=True) if e.event_type == event_type and inside(a)
                )
            for stage in ("early", "middle", "decision", "other"):
                f[f"n_stage_{stage}_{suffix}"] = sum(
                    1
                    for e, a in zip(known, ages, strict=True)
                    if DEFAULT_STAGE_MAP.get(e.event_type, "other") == stage and inside(a)
                )
        decision_ages = [
            a for e, a in zip(known, ages, strict=True) if DEFAULT_STAGE_MAP.get(e.event_type) == "decision"
        ]
        f["days_since_last_event"] = min(ages) / US_PER_DAY if ages else math.nan
        f["days_since_last_decision_event"] = min(decision_ages) / US_PER_DAY if decision_ages else math.nan
        f["days_since_first_event"] = max(ages) / US_PER_DAY if ages else math.nan
        has_age = not (pd.isna(ref) or pd.isna(lead.created_at))
        f["lead_age_days"] = ((ref - lead.created_at) / pd.Timedelta(days=1)) if has_age else math.nan
        f["n_distinct_assets"] = len({e.asset for e in known if isinstance(e.asset, str)})
        recent = sum(1 for a in ages if a <= 30 * US_PER_DAY)
        before = sum(1 for a in ages if 30 * US_PER_DAY < a <= 60 * US_PER_DAY)
        f["velocity_30d"] = math.log1p(recent) - math.log1p(before)
        for flag, event_type in FLAG_EVENT_TYPES.items():
            f[flag] = float(any(e.event_type == event_type for e in known))
        f["company_size"] = math.nan if pd.isna(lead.company_size) else float(lead.company_size)
        out[lead.lead_id] = f
    return out


@SETTINGS
@given(histories())
def test_features_match_an_event_by_event_reference(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, events = history
    out = _features(leads, events)
    expected = _reference(leads, events)
    for lead_id, values in expected.items():
        for name, value in values.items():
            got = out.at[lead_id, name]
            assert (math.isnan(value) and math.isnan(got)) or got == value or math.isclose(got, value), (
                lead_id,
                name,
                got,
                value,
            )


@SETTINGS
@given(histories(), st.data())
def test_events_at_or_after_as_of_change_nothing(
    history: tuple[pd.DataFrame, pd.DataFrame], data: st.DataObject
) -> None:
    leads, events = history
    before = _features(leads, events)
    n = len(leads)
    later = [
        (data.draw(st.integers(0, n - 1)), data.draw(FUTURE), data.draw(st.sampled_from(TYPES)), None)
        for _ in range(data.draw(st.integers(1, 10)))
    ]
    extra = _events(leads, later)
    # A lead without a reference time may get events at any time: they never count either.
    unknown_ref = leads["decided_at"].isna().to_numpy()
    if unknown_ref.any():
        who = int(np.flatnonzero(unknown_ref)[0])
        extra = pd.concat([extra, _events(leads, [(who, -5 * US_PER_DAY, "demo_request", "doc-1")])])
    more = pd.concat([events, extra], ignore_index=True)
    _assert_same(_features(leads, more), before)


@SETTINGS
@given(histories(), st.data())
def test_a_decision_stage_event_before_as_of_never_lowers_counts(
    history: tuple[pd.DataFrame, pd.DataFrame], data: st.DataObject
) -> None:
    leads, events = history
    with_ref = np.flatnonzero(leads["decided_at"].notna().to_numpy())
    if len(with_ref) == 0:
        return
    who = int(data.draw(st.sampled_from(list(with_ref))))
    event_type = data.draw(st.sampled_from(DECISION_TYPES))
    added = _events(leads, [(who, data.draw(PAST), event_type, data.draw(st.sampled_from(ASSETS)))])
    before = _features(leads, events)
    after = _features(leads, pd.concat([events, added], ignore_index=True))
    counts = _count_columns(before)
    assert (after[counts] >= before[counts]).all().all()
    lead_id = leads["lead_id"].iloc[who]
    assert after.at[lead_id, "n_stage_decision_all"] == before.at[lead_id, "n_stage_decision_all"] + 1
    assert after.at[lead_id, f"n_{event_type}_all"] == before.at[lead_id, f"n_{event_type}_all"] + 1
    previous = before.at[lead_id, "days_since_last_decision_event"]
    assert np.isnan(previous) or after.at[lead_id, "days_since_last_decision_event"] <= previous
    others = leads["lead_id"].drop(leads.index[who])
    _assert_same(after.loc[others], before.loc[others])


@SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_event_order_changes_nothing(history: tuple[pd.DataFrame, pd.DataFrame], rnd: random.Random) -> None:
    leads, events = history
    order = list(range(len(events)))
    rnd.shuffle(order)
    shuffled = events.iloc[order].reset_index(drop=True)
    _assert_same(_features(leads, shuffled), _features(leads, events))


@SETTINGS
@given(histories())
def test_leads_without_events_get_well_defined_features(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, events = history
    out = _features(leads, events.iloc[:0])
    assert (out[_count_columns(out)] == 0).all().all()
    assert (out["n_distinct_assets"] == 0).all() and (out["velocity_30d"] == 0).all()
    assert (out[list(FLAG_EVENT_TYPES)] == 0).all().all()
    for recency in ("days_since_last_event", "days_since_last_decision_event", "days_since_first_event"):
        assert out[recency].isna().all()
    silent = leads.assign(lead_id=leads["lead_id"] + "-quiet")
    _assert_same(_features(silent, events).reset_index(drop=True), out.reset_index(drop=True))


@SETTINGS
@given(histories())
def test_unseen_categories_become_missing_and_are_reported(
    history: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    leads, events = history
    out = _features(leads, events)
    seen = {"referral", "event"}
    for value, got in zip(leads["source"], out["source"], strict=True):
        assert got == value if value in seen else pd.isna(got)
    assert list(out["source"].cat.categories) == ["event", "referral"]
    report = fitted().inspect(LeadBatch(leads, events))
    n_unseen = int((leads["source"] == "unseen_source").sum())
    assert report.unseen_categories.get("source", {}) == ({"unseen_source": n_unseen} if n_unseen else {})
    n_mining = int((leads["industry"] == "mining").sum())
    assert report.unseen_categories.get("industry", {}) == ({"mining": n_mining} if n_mining else {})


@SETTINGS
@given(histories())
def test_batch_equals_lead_by_lead(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, events = history
    together = _features(leads, events)
    parts = [
        _features(leads.iloc[[i]], events[events["lead_id"] == leads["lead_id"].iloc[i]]) for i in range(len(leads))
    ]
    pd.testing.assert_frame_equal(pd.concat(parts), together)


def _arrow_text(values: pd.Series) -> pa.Array:
    return pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.large_string())


@SETTINGS
@given(histories())
def test_array_path_equals_the_frame_path(history: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # What the service computes for a request (arrays, no DataFrames) equals what training computes.
    leads, events = history
    expected = _features(leads, events)
    position = {lead_id: i for i, lead_id in enumerate(leads["lead_id"])}
    columns = LeadColumns(
        as_of_us=leads["decided_at"].to_numpy().view(np.int64),
        created_us=leads["created_at"].to_numpy().view(np.int64),
        attributes={
            "source": _arrow_text(leads["source"]),
            "industry": _arrow_text(leads["industry"]),
            "company_size": leads["company_size"].to_numpy(dtype=np.float64),
        },
        event_lead=np.array([position.get(x, -1) for x in events["lead_id"]], dtype=np.int64),
        event_ts_us=events["ts"].to_numpy().view(np.int64),
        event_types=_arrow_text(events["event_type"]),
        event_assets=_arrow_text(events["asset"]),
    )
    values = fitted().transform_columns(columns)
    for k, column in enumerate(expected.columns):
        got = expected[column]
        want = got.cat.codes.to_numpy() if isinstance(got.dtype, pd.CategoricalDtype) else got.to_numpy()
        np.testing.assert_array_equal(values[k], want, err_msg=column)


@SETTINGS
@given(
    st.lists(st.none() | st.sampled_from(["a", "b", "", "é", "a "]) | st.text(max_size=3), max_size=70),
    st.sampled_from([pa.large_string(), pa.string()]),
)
def test_short_columns_are_factorized_as_arrow_does(values: list[str | None], text_type: pa.DataType) -> None:
    array = pa.array(values, type=text_type)
    codes, uniques = engagement._factorize(array)
    encoded = array.dictionary_encode()
    np.testing.assert_array_equal(codes, encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False))
    assert uniques.equals(encoded.dictionary)
