"""The Dask engine against the single-process path on the same data (LocalCluster, 2 workers, 1 thread each):
the same features, a backtest AUC within 0.01, the same scores and the same handoff."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engines.dask_training import DaskTrainingSet
from engines.ranking import PartitionedRanking, open_batch, score_batch
from features import contract as c
from features.contract import LeadBatch
from features.engagement import EngagementFeatures
from handoff import hand_off, parse_capacity
from tests.engines.conftest import DaskRun, Partitioned
from training.pipeline import TrainingData, TrainOptions, TrainResult, closed_leads, train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_result(partitioned: Partitioned) -> TrainResult:
    """The single-process training on the same leads, with the command's default options (seed 7)."""
    history = partitioned.history
    return train(TrainingData(batch=LeadBatch(history.leads, history.events)), TrainOptions(seed=7))


def test_features_from_both_engines_are_identical(cluster: Any, partitioned: Partitioned) -> None:
    history = partitioned.history
    closed = closed_leads(history.leads)
    batch = LeadBatch(closed, history.events)
    local = EngagementFeatures().fit(batch)
    expected = local.transform(batch)

    tset = DaskTrainingSet(cluster, partitioned.data_dir)
    fitted, _ = tset.fit_features(EngagementFeatures())
    rows = np.arange(len(tset.closed))
    got = fitted.to_frame(pd.Index(tset.closed[c.LEAD_ID], name=c.LEAD_ID), tset.values(rows))

    assert fitted.feature_schema_ == local.feature_schema_  # same columns, same categories
    assert len(got) == len(expected) and got.index.is_unique
    pd.testing.assert_frame_equal(got.loc[expected.index], expected, check_exact=True)


def test_dask_trained_backtest_auc_is_within_001_of_the_local_one(local_result: TrainResult, dask_run: DaskRun) -> None:
    local, on_dask = local_result.metrics, dask_run.result["metrics"]
    auc_local = local["backtest"]["mean"]["roc_auc"]
    auc_dask = on_dask["backtest"]["mean"]["roc_auc"]
    assert auc_local > 0.7, auc_local
    assert abs(auc_dask - auc_local) <= 0.01, (auc_local, auc_dask)
    # The same recipe on the same leads: the same validation and newest (test) windows. The training window is
    # chosen by AUC and may flip between two near-equal ones, so the fit rows may differ.
    split_local = json.loads(json.dumps(local["split"], default=str))
    for part in ("validation", "test"):
        assert on_dask["split"][part] == split_local[part], part
    for key in ("leads", "events", "closed_leads", "won_leads", "open_leads"):
        assert on_dask["fingerprint"][key] == local["fingerprint"][key], key


def test_the_same_scores_give_the_same_handoff(
    cluster: Any, partitioned: Partitioned, local_result: TrainResult
) -> None:
    model = local_result.model
    history = partitioned.history
    batch = open_batch(history.leads, history.events)
    local_scored, local_report = score_batch(model, batch)

    ranking = PartitionedRanking(cluster, partitioned.data_dir, model)
    scored, warnings = ranking.score()
    scored = scored.set_index(c.LEAD_ID).loc[local_scored[c.LEAD_ID]].reset_index()
    pd.testing.assert_frame_equal(scored, local_scored, check_exact=True)
    assert warnings == local_report.messages()

    capacity = {"hours": float(local_scored["expected_hours"].sum() / 5)}
    expected = hand_off(local_scored, capacity).leads.set_index(c.LEAD_ID).sort_index()
    got = hand_off(scored.sample(frac=1.0, random_state=0), capacity).leads.set_index(c.LEAD_ID).sort_index()
    assert (got["stage"] == "sales_ready").sum() > 10
    pd.testing.assert_series_equal(got["stage"], expected["stage"])
    pd.testing.assert_series_equal(got["rank"], expected["rank"])

    reasons = ranking.reasons()
    from marketing.ranked_list import reasons_by_lead

    assert reasons == reasons_by_lead(model, batch)

    # Gathering only the shortlist: the same stages, ranks and summary for a fraction of the leads.
    small = parse_capacity({"hours": float(local_scored["expected_hours"].sum() / 40)})
    shortlisted, left_out, short_warnings = ranking.shortlist(small)
    assert 0 < len(shortlisted) < len(local_scored) / 2 and left_out == len(local_scored) - len(shortlisted)
    assert short_warnings == warnings
    everyone = hand_off(local_scored, small)
    short = hand_off(shortlisted, small, left_out=left_out)
    assert short.summary == everyone.summary
    expected = everyone.leads.set_index(c.LEAD_ID)
    got = short.leads.set_index(c.LEAD_ID)
    pd.testing.assert_series_equal(got["stage"], expected.loc[got.index, "stage"])
    sales = got.index[got["stage"] != "nurture"]  # nurture leads are ranked among the listed ones only
    pd.testing.assert_series_equal(got.loc[sales, "rank"], expected.loc[sales, "rank"])
    assert (expected.drop(got.index)["stage"] == "nurture").all()
    ids = frozenset(shortlisted[c.LEAD_ID].astype("str"))
    assert ranking.reasons(ids) == {i: r for i, r in reasons.items() if i in ids}
