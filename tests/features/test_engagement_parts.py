"""Fitting the features on parts of the leads (a data set's partitions) and merging them, and combining the
input reports of the parts: the same as fitting and inspecting all the leads at once."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import EVENT_LEAD_ID, LEAD_ID, LeadBatch
from features.engagement import EngagementFeatures, FeatureInputError, InputReport
from simulator import simulate


def _parts(batch: LeadBatch, n: int) -> list[LeadBatch]:
    out = []
    for k in range(n):
        leads = batch.leads.iloc[k::n].reset_index(drop=True)
        events = batch.events[batch.events[EVENT_LEAD_ID].isin(leads[LEAD_ID])].reset_index(drop=True)
        out.append(LeadBatch(leads, events))
    return out


def test_merged_parts_equal_one_fit_on_all_leads() -> None:
    history = simulate(n_leads=400, seed=5)
    leads = history.leads.copy()
    # A category that only one part holds must still be known after the merge.
    leads.loc[3, "industry"] = "zz-only-in-part-0"
    batch = LeadBatch(leads, history.events)
    # Parts are fitted with the attribute columns named, as the Dask engine does (no part infers them).
    categorical, numeric = ["industry", "country", "job_level"], ["company_size"]
    whole = EngagementFeatures(categorical=categorical, numeric=numeric).fit(batch)
    fitted = [EngagementFeatures(categorical=categorical, numeric=numeric).fit(p) for p in _parts(batch, 3)]
    assert fitted[1].feature_schema_ != whole.feature_schema_  # parts alone miss categories
    merged = EngagementFeatures.merged(fitted)
    assert merged.feature_schema_ == whole.feature_schema_
    assert "zz-only-in-part-0" in merged.feature_schema_.categories["industry"]
    pd.testing.assert_frame_equal(merged.transform(batch), whole.transform(batch), check_exact=True)


def test_merging_parts_with_other_columns_is_refused_naming_the_part() -> None:
    history = simulate(n_leads=200, seed=5)
    a, b = _parts(LeadBatch(history.leads, history.events), 2)
    without_country = LeadBatch(b.leads.drop(columns="country"), b.events)
    with pytest.raises(FeatureInputError, match="part 1 has other feature columns"):
        EngagementFeatures.merged([EngagementFeatures().fit(a), EngagementFeatures().fit(without_country)])
    with pytest.raises(FeatureInputError, match="no fitted parts"):
        EngagementFeatures.merged([])


def test_combined_reports_add_up_to_the_report_of_all_leads() -> None:
    history = simulate(n_leads=300, seed=8)
    leads = history.leads.copy()
    leads.loc[[1, 2, 5], "country"] = "Atlantis"
    events = history.events.copy()
    events.loc[[0, 7, 9], "event_type"] = "carrier_pigeon"
    fitted = EngagementFeatures().fit(LeadBatch(history.leads, history.events))
    batch = LeadBatch(leads, events)
    whole = fitted.inspect(batch)
    combined = InputReport.combined([fitted.inspect(p) for p in _parts(batch, 3)])
    assert combined.messages() == whole.messages()
    assert combined.unseen_categories == {"country": {"Atlantis": 3}}
    assert combined.unknown_event_types == {"carrier_pigeon": 3}
    assert combined.n_leads == len(leads) and combined.n_events == len(events)
    assert combined.events_at_or_after_as_of == whole.events_at_or_after_as_of
