"""LightGBM's single-row fast prediction against `Booster.predict`, its guards, and its use by the fast path."""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import LeadBatch
from serving import single_row as sr
from serving.scoring import FastPath, Predictor
from tests.serving.conftest import Trained
from tests.serving.tiny_boosters import BOOSTERS, N_COLUMNS, edge_rows, frame, train


@pytest.mark.parametrize("name", list(BOOSTERS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_one_row_gives_what_predict_gives(boosters: dict[str, lgb.Booster], name: str, data: Any) -> None:
    booster = boosters[name]
    row = np.array(data.draw(edge_rows(booster)), dtype=np.float64)
    for kind, contrib in (("normal", False), ("contrib", True)):
        single = sr.single_row(booster, kind)
        assert single is not None
        expected = booster.predict(row[None, :], pred_contrib=contrib, num_threads=1)
        got = single(row)
        assert got.shape == (1, N_COLUMNS + 1 if contrib else 1)
        np.testing.assert_array_equal(got.reshape(expected.shape), expected)


def test_the_iterations_are_those_predict_uses() -> None:
    X, _ = frame(8)
    booster = train({}, seed=4, rounds=12)
    booster.best_iteration = 5  # as early stopping leaves it: predict uses the first 5 trees
    single = sr.single_row(booster, "normal")
    assert single is not None
    for row in X[:20]:
        assert single(row)[0, 0] == booster.predict(row[None, :])[0]
    assert single(X[0])[0, 0] != booster.predict(X[:1], num_iteration=-1)[0]  # all 12 trees differ


def test_a_row_of_the_wrong_shape_or_type_is_refused() -> None:
    single = sr.single_row(train({}, rounds=2), "normal")
    assert single is not None
    for bad in (np.zeros(N_COLUMNS - 1), np.zeros((1, N_COLUMNS)), np.zeros(N_COLUMNS, dtype=np.float32)):
        with pytest.raises(ValueError, match=f"expected {N_COLUMNS} contiguous float64 values"):
            single(bad)
    with pytest.raises(ValueError):
        single(np.zeros(2 * N_COLUMNS)[::2])  # not contiguous


def test_without_the_c_api_there_is_no_single_row_predictor(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class OldLibrary:  # a LightGBM without the fast single-row functions
        pass

    booster = train({}, rounds=2)
    monkeypatch.setattr(lgb.basic, "_LIB", OldLibrary())
    with caplog.at_level(logging.INFO, logger="serving.single_row"):
        assert sr.single_row(booster, "contrib") is None
    assert "single-row prediction unavailable (AttributeError" in caplog.text


# --- in the fast path ----------------------------------------------------------------------------------------


@pytest.mark.integration
def test_one_lead_requests_use_it_and_agree_with_the_scorer(
    instance: Any, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = instance.engine.predictor
    assert isinstance(fast, FastPath)
    assert sorted(kind for _, kind in fast._single) == ["contrib", "normal", "normal"]
    calls = []
    for key, single in list(fast._single.items()):
        monkeypatch.setitem(fast._single, key, lambda row, single=single: calls.append(1) or single(row))
    leads = trained.history.leads.sample(40, random_state=13).reset_index(drop=True)
    scorer = fast.scorer
    batch = LeadBatch(leads, trained.history.events)
    reference = Predictor(scorer, fast.columns).predict(scorer.transform(batch))
    values = scorer.features.transform_columns(scorer.features.columns_of(batch)[1])
    for i in range(len(leads)):
        got = fast.predict_values(values[:, [i]])
        for name in ("p_close", "expected_hours", "expected_days", "contributions"):
            np.testing.assert_allclose(
                getattr(got, name), getattr(reference, name)[i : i + 1], rtol=0, atol=1e-9, err_msg=name
            )
    assert len(calls) == 3 * len(leads)
    fast.predict_values(values[:, :2])  # two leads: Booster.predict
    assert len(calls) == 3 * len(leads)


@pytest.mark.integration
def test_a_single_row_predictor_that_disagrees_sends_the_engine_to_the_scorer(
    instance: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = sr.SingleRow.__call__

    def off_by_a_little(self: sr.SingleRow, row: np.ndarray) -> np.ndarray:
        return real(self, row) + 1e-6

    monkeypatch.setattr(sr.SingleRow, "__call__", off_by_a_little)
    with caplog.at_level(logging.WARNING, logger="serving.scoring"):
        predictor = FastPath.build(instance.engine.scorer)
    assert not isinstance(predictor, FastPath)
    assert "disagrees with the scorer" in caplog.text
