"""Per-pattern contributions against LightGBM's own pred_contrib on the tiny boosters of `tiny_boosters` (every
kind of split), and the check that would catch a difference."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import _patterns as patterns_module
from model._patterns import PatternContributions, UnsupportedBooster
from tests.model.tiny_boosters import BOOSTERS, N_COLUMNS, edge_rows, frame, splits, train


def test_the_boosters_cover_every_kind_of_split(boosters: dict[str, lgb.Booster]) -> None:
    # Otherwise the parity tests below would not test what they claim to.
    kinds = {(s["decision_type"], s["missing_type"]) for b in boosters.values() for s in splits(b)}
    assert {("<=", "None"), ("<=", "Zero"), ("<=", "NaN"), ("==", "None")} <= kinds, kinds
    plans = PatternContributions(boosters["wide-regression"])._plans
    assert max(plan.bits for plan in plans) > patterns_module._TABLE_NODES  # the sorting way of grouping patterns too


@pytest.mark.parametrize("name", list(BOOSTERS))
def test_the_probe_check_passes_and_the_leaves_are_lightgbms(boosters: dict[str, lgb.Booster], name: str) -> None:
    booster = boosters[name]
    patterns = PatternContributions(booster)
    assert patterns.mismatch() is None
    X = patterns.probe_matrix()
    # The probe holds every threshold, its neighbouring doubles, NaN, 0 and every category code.
    for split in splits(booster):
        column = X[:, split["split_feature"]]
        if split["decision_type"] == "<=":
            thr = float(split["threshold"])
            assert {thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf)} <= set(column.tolist())
        else:
            assert {float(c) for c in str(split["threshold"]).split("||")} <= set(column.tolist())
        assert np.isnan(column).any() and (column == 0).any() and (column < 0).any()
    np.testing.assert_array_equal(patterns.leaves(X), booster.predict(X, pred_leaf=True))
    np.testing.assert_allclose(patterns(X), booster.predict(X, pred_contrib=True), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(BOOSTERS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_parity_with_pred_contrib_on_random_rows(boosters: dict[str, lgb.Booster], name: str, data: Any) -> None:
    booster = boosters[name]
    rows = data.draw(st.lists(edge_rows(booster), min_size=1, max_size=60))
    X = np.array(rows, dtype=np.float64)
    expected = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(PatternContributions(booster)(X), expected, rtol=0, atol=1e-9)


def test_the_iterations_are_those_predict_uses() -> None:
    X, _ = frame(7)
    booster = train({}, seed=3, rounds=12)
    booster.best_iteration = 5  # as early stopping leaves it: predict uses the first 5 trees
    patterns = PatternContributions(booster)
    assert patterns.iterations == 5
    np.testing.assert_allclose(patterns(X), booster.predict(X, pred_contrib=True), rtol=0, atol=1e-9)


def test_no_rows_and_a_wrong_width() -> None:
    booster = train({}, rounds=3)
    patterns = PatternContributions(booster)
    assert patterns(np.empty((0, N_COLUMNS))).shape == (0, N_COLUMNS + 1)
    with pytest.raises(ValueError, match="5 columns"):
        patterns(np.zeros((2, 4)))


def test_unsupported_boosters_are_refused() -> None:
    X, y = frame(1)
    multiclass = lgb.train(
        {"objective": "multiclass", "num_class": 3, "num_leaves": 4, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, (X[:, 0] > 0).astype(int) + (X[:, 0] > 1)),
        num_boost_round=2,
    )
    linear = lgb.train(
        {"objective": "regression", "linear_tree": True, "num_leaves": 4, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X[:, [0, 2]], y),
        num_boost_round=2,
    )
    for booster, why in ((multiclass, "multiclass"), (linear, "linear trees")):
        with pytest.raises(UnsupportedBooster, match=why):
            PatternContributions(booster)


def test_a_wrong_decision_is_caught_by_the_check(
    boosters: dict[str, lgb.Booster], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check the suite runs against LightGBM must be able to fail: a decision sent the wrong way shows.
    goes_left = patterns_module._Feature.goes_left

    def wrong_on_nan(self: Any, node: Any) -> np.ndarray:
        out = goes_left(self, node)
        out[-1] = not out[-1]  # NaN (numerical) or an unknown code (categorical) sent the other way
        return out

    monkeypatch.setattr(patterns_module._Feature, "goes_left", wrong_on_nan)
    problem = PatternContributions(boosters["nan-missing"]).mismatch()
    assert problem is not None and "other leaves than LightGBM" in problem


class _Tampered:
    """A booster whose `predict` answers through `tamper(kwargs, predict)`."""

    def __init__(self, booster: lgb.Booster, tamper: Any) -> None:
        self._booster = booster
        self._tamper = tamper

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)

    def predict(self, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self._tamper(kwargs, lambda: self._booster.predict(X, **kwargs))


def test_contributions_slightly_off_are_caught_by_the_check(boosters: dict[str, lgb.Booster]) -> None:
    def slightly_off_per_tree(kwargs: dict[str, Any], predict: Any) -> np.ndarray:
        # The same leaves, so only the comparison of contributions can tell.
        return predict() + 1e-6 if "start_iteration" in kwargs else predict()

    problem = PatternContributions(_Tampered(boosters["zero-as-missing"], slightly_off_per_tree)).mismatch()
    assert problem is not None and "differs from LightGBM's pred_contrib" in problem
