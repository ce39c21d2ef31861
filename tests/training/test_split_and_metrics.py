"""Unit tests of the split, the candidate scores and the evaluation metrics on tiny hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import contract as c
from features.contract import LeadBatch
from training.candidates import PointsWeights, points_score
from training.evaluate import expected_calibration_error, gains_table, top_share_metrics
from training.split import time_split


def _leads(n: int) -> pd.DataFrame:
    decided = pd.date_range("2025-01-01", periods=n, freq="D")
    return pd.DataFrame(
        {
            c.LEAD_ID: [f"L{i:03d}" for i in range(n)][::-1],  # ids run against time on purpose
            c.CREATED_AT: decided - pd.Timedelta(days=3),
            c.DECIDED_AT: decided,
            c.SOURCE: "referral",
        }
    )


def test_time_split_orders_by_decision_time() -> None:
    leads = _leads(100).sample(frac=1.0, random_state=0).reset_index(drop=True)
    y = (leads[c.DECIDED_AT].dt.day_of_year % 5 == 0).to_numpy(dtype=int)  # a win every fifth day
    split = time_split(leads, y)
    assert split.kind == "time"
    assert (len(split.train), len(split.val), len(split.test)) == (70, 10, 20)
    t = leads[c.DECIDED_AT].to_numpy()
    assert t[split.train].max() < t[split.val].min() <= t[split.val].max() < t[split.test].min()
    assert split.info["test"]["positive_rate"] == pytest.approx(y[split.test].mean())
    assert split.warning is None


def test_row_order_split_and_random_fallback() -> None:
    leads = _leads(100)
    leads[c.CREATED_AT] = pd.NaT
    leads[c.DECIDED_AT] = pd.NaT
    leads["row_order"] = np.arange(100)[::-1]
    y = np.zeros(100, dtype=int)
    y[::4] = 1
    split = time_split(leads, y, ordering="row")
    assert split.kind == "row"
    assert leads["row_order"].to_numpy()[split.test].min() >= 80
    fallback = time_split(leads, y, ordering="none", seed=1)
    assert fallback.kind == "random"
    assert fallback.warning is not None and "RANDOM" in fallback.warning
    # stratified: every part keeps the 25% positive rate
    for part in (fallback.train, fallback.val, fallback.test):
        assert y[part].mean() == pytest.approx(0.25, abs=0.05)
    # a time split with missing times falls back too, loudly
    assert time_split(leads, y, ordering="time").kind == "random"


def test_split_refuses_a_period_without_wins() -> None:
    y = np.zeros(100, dtype=int)
    y[:30] = 1  # all wins in the oldest period
    with pytest.raises(ValueError, match="no won leads"):
        time_split(_leads(100).iloc[::-1].reset_index(drop=True), y)


def test_points_score_counts_only_events_before_the_decision() -> None:
    leads = _leads(2)
    events = pd.DataFrame(
        {
            c.EVENT_LEAD_ID: [leads[c.LEAD_ID][0]] * 3 + [leads[c.LEAD_ID][1]],
            c.TS: [
                leads[c.DECIDED_AT][0] - pd.Timedelta(days=1),
                leads[c.DECIDED_AT][0] - pd.Timedelta(days=2),
                leads[c.DECIDED_AT][0] + pd.Timedelta(days=1),  # after the decision: ignored
                leads[c.DECIDED_AT][1] - pd.Timedelta(hours=1),
            ],
            c.EVENT_TYPE: ["demo_request", "page_visit", "contract_download", "whitepaper_download"],
            c.ASSET: [None, "page-1", "contract-1", "wp-1"],
        }
    )
    w = PointsWeights()
    score = points_score(LeadBatch(leads, events), w)
    src = w.per_source["referral"]
    assert score.tolist() == [src + 30 + 1, src + 5]


def test_ece_and_gains_on_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 0.99, 0.99])) == pytest.approx(0.005)
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.array([0.9, 0.9, 0.1, 0.1])) == pytest.approx(0.9)
    ids = np.array(["a", "b", "c", "d"])
    g = gains_table(y, np.array([0.1, 0.2, 0.9, 0.8]), ids, points=2)
    assert g["share_of_wins"].tolist() == [1.0, 1.0]
    assert g["lift"].tolist() == [2.0, 1.0]
    top = top_share_metrics(
        np.array([1] + [0] * 19), np.linspace(1, 0, 20), np.array(list("abcdefghijklmnopqrst")), None
    )
    assert top["close_rate_top5pct"] == 1.0
    assert top["closes_top10pct"] == 1.0
