"""Benchmark of the handoff policy: speed on a million leads, and the knapsack's gap to the exact optimum.

    .venv/bin/python bench/bench_handoff.py                    # full run (1,000,000 leads, 200 gap instances)
    .venv/bin/python bench/bench_handoff.py --leads 100000 --instances 40   # quick look

Speed: `hand_off` on N scored leads under an hours budget and with a 50-rep team (segments on a few countries,
lead caps on some reps), including validation, the 1.5x "next in line" run and the result frame. The peer,
measured in the same process, is the naive fixed-score policy: sort the frame by p_close and cut where the
cumulative hours pass the budget. Timings are best of `--repeat`.

Gap: random instances of 50-200 leads in two families ("skewed": model-like scores, loose budget; "tight":
closes nearly proportional to hours and room for only a few leads, where greedy does worst). The exact optimum
comes from scipy.optimize.milp (HiGHS, mip_rel_gap=0). Reports mean and max gap of the knapsack, and of plain
greedy-by-density-with-fill for comparison.

Team monotonicity: the team assignment is greedy, so more capacity can occasionally give fewer expected
closes; this counts how often and by how much on small random teams.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from handoff import hand_off, knapsack_select

COUNTRIES = np.array(["DE", "AT", "CH", "FR", "US", "UK", "NL", "ES", "IT", "SE"])


def scored_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lead_id": pd.array([f"L{i:08d}" for i in rng.permutation(n)], dtype="str"),
            "p_close": rng.beta(1.2, 6.0, n),
            "expected_hours": rng.lognormal(1.3, 0.8, n),
            "expected_days_to_close": rng.uniform(5, 120, n),
            "deal_value": rng.lognormal(9, 1, n),
            "country": pd.array(COUNTRIES[rng.integers(0, len(COUNTRIES), n)], dtype="str"),
        }
    )


def team_spec(n_reps: int, rep_hours: float) -> dict[str, object]:
    regions = [["DE", "AT", "CH"], ["FR"], ["US", "UK"], ["NL"]]
    reps: list[dict[str, object]] = []
    for i in range(n_reps):
        rep: dict[str, object] = {"name": f"rep{i:02d}", "hours": rep_hours * (0.75 + 0.5 * (i % 5) / 4)}
        if i < 20:
            rep["segments"] = {"country": regions[i % len(regions)]}
        if i % 3 == 0:
            rep["max_leads"] = int(rep_hours / 4)
        reps.append(rep)
    return {"team": reps}


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def naive_policy(scored: pd.DataFrame, hours: float) -> pd.DataFrame:
    ranked = scored.sort_values("p_close", ascending=False)
    return ranked[ranked["expected_hours"].cumsum() <= hours]


@contextmanager
def quiet_stdout() -> Iterator[None]:
    # HiGHS prints progress lines from C code straight to file descriptor 1.
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def exact_optimum(value: np.ndarray, weight: np.ndarray, budget: float) -> float:
    from scipy.optimize import Bounds, LinearConstraint, milp

    with quiet_stdout():
        res = milp(
            -value,
            constraints=LinearConstraint(weight[None, :], -np.inf, budget),
            integrality=np.ones(len(value)),
            bounds=Bounds(0, 1),
            options={"mip_rel_gap": 0.0, "disp": False},
        )
    chosen = res.x > 0.5
    assert weight[chosen].sum() <= budget * (1 + 1e-9)
    return float(value[chosen].sum())


def greedy_fill(value: np.ndarray, weight: np.ndarray, budget: float) -> float:
    left, total = budget, 0.0
    for i in np.argsort(-value / weight, kind="stable"):
        if weight[i] <= left:
            left -= weight[i]
            total += value[i]
    return total


def gap_instance(family: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    n = int(rng.integers(50, 201))
    if family == "skewed":
        value = rng.beta(1.2, 6.0, n) + 1e-4
        weight = rng.lognormal(1.5, 0.8, n)
        budget = float(rng.uniform(0.03, 0.6) * weight.sum())
    else:
        weight = rng.uniform(5, 40, n)
        value = weight * 0.02 * rng.uniform(0.9, 1.1, n)
        budget = float(rng.uniform(40, 160))
    return value, weight, budget


def gap_study(instances: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"\n## Gap to the exact optimum ({instances} instances per family, 50-200 leads, seed {seed})")
    print("| family | mean gap | max gap | exact on | greedy mean gap | greedy max gap | knapsack ms / inst |")
    print("|---|---|---|---|---|---|---|")
    for family in ("skewed", "tight"):
        gaps, greedy_gaps, secs = [], [], 0.0
        for _ in range(instances):
            value, weight, budget = gap_instance(family, rng)
            t = time.perf_counter()
            take = knapsack_select(value, weight, budget)
            secs += time.perf_counter() - t
            assert weight[take].sum() <= budget
            opt = exact_optimum(value, weight, budget)
            gaps.append(max(0.0, (opt - value[take].sum()) / opt))
            greedy_gaps.append(max(0.0, (opt - greedy_fill(value, weight, budget)) / opt))
        g, gg = np.array(gaps), np.array(greedy_gaps)
        print(
            f"| {family} | {g.mean():.5%} | {g.max():.5%} | {(g < 1e-9).mean():.1%} | "
            f"{gg.mean():.3%} | {gg.max():.3%} | {1000 * secs / instances:.1f} |"
        )


def speed(n: int, repeat: int) -> None:
    scored = scored_frame(n)
    budget = 0.05 * float(np.maximum(scored["expected_hours"], 0.1).sum())
    team = team_spec(50, rep_hours=budget / 50)
    print(f"## Speed: {n:,} scored leads, best of {repeat} (load average {os.getloadavg()[0]:.1f})")
    print("| case | seconds | leads handed off | ratio to naive sort-and-cut peer |")
    print("|---|---|---|---|")
    t_peer, _ = best_of(repeat, lambda: naive_policy(scored, budget))
    print(f"| peer: sort by p_close, cut at {budget:,.0f} h | {t_peer:.2f} | | 1.0 |")
    for label, capacity in (
        (f"hours = {budget:,.0f}", {"hours": budget}),
        ("50-rep team, 20 with country segments, 17 capped", team),
        ("max_leads = 50,000", {"max_leads": 50_000}),
    ):
        secs, res = best_of(repeat, lambda capacity=capacity: hand_off(scored, capacity))  # type: ignore[misc]
        summary = res.summary  # type: ignore[attr-defined]
        print(f"| {label} | {secs:.2f} | {summary.leads_handed_off:,} | {secs / t_peer:.1f} |")


def team_monotonicity(instances: int, seed: int) -> None:
    """How often does a larger team capacity (every rep's hours x f) give fewer expected closes?"""
    rng = np.random.default_rng(seed)
    factors = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0)
    drops: list[float] = []
    steps = 0
    for _ in range(instances):
        n = int(rng.integers(5, 200))
        scored = pd.DataFrame(
            {
                "lead_id": np.arange(n),
                "p_close": rng.beta(1, 4, n),
                "expected_hours": rng.lognormal(1, 1, n),
                "country": rng.choice(["DE", "FR", "US"], n),
            }
        )
        hours = rng.uniform(1, 30, 3)
        extra: list[dict[str, object]] = [
            {"segments": {"country": ["DE"]}},
            {"max_leads": int(rng.integers(1, 6))},
            {},
        ]
        closes = [
            hand_off(
                scored,
                {"team": [{"name": f"rep{i}", "hours": float(h * f), **extra[i]} for i, h in enumerate(hours)]},
            ).summary.expected_closes
            for f in factors
        ]
        for before, after in itertools.pairwise(closes):
            steps += 1
            if after < before - 1e-9:
                drops.append((after - before) / before)
    print(f"\n## Team capacity monotonicity ({instances} random 3-rep teams, hours x {factors}, seed {seed})")
    worst = f"{min(drops):.1%}" if drops else "none"
    median = f"{float(np.median(drops)):.1%}" if drops else "none"
    print(f"steps with fewer expected closes: {len(drops)} of {steps}; median drop {median}, worst {worst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--instances", type=int, default=200, help="gap-study instances per family")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    speed(args.leads, args.repeat)
    gap_study(args.instances, args.seed)
    team_monotonicity(300, args.seed)


if __name__ == "__main__":
    main()
