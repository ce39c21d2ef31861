"""Point-in-time engagement features on tiny hand-written frames: exact values, validation, schema, parity."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import features.engagement as engagement
from features.contract import LeadBatch, empty_events
from features.engagement import (
    AS_OF,
    DEFAULT_STAGE_MAP,
    EngagementFeatures,
    FeatureInputError,
    LeadColumns,
)
from features.schema import CATEGORICAL, NUMERIC, FeatureSchema, SchemaError
from simulator import simulate

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-03-01")


def _str(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def _ts(values: list[pd.Timestamp | None]) -> pd.Series:
    return pd.Series(values, dtype="datetime64[us]")


def make_leads(**extra: object) -> pd.DataFrame:
    leads = pd.DataFrame(
        {
            "lead_id": _str(["a", "b", "c"]),
            "created_at": _ts([T0 - 60 * DAY, T0 - 10 * DAY, None]),
            "decided_at": _ts([T0, T0, T0]),
            "source": _str(["referral", "cold_call", None]),
            "industry": _str(["saas", "retail", "saas"]),
            "company_size": pd.Series([10, 200, 3000], dtype="int64"),
            "country": _str(["DE", "FR", None]),
            "job_level": _str(["cxo", "ic", "ic"]),
            "outcome": _str(["won", "lost", None]),
            "closed_at": _ts([T0 + 5 * DAY, T0 + 9 * DAY, None]),
            "sales_hours": [3.0, 1.0, None],
            "deal_value": [1000.0, 200.0, 50.0],
        }
    )
    for name, values in extra.items():
        leads[name] = values
    return leads


def make_events(rows: list[tuple[str, pd.Timestamp, str, str | None]]) -> pd.DataFrame:
    lead_ids, ts, types, assets = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pd.DataFrame(
        {
            "lead_id": _str(list(lead_ids)),
            "ts": _ts(list(ts)),
            "event_type": _str(list(types)),
            "asset": _str(list(assets)),
        }
    )


EVENTS = [
    ("a", T0 - 2 * DAY, "demo_request", None),
    ("a", T0 - 7 * DAY, "pricing_view", "pricing"),  # exactly 7 days: inside the 7-day window
    ("a", T0 - 29 * DAY, "page_visit", "page-1"),
    ("a", T0 - 45 * DAY, "page_visit", "page-1"),  # same asset again
    ("a", T0 - 91 * DAY, "webinar_attended", "webinar-2"),
    ("a", T0 + 1 * DAY, "meeting", None),  # after decided_at: the leak trap
    ("a", T0, "contract_download", "contract"),  # at decided_at: excluded too
    ("b", T0 - 40 * DAY, "mystery_touch", "x-1"),  # unknown type: stage "other"
    ("b", T0 - 50 * DAY, "email_click", "mail-3"),
    ("zz", T0 - 1 * DAY, "page_visit", "page-1"),  # lead not in the batch
]


@pytest.fixture
def batch() -> LeadBatch:
    return LeadBatch(make_leads(), make_events(EVENTS))


@pytest.fixture
def fitted(batch: LeadBatch) -> EngagementFeatures:
    return EngagementFeatures().fit(batch)


def test_exact_values_on_a_tiny_history(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    out = fitted.transform(batch)
    a, b, c = out.loc["a"], out.loc["b"], out.loc["c"]

    assert [a[f"n_page_visit_{w}"] for w in ("7d", "30d", "90d", "all")] == [0, 1, 2, 2]
    assert [a[f"n_pricing_view_{w}"] for w in ("7d", "30d", "90d", "all")] == [1, 1, 1, 1]
    assert [a[f"n_webinar_attended_{w}"] for w in ("7d", "30d", "90d", "all")] == [0, 0, 0, 1]
    assert a["n_meeting_all"] == 0 and a["n_contract_download_all"] == 0
    assert [a[f"n_stage_decision_{w}"] for w in ("7d", "30d", "90d", "all")] == [2, 2, 2, 2]
    assert [a[f"n_stage_early_{w}"] for w in ("7d", "30d", "90d", "all")] == [0, 1, 2, 2]
    assert a["n_stage_middle_all"] == 1 and a["n_stage_other_all"] == 0
    assert a["days_since_last_event"] == 2.0
    assert a["days_since_last_decision_event"] == 2.0
    assert a["days_since_first_event"] == 91.0
    assert a["lead_age_days"] == 60.0
    assert a["n_distinct_assets"] == 3.0  # pricing, page-1, webinar-2; the demo request carries none
    # 3 events in the last 30 days, 1 in the 30 before
    assert a["velocity_30d"] == pytest.approx(np.log(4) - np.log(2))
    assert (a["demo_requested"], a["trial_requested"], a["webinar_attended"]) == (1.0, 0.0, 1.0)

    assert b["n_stage_other_all"] == 1 and b["n_stage_other_30d"] == 0 and b["n_stage_other_90d"] == 1
    assert b["n_email_click_all"] == 1
    assert b["days_since_last_event"] == 40.0
    assert np.isnan(b["days_since_last_decision_event"])
    assert b["velocity_30d"] == pytest.approx(-np.log(3))
    assert b["lead_age_days"] == 10.0

    counts = [col for col in out.columns if col.startswith("n_")]
    assert (out.loc["c", counts] == 0).all()
    assert np.isnan(c["days_since_last_event"]) and np.isnan(c["days_since_first_event"])
    assert np.isnan(c["lead_age_days"])  # created_at unknown
    assert c["velocity_30d"] == 0.0

    assert out.loc["a", "source"] == "referral" and pd.isna(out.loc["c", "source"])
    assert out.loc["b", "company_size"] == 200.0
    assert pd.isna(out.loc["c", "country"])


def test_output_shape_order_and_dtypes(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    reordered = LeadBatch(batch.leads.iloc[[2, 0, 1]], batch.events)
    out = fitted.transform(reordered)
    assert list(out.index) == ["c", "a", "b"]
    assert out.index.name == "lead_id"
    assert list(out.columns) == fitted.feature_names_out_ == list(fitted.get_feature_names_out())
    assert 50 <= len(out.columns) <= 80
    schema = fitted.feature_schema_
    for col in out.columns:
        if schema.dtypes[col] == "category":
            assert isinstance(out[col].dtype, pd.CategoricalDtype)
            assert list(out[col].cat.categories) == list(schema.categories[col])
        else:
            assert out[col].dtype == np.float64, col
    assert schema.categories["source"] == ("cold_call", "referral")
    assert schema.categories["industry"] == ("retail", "saas")
    kinds = {a.column: a.kind for a in schema.attributes}
    assert kinds == {
        "company_size": NUMERIC,
        "source": CATEGORICAL,
        "industry": CATEGORICAL,
        "country": CATEGORICAL,
        "job_level": CATEGORICAL,
    }
    # outcomes, times and the deal value never become features
    for leaky in ("outcome", "closed_at", "sales_hours", "deal_value", "decided_at", "created_at"):
        assert leaky not in out.columns


def test_window_boundaries_are_exact(fitted: EngagementFeatures) -> None:
    us = pd.Timedelta(microseconds=1)
    events = make_events(
        [
            ("a", T0 - us, "page_visit", None),  # just before as_of: counts
            ("a", T0 - 30 * DAY, "email_click", None),  # exactly 30 days: in the 30-day window
            ("a", T0 - 30 * DAY - us, "whitepaper_download", None),  # just outside it
            ("a", T0, "pricing_view", None),  # at as_of: never counts
        ]
    )
    out = fitted.transform(LeadBatch(make_leads(), events)).loc["a"]
    assert out["n_page_visit_7d"] == 1
    assert out["n_email_click_30d"] == 1
    assert out["n_whitepaper_download_30d"] == 0 and out["n_whitepaper_download_90d"] == 1
    assert out["n_pricing_view_all"] == 0
    assert out["days_since_last_event"] == pytest.approx(1e-6 / 86400)


def test_as_of_column_takes_precedence_over_decided_at(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    leads = batch.leads.copy()
    leads[AS_OF] = _ts([T0 + 3 * DAY, T0 - 10 * DAY, None])
    out = fitted.transform(LeadBatch(leads, batch.events))
    # "now" is 3 days after the decision: the meeting and contract download are known by then
    assert out.loc["a", "n_meeting_all"] == 1 and out.loc["a", "n_contract_download_all"] == 1
    assert out.loc["a", "days_since_last_event"] == 2.0
    assert out.loc["b", "n_stage_other_all"] == 1 and out.loc["b", "n_email_click_all"] == 1
    assert out.loc["b", "days_since_last_event"] == 30.0


def test_missing_reference_time_gives_zeros_not_errors(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    leads = batch.leads.copy()
    leads["decided_at"] = _ts([None, None, None])
    leads["created_at"] = _ts([None, None, None])
    out = fitted.transform(LeadBatch(leads, batch.events))
    counts = [col for col in out.columns if col.startswith("n_")]
    assert (out[counts] == 0).all().all()
    assert out["days_since_last_event"].isna().all() and out["lead_age_days"].isna().all()
    report = fitted.inspect(LeadBatch(leads, batch.events))
    assert report.events_without_as_of == 9 and report.events_unknown_lead == 1


def test_no_events_at_all(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    for events in (empty_events(), pd.DataFrame()):
        out = fitted.transform(LeadBatch(batch.leads, events))
        assert len(out) == 3
        assert (out[[c for c in out.columns if c.startswith("n_")]] == 0).all().all()
        assert out["days_since_last_event"].isna().all()


def test_no_leads(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    out = fitted.transform(LeadBatch(batch.leads.iloc[:0], batch.events))
    assert out.shape == (0, len(fitted.feature_names_out_))
    assert list(out.columns) == fitted.feature_names_out_


def test_inspect_reports_what_was_ignored(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    leads = batch.leads.copy()
    leads["industry"] = _str(["saas", "mining", "mining"])
    leads = leads.drop(columns=["job_level"])
    events = pd.concat(
        [batch.events, make_events([("b", T0 - DAY, "mystery_touch", None), ("b", T0 - DAY, "fax", None)])],
        ignore_index=True,
    )
    report = fitted.inspect(LeadBatch(leads, events))
    assert report.unknown_event_types == {"mystery_touch": 2, "fax": 1}
    assert report.unseen_categories == {"industry": {"mining": 2}}
    assert report.events_at_or_after_as_of == 2
    assert report.events_unknown_lead == 1
    assert report.missing_columns == ["job_level"]
    assert report.has_issues
    messages = " | ".join(report.messages())
    assert "mystery_touch" in messages and "mining" in messages and "job_level" in messages

    out = fitted.transform(LeadBatch(leads, events))
    assert pd.isna(out.loc["b", "industry"]) and out.loc["a", "industry"] == "saas"
    assert out["job_level"].isna().all()
    assert out.loc["b", "n_stage_other_all"] == 3


def test_clean_batch_has_no_issues(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    events = batch.events[batch.events["lead_id"].isin(["a"]) & (batch.events["ts"] < T0)]
    report = fitted.inspect(LeadBatch(batch.leads, events))
    assert not report.has_issues and report.messages() == []


def test_text_timestamps_and_integer_ids_are_accepted(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    expected = fitted.transform(batch)
    leads = batch.leads.copy()
    leads["decided_at"] = pd.Series(["2024-03-01T01:00:00+01:00"] * 3, dtype="str")  # same instant, in CET
    events = batch.events.copy()
    events["ts"] = events["ts"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    got = fitted.transform(LeadBatch(leads, events))
    pd.testing.assert_frame_equal(got, expected)

    leads = batch.leads.assign(lead_id=[1, 2, 3])
    events = batch.events.assign(lead_id=batch.events["lead_id"].replace({"a": "1", "b": "2", "zz": "99"}))
    out = fitted.transform(LeadBatch(leads, events))
    assert out.loc[1, "n_page_visit_all"] == 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda leads, ev: (leads.drop(columns=["lead_id"]), ev), "required column 'lead_id'"),
        (
            lambda leads, ev: (leads.assign(lead_id=_str(["a", "b", "a"])), ev),
            "row 2: id 'a' appears more than once",
        ),
        (lambda leads, ev: (leads.assign(lead_id=_str(["a", None, "c"])), ev), "row 1: missing lead id"),
        (lambda leads, ev: (leads.drop(columns=["decided_at"]), ev), "need column 'as_of' or 'decided_at'"),
        (
            lambda leads, ev: (leads.assign(decided_at=_str(["2024-03-01", "soon", None])), ev),
            "leads column 'decided_at' row 1 (lead_id 'b'): cannot read 'soon' as a timestamp",
        ),
        (lambda leads, ev: (leads.assign(decided_at=[1, 2, 3]), ev), "expected timestamps, got int64"),
        (lambda leads, ev: (leads, ev.drop(columns=["ts"])), "events: required column 'ts'"),
        (
            lambda leads, ev: (leads.assign(company_size=_str(["10", "lots", None])), ev),
            "leads column 'company_size' row 1 (lead_id 'b'): expected a number, got 'lots'",
        ),
        (lambda leads, ev: ("not a frame", ev), "expected a features.contract.LeadBatch"),
    ],
)
def test_bad_input_raises_a_clear_error(
    fitted: EngagementFeatures,
    batch: LeadBatch,
    mutate: Callable[[pd.DataFrame, pd.DataFrame], tuple[Any, pd.DataFrame]],
    message: str,
) -> None:
    leads, events = mutate(batch.leads, batch.events)
    with pytest.raises(FeatureInputError) as excinfo:
        fitted.transform(LeadBatch(leads, events))
    assert message in str(excinfo.value)


def test_numeric_text_is_read_as_numbers(fitted: EngagementFeatures, batch: LeadBatch) -> None:
    leads = batch.leads.assign(company_size=_str(["10", "200", None]))
    out = fitted.transform(LeadBatch(leads, batch.events))
    assert out["company_size"].tolist()[:2] == [10.0, 200.0] and np.isnan(out["company_size"].iloc[2])
    report = fitted.inspect(LeadBatch(batch.leads.assign(company_size=_str(["10", "x", "y"])), batch.events))
    assert report.invalid_numeric == {"company_size": 2}


def test_attribute_inference_and_explicit_lists(batch: LeadBatch) -> None:
    leads = make_leads(
        revenue=[1.5, 2.5, None],
        is_partner=[True, False, True],
        segment=_str(["smb", "ent", "smb"]),
        signed_up=_ts([T0, T0, T0]),  # timestamps are not used as they are
    )
    fitted = EngagementFeatures().fit(LeadBatch(leads, batch.events))
    kinds = {a.column: a.kind for a in fitted.feature_schema_.attributes}
    assert kinds["revenue"] == NUMERIC and kinds["is_partner"] == NUMERIC and kinds["segment"] == CATEGORICAL
    assert "signed_up" not in kinds

    explicit = EngagementFeatures(categorical=["source", "industry"], numeric=["company_size", "deal_value"])
    kinds = {a.column: a.kind for a in explicit.fit(LeadBatch(leads, batch.events)).feature_schema_.attributes}
    assert kinds == {
        "source": CATEGORICAL,
        "industry": CATEGORICAL,
        "company_size": NUMERIC,
        "deal_value": NUMERIC,
    }

    # numeric listed explicitly, categoricals still inferred
    only_numeric = EngagementFeatures(numeric=["company_size"]).fit(LeadBatch(leads, batch.events))
    kinds = {a.column: a.kind for a in only_numeric.feature_schema_.attributes}
    assert "revenue" not in kinds and kinds["segment"] == CATEGORICAL


def test_identifier_like_text_columns_are_not_inferred() -> None:
    n = 1500
    leads = pd.DataFrame(
        {
            "lead_id": _str([f"L{i}" for i in range(n)]),
            "decided_at": _ts([T0] * n),
            "source": _str(["referral"] * n),
            "email": _str([f"p{i}@example.com" for i in range(n)]),
        }
    )
    fitted = EngagementFeatures().fit(LeadBatch(leads, empty_events()))
    assert "email" not in fitted.feature_names_out_


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"categorical": ["nope"]}, "leads have no column 'nope'"),
        ({"categorical": ["industry"], "numeric": ["industry"]}, "both categorical and numeric"),
        ({"numeric": ["outcome"]}, "'outcome' is an identifier, time or outcome column"),
        ({"categorical": "industry"}, "expected a list of column names"),
        ({"stage_map": {"page_visit": "late"}}, "unknown stage 'late'"),
        ({"stage_map": {"Page Visit": "early", "page_visit": "early"}}, "same feature name 'page_visit'"),
        ({"stage_map": {"stage_early": "early"}}, "feature name 'n_stage_early_7d'"),
        ({"windows": (7, 0)}, "0 is not a positive whole number"),
        ({"windows": (7, 7)}, "has duplicates"),
        ({"windows": (7, 1.5)}, "1.5 is not a positive whole number"),
    ],
)
def test_bad_parameters_raise_at_fit(batch: LeadBatch, params: dict[str, Any], message: str) -> None:
    with pytest.raises(FeatureInputError) as excinfo:
        EngagementFeatures(**params).fit(batch)
    assert message in str(excinfo.value)


def test_attribute_colliding_with_a_feature_name_is_refused(batch: LeadBatch) -> None:
    leads = make_leads(days_since_last_event=[1.0, 2.0, 3.0])
    with pytest.raises(FeatureInputError, match="already exists"):
        EngagementFeatures().fit(LeadBatch(leads, batch.events))


def test_custom_stage_map_and_windows(batch: LeadBatch) -> None:
    stage_map = {"page_visit": "early", "pricing_view": "decision", "Demo Request!": "decision"}
    events = pd.concat([batch.events, make_events([("a", T0 - 3 * DAY, "Demo Request!", None)])], ignore_index=True)
    fitted = EngagementFeatures(stage_map=stage_map, windows=(14, 3)).fit(batch)
    out = fitted.transform(LeadBatch(batch.leads, events))
    assert [c for c in out.columns if c.startswith("n_page_visit")] == [
        "n_page_visit_3d",
        "n_page_visit_14d",
        "n_page_visit_all",
    ]
    assert out.loc["a", "n_demo_request__14d"] == 1
    assert out.loc["a", "n_stage_decision_all"] == 2  # pricing view + the custom demo request
    # demo_request is no longer mapped (stage "other"), but the flag still sees it
    assert out.loc["a", "n_stage_other_all"] == 2 and out.loc["a", "demo_requested"] == 1.0
    assert out.loc["a", "webinar_attended"] == 1.0
    assert fitted.feature_schema_.windows == (3, 14)


def test_sklearn_contract(batch: LeadBatch) -> None:
    est = EngagementFeatures(windows=(3, 10))
    assert est.get_params()["windows"] == (3, 10)
    assert not hasattr(est, "feature_schema_")
    with pytest.raises(NotFittedError):
        est.transform(batch)
    assert est.fit(batch) is est
    again = clone(est)
    assert not hasattr(again, "feature_schema_") and again.windows == (3, 10)
    restored = pickle.loads(pickle.dumps(est))
    pd.testing.assert_frame_equal(restored.transform(batch), est.transform(batch))
    pd.testing.assert_frame_equal(est.fit_transform(batch), est.transform(batch))


def test_default_stage_map_covers_the_simulator_vocabulary() -> None:
    from simulator import DECISION_TYPES, EARLY_TYPES, LEAK_TYPES, MIDDLE_TYPES

    stages = {"early": EARLY_TYPES, "middle": MIDDLE_TYPES, "decision": DECISION_TYPES + LEAK_TYPES}
    assert dict(DEFAULT_STAGE_MAP) == {t: stage for stage, types in stages.items() for t in types}


# --- schema -------------------------------------------------------------------------------------------------


def test_schema_round_trips_through_json(fitted: EngagementFeatures) -> None:
    schema = fitted.feature_schema_
    text = json.dumps(schema.to_dict())
    back = FeatureSchema.from_dict(json.loads(text))
    assert back == schema
    assert back.to_dict() == schema.to_dict()
    assert back.categorical_dtype("industry") == fitted.category_dtypes_["industry"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=99), "'version'"),
        (lambda d: d.update(feature_names="x"), "'feature_names'"),
        (lambda d: d["dtypes"].update(company_size="int8"), "'dtypes.company_size'"),
        (lambda d: d["categories"].pop("industry"), "no categories for ['industry']"),
        (lambda d: d["attributes"][0].update(kind="date"), "'attributes[0].kind'"),
        (lambda d: d["stage_map"].update(page_visit="late"), "'stage_map.page_visit'"),
        (lambda d: d.update(windows=[7, -1]), "'windows'"),
    ],
)
def test_schema_from_dict_names_the_broken_key(
    fitted: EngagementFeatures, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = json.loads(json.dumps(fitted.feature_schema_.to_dict()))
    change(data)
    with pytest.raises(SchemaError) as excinfo:
        FeatureSchema.from_dict(data)
    assert message in str(excinfo.value)


def test_schema_checks_raw_attribute_values(fitted: EngagementFeatures) -> None:
    schema = fitted.feature_schema_
    assert schema.check_value("company_size", 12) is None
    assert schema.check_value("company_size", " 12.5 ") is None
    assert schema.check_value("company_size", None) is None
    assert "got the text 'lots'" in (schema.check_value("company_size", "lots") or "")
    assert "boolean" in (schema.check_value("company_size", True) or "")
    assert "finite" in (schema.check_value("company_size", float("inf")) or "")
    assert "got list" in (schema.check_value("company_size", [1]) or "")
    assert schema.check_value("industry", "mining") is None  # unseen: usable, becomes missing
    assert "text value" in (schema.check_value("industry", {"a": 1}) or "")
    assert "not a lead attribute" in (schema.check_value("shoe_size", 42) or "")
    assert schema.is_known_category("industry", "saas") and not schema.is_known_category("industry", "mining")
    assert schema.is_known_category("industry", None)
    assert schema.attribute("source") is not None and schema.attribute("outcome") is None


# --- paths that only big or odd inputs take, and train/serve parity -----------------------------------------


@pytest.fixture(scope="module")
def history() -> tuple[LeadBatch, EngagementFeatures]:
    sim = simulate(300, seed=7)
    batch = LeadBatch(sim.leads, sim.events)
    return batch, EngagementFeatures().fit(batch)


def test_event_order_and_grouping_do_not_matter(history: tuple[LeadBatch, EngagementFeatures]) -> None:
    batch, fitted = history
    assert len(batch.events) > 4096  # the grouped-by-lead fast path is taken
    grouped = fitted.transform(batch)
    shuffled = batch.events.sample(frac=1.0, random_state=1).reset_index(drop=True)
    pd.testing.assert_frame_equal(fitted.transform(LeadBatch(batch.leads, shuffled)), grouped)
    as_categories = batch.events.astype({"lead_id": "category", "event_type": "category"})
    pd.testing.assert_frame_equal(fitted.transform(LeadBatch(batch.leads, as_categories)), grouped)
    as_objects = batch.events.astype({"lead_id": object, "asset": object})
    pd.testing.assert_frame_equal(fitted.transform(LeadBatch(batch.leads, as_objects)), grouped)


def test_large_asset_vocabularies_take_the_sorting_path(
    history: tuple[LeadBatch, EngagementFeatures], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, fitted = history
    expected = fitted.transform(batch)
    monkeypatch.setattr(engagement, "_ASSET_GRID_MAX", 0)
    pd.testing.assert_frame_equal(fitted.transform(batch), expected)
    assert expected["n_distinct_assets"].sum() > 0


def test_batch_and_lead_by_lead_features_are_identical(history: tuple[LeadBatch, EngagementFeatures]) -> None:
    batch, fitted = history
    leads = batch.leads.iloc[:120]
    together = fitted.transform(LeadBatch(leads, batch.events))
    by_lead = batch.events.groupby("lead_id", sort=False)
    one_by_one = []
    for i in range(len(leads)):
        lead = leads.iloc[[i]]
        lead_id = lead["lead_id"].iloc[0]
        events = by_lead.get_group(lead_id) if lead_id in by_lead.groups else batch.events.iloc[:0]
        one_by_one.append(fitted.transform(LeadBatch(lead, events)))
    pd.testing.assert_frame_equal(pd.concat(one_by_one), together)
    # the post-decision events of the simulator never reach the features
    assert together["n_meeting_all"].sum() == 0 and together["n_contract_download_all"].sum() == 0
    assert (batch.events["event_type"] == "meeting").any()


def _text(values: pd.Series) -> pa.Array:
    return pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.large_string())


def columns_as_served(leads: pd.DataFrame, events: pd.DataFrame) -> LeadColumns:
    """The leads as the serving path hands them over: plain arrays and Arrow text, no DataFrames."""
    position = {lead_id: i for i, lead_id in enumerate(leads["lead_id"])}
    return LeadColumns(
        as_of_us=leads["decided_at"].to_numpy(dtype="datetime64[us]").view(np.int64),
        created_us=leads["created_at"].to_numpy(dtype="datetime64[us]").view(np.int64),
        attributes={
            "source": _text(leads["source"]),
            "industry": _text(leads["industry"]),
            "country": _text(leads["country"]),
            "job_level": _text(leads["job_level"]),
            "company_size": leads["company_size"].to_numpy(dtype=np.float64),
        },
        event_lead=np.array([position.get(x, -1) for x in events["lead_id"]], dtype=np.int64),
        event_ts_us=events["ts"].to_numpy(dtype="datetime64[us]").view(np.int64),
        event_types=_text(events["event_type"]),
        event_assets=_text(events["asset"]),
    )


def assert_values_match_frame(values: np.ndarray, frame: pd.DataFrame) -> None:
    """`transform_columns`' output (features x leads, category codes) against `transform`'s frame."""
    assert values.shape == (frame.shape[1], frame.shape[0])
    for k, column in enumerate(frame.columns):
        expected = frame[column]
        if isinstance(expected.dtype, pd.CategoricalDtype):
            np.testing.assert_array_equal(values[k], expected.cat.codes.to_numpy(), err_msg=column)
        else:
            np.testing.assert_array_equal(values[k], expected.to_numpy(), err_msg=column)


def test_array_path_equals_the_frame_path(history: tuple[LeadBatch, EngagementFeatures]) -> None:
    # The service feeds `transform_columns` straight from a request; batches go through `transform`. All 300
    # leads at once take Arrow's category lookup, one lead at a time the dict lookup.
    batch, fitted = history
    leads = batch.leads.copy()
    leads.loc[leads.index[::7], "industry"] = "never_seen_in_training"
    leads.loc[leads.index[::11], "company_size"] = np.nan
    events = batch.events
    expected = fitted.transform(LeadBatch(leads, events))
    assert_values_match_frame(fitted.transform_columns(columns_as_served(leads, events)), expected)
    by_lead = events.groupby("lead_id", sort=False)
    for i in range(0, len(leads), 5):
        lead = leads.iloc[[i]]
        lead_id = lead["lead_id"].iloc[0]
        own = by_lead.get_group(lead_id) if lead_id in by_lead.groups else events.iloc[:0]
        assert_values_match_frame(fitted.transform_columns(columns_as_served(lead, own)), expected.iloc[[i]])


def test_array_path_with_missing_columns(history: tuple[LeadBatch, EngagementFeatures]) -> None:
    batch, fitted = history
    leads = batch.leads.iloc[:20].drop(columns=["industry", "company_size", "created_at"])
    events = batch.events.drop(columns=["asset"])
    expected = fitted.transform(LeadBatch(leads, events))
    full = columns_as_served(batch.leads.iloc[:20], batch.events)
    attributes = {k: v for k, v in full.attributes.items() if k not in ("industry", "company_size")}
    columns = LeadColumns(full.as_of_us, None, attributes, full.event_lead, full.event_ts_us, full.event_types, None)
    assert_values_match_frame(fitted.transform_columns(columns), expected)
    assert expected["industry"].isna().all() and expected["lead_age_days"].isna().all()
