"""Training benchmarks: quality bars on simulated history, the bank-marketing export, and time/memory at scale.

    uv run python bench/bench_train.py quality --leads 100000     # candidates vs oracle on simulated history
    uv run python bench/bench_train.py bank                       # ../shared/data/bank-marketing via its spec
    uv run python bench/bench_train.py scale --leads 1000000      # whole `leadrank train`: wall time, peak RSS

`scale` runs `leadrank simulate` and then `leadrank train` as child processes and reads their peak RSS from the
kernel (getrusage of the children), so the numbers are those of the real command, MLflow logging included. As a
peer on the same machine in the same session it also times one plain `lightgbm.train` on the same feature
matrix with default parameters, so the ratio says how much the pipeline costs beyond one model fit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (GiB) and CPU seconds (user + system) of a child command. On a busy machine the CPU
    time says what the wall time cannot: on an idle one the command takes at least half of it (two cores)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of children is the max over all children so far: run the big one last / in its own process.
    return wall, max(after.ru_maxrss, before.ru_maxrss) / 1024**2, cpu


def quality(leads: int, seed: int) -> dict[str, object]:
    import pandas as pd

    from simulator import simulate, write_history
    from training.pipeline import TrainOptions, load_training_data, train

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        write_history(simulate(n_leads=leads, seed=seed), data_dir)
        t0 = time.perf_counter()
        res = train(load_training_data(data_dir=data_dir), TrainOptions(seed=seed, register=False))
        secs = time.perf_counter() - t0
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(res.summary.round(4).to_string())
    m = res.metrics
    cands = m["candidates"]
    lgb = cands["lightgbm"]
    base = {k: v for k, v in cands.items() if k != "lightgbm"}
    out = {
        "leads": leads,
        "train_seconds": round(secs, 1),
        "lightgbm_auc": lgb["roc_auc"],
        "best_baseline_auc": max(v["roc_auc"] for v in base.values()),
        "lightgbm_true_closes_at_capacity": lgb["true_expected_closes_at_capacity"],
        "best_baseline_true_closes_at_capacity": max(v["true_expected_closes_at_capacity"] for v in base.values()),
        "lightgbm_realised_closes_at_capacity": lgb["expected_closes_at_capacity"],
        "best_baseline_realised_closes_at_capacity": max(v["expected_closes_at_capacity"] for v in base.values()),
        "test_ece": m["test_ece"],
        "top10pct_vs_oracle": m["test_true_closes_top10pct_vs_oracle"],
        "at_capacity_vs_oracle": m["test_true_closes_at_capacity_vs_oracle"],
        "calibration": m["calibration"]["method"],
    }
    return out


def bank() -> dict[str, object]:
    from training.pipeline import TrainOptions, load_training_data, train

    spec = REPO / "examples" / "bank-marketing.toml"
    res = train(load_training_data(spec=spec), TrainOptions(seed=7, register=False))
    print(res.summary.round(4).to_string())
    m = res.metrics
    return {
        "split": m["split"]["kind"],
        "test_rows": m["split"]["test"]["rows"],
        "test_positive_rate": m["split"]["test"]["positive_rate"],
        "lightgbm_auc": m["test_roc_auc"],
        "lightgbm_lift_top10pct": m["test_lift_top10pct"],
        "logistic_auc": m["candidates"]["logistic"]["roc_auc"],
        "naive_bayes_auc": m["candidates"]["naive_bayes"]["roc_auc"],
        "test_ece": m["test_ece"],
    }


def scale(leads: int, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        leadrank = [sys.executable, "-m", "leadrank"]
        simulate = [*leadrank, "simulate", "--n-leads", str(leads), "--seed", str(seed), "--out-dir", str(data_dir)]
        sim_wall, _, _ = _run(simulate)
        env = {**os.environ, "LEADRANK_HOME": tmp}
        env.pop("MLFLOW_TRACKING_URI", None)
        metrics = Path(tmp) / "metrics.json"
        train_wall, peak, train_cpu = _run(
            [*leadrank, "train", "--data", str(data_dir), "--seed", str(seed), "--metrics-out", str(metrics)],
            env=env,
        )
        m = json.loads(metrics.read_text())
        peer = _peer_lightgbm(data_dir)
    return {
        "leads": leads,
        "simulate_seconds": round(sim_wall, 1),
        "train_seconds": round(train_wall, 1),
        "train_peak_rss_gib": round(peak, 2),
        "train_cpu_seconds": round(train_cpu, 1),
        "load_average_after": Path("/proc/loadavg").read_text().split()[:3],
        "peer_plain_lightgbm_fit_seconds": round(peer, 1),
        "train_vs_peer_ratio": round(train_wall / peer, 2),
        "test_roc_auc": m["test_roc_auc"],
    }


def _peer_lightgbm(data_dir: Path) -> float:
    """One `lightgbm.train` with default parameters (100 rounds) on the same closed leads' features."""
    import lightgbm as lgb

    from features.contract import LeadBatch
    from features.engagement import EngagementFeatures
    from features.io import load_history_dir

    hist = load_history_dir(data_dir)
    closed = hist.leads[hist.leads["outcome"].notna()].reset_index(drop=True)
    batch = LeadBatch(closed, hist.events)
    X = EngagementFeatures().fit(batch).transform(batch)
    y = (closed["outcome"] == "won").to_numpy(dtype=int)
    t0 = time.perf_counter()
    lgb.train({"objective": "binary", "verbose": -1, "num_threads": 2}, lgb.Dataset(X, y))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["quality", "bank", "scale"])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.mode == "quality":
        out = quality(args.leads, args.seed)
    elif args.mode == "bank":
        out = bank()
    else:
        out = scale(args.leads, args.seed)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
