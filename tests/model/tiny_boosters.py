"""Tiny LightGBM boosters trained here on random frames (NaNs, zeros, negative values, categorical features, both
ways of treating missing values), and values that sit on their splits' edges: what the tests of the code that
reads LightGBM models directly (`serving.contributions`, `serving.single_row`) compare against LightGBM."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from hypothesis import strategies as st

from model._patterns import K_ZERO

N_COLUMNS = 5
CATEGORICAL = [3, 4]


def frame(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.empty((n, N_COLUMNS))
    X[:, 0] = rng.normal(size=n)  # negative and positive, never missing
    X[:, 1] = np.where(rng.random(n) < 0.2, np.nan, rng.exponential(2.0, n))  # NaN as missing
    X[:, 2] = np.where(rng.random(n) < 0.3, 0.0, rng.integers(-3, 10, n))  # many zeros
    X[:, 3] = np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 9, n))  # a category, sometimes missing
    X[:, 4] = rng.integers(0, 3, n)  # few categories: one-vs-rest splits
    signal = (
        X[:, 0]
        + 0.4 * np.nan_to_num(X[:, 1], nan=3.0)
        - (X[:, 2] == 0)
        + 1.5 * np.isin(X[:, 3], [1, 4, 7])
        - 0.8 * (X[:, 4] == 2)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(signal - 1.0)))).astype(float)
    return X, y


def train(params: dict[str, Any], seed: int = 0, rounds: int = 15) -> lgb.Booster:
    X, y = frame(seed)
    base = {
        "objective": "binary",
        "num_leaves": 7,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": 4,
        "learning_rate": 0.3,
        "num_threads": 1,
        "deterministic": True,
        "seed": seed,
        "verbose": -1,
    }
    data = lgb.Dataset(X, y, categorical_feature=CATEGORICAL, params={"verbose": -1, **params})
    return lgb.train({**base, **params}, data, num_boost_round=rounds)


BOOSTERS = {
    "nan-missing": {},
    "zero-as-missing": {"zero_as_missing": True},
    "wide-regression": {"objective": "regression", "num_leaves": 31, "min_data_in_leaf": 3},
    "no-missing": {"use_missing": False},
}


def splits(booster: lgb.Booster) -> list[dict[str, Any]]:
    found = []
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            found.append(node)
            stack += [node["left_child"], node["right_child"]]
    return found


def value_pool(booster: lgb.Booster) -> list[float]:
    pool = [0.0, -0.0, np.nan, K_ZERO, -K_ZERO, 1e-40, -1.0, -0.5, 0.5, 2.0**31, np.inf, -np.inf]
    pool += [float(c) for c in range(-1, 12)]  # every category code, -1 (missing) and unseen ones
    for split in splits(booster):
        if split["decision_type"] == "<=":
            thr = float(split["threshold"])
            pool += [thr, float(np.nextafter(thr, np.inf)), float(np.nextafter(thr, -np.inf))]
    return pool


def edge_rows(booster: lgb.Booster) -> st.SearchStrategy[tuple[float, ...]]:
    """Rows whose values are drawn from `value_pool(booster)` or anywhere in [-20, 20]."""
    value = st.sampled_from(value_pool(booster)) | st.floats(-20, 20)
    return st.tuples(*[value] * N_COLUMNS)
