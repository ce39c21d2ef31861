"""LightGBM's single-row fast prediction against `Booster.predict`, and its guards."""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import _single_row as sr
from tests.model.tiny_boosters import BOOSTERS, N_COLUMNS, edge_rows, frame, train


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
    with caplog.at_level(logging.INFO, logger="model._single_row"):
        assert sr.single_row(booster, "contrib") is None
    assert "single-row prediction unavailable (AttributeError" in caplog.text
