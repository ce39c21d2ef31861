from __future__ import annotations

import itertools

import numpy as np
import pytest

from handoff import knapsack_select
from handoff.knapsack import KnapsackPlan


def exact_integer_knapsack(value: np.ndarray, weight: np.ndarray, budget: int) -> float:
    """Textbook DP over integer capacities (exact), one vectorised row per item."""
    best = np.zeros(budget + 1)
    for v, w in zip(value, weight, strict=True):
        w = int(w)
        if w <= budget:
            best[w:] = np.maximum(best[w:], best[: budget + 1 - w] + v)
    return float(best[budget])


def instance(family: str, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 201))
    if family == "skewed":  # like model output: most leads unlikely, hours lognormal, a loose budget
        value = rng.beta(1.2, 6.0, n) + 1e-4
        weight = np.maximum(1, np.round(rng.lognormal(1.5, 0.8, n)))
        budget = int(rng.uniform(0.05, 0.6) * weight.sum())
    else:  # "tight": closes nearly proportional to hours and room for only a few leads; greedy loses up to 9%
        weight = rng.integers(5, 41, n).astype(float)
        value = weight * 0.02 * rng.uniform(0.9, 1.1, n)
        budget = int(rng.integers(40, 160))
    return value, weight.astype(float), budget


@pytest.mark.parametrize("family", ["skewed", "tight"])
@pytest.mark.parametrize("seed", range(6))
def test_gap_to_exact_optimum_is_below_half_a_percent(family: str, seed: int) -> None:
    value, weight, budget = instance(family, seed)
    take = knapsack_select(value, weight, budget)
    assert weight[take].sum() <= budget
    optimum = exact_integer_knapsack(value, weight, budget)
    gap = (optimum - value[take].sum()) / optimum
    assert gap <= 0.005


def test_edges() -> None:
    value = np.array([0.5, 0.4, 0.3])
    weight = np.array([2.0, 3.0, 4.0])
    assert knapsack_select(value, weight, 100).all()
    assert not knapsack_select(value, weight, 0).any()
    assert not knapsack_select(value, weight, 1.5).any()
    assert knapsack_select(value, weight, 4.0).tolist() == [False, False, True] or knapsack_select(
        value, weight, 4.0
    ).tolist() == [True, False, False]
    assert value[knapsack_select(value, weight, 5.0)].sum() == pytest.approx(0.9)
    assert not knapsack_select(np.zeros(0), np.zeros(0), 3).any()
    with pytest.raises(ValueError, match="positive value"):
        knapsack_select(np.array([0.0, 1.0]), np.array([1.0, 1.0]), 1)


def test_fill_takes_small_items_below_the_core() -> None:
    # 100 dense 10-hour items, then many weak 0.1-hour ones far below the core: 50 big items use 500 of the
    # 505 hours and the fill step spends the last 5 hours on 50 small ones.
    value = np.concatenate([np.full(100, 1.0), np.full(1000, 0.001)])
    weight = np.concatenate([np.full(100, 10.0), np.full(1000, 0.1)])
    take = KnapsackPlan(value, weight).select(505.0)
    assert take[:100].sum() == 50
    assert take[100:].sum() == 50
    assert weight[take].sum() == pytest.approx(505.0)


def test_plan_answers_many_budgets_monotonically() -> None:
    rng = np.random.default_rng(2)
    value = rng.beta(1, 5, 5000) + 1e-6
    weight = rng.lognormal(1, 1, 5000)
    plan = KnapsackPlan(value, weight)
    budgets = np.linspace(0, weight.sum(), 12)
    totals = [value[plan.select(b)].sum() for b in budgets]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(totals))
    assert totals[-1] == pytest.approx(value.sum())
