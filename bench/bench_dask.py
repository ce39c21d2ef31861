"""Training and batch ranking on Dask next to the single-process path, on the same simulated leads.

    .venv/bin/python bench/bench_dask.py --leads 1000000 --data /tmp/bench-dask-1m [--workers 2] [--skip-local]

1. Simulates the leads as a partitioned data set on a LocalCluster (`simulate --engine dask`), unless `--data`
   already holds one.
2. Dask: `engines.dask_training.train_dask` (the whole recipe: features per partition, lightgbm.dask fits,
   backtest, refit; no MLflow) and ranking (`PartitionedRanking.score` + `hand_off`, then the reasons), timed
   step by step, with every worker task recorded (Dask's task stream) to get the per-partition costs.
3. Local: the same partitions loaded and concatenated in a fresh process, `training.pipeline.train` and
   `score_batch` + `hand_off`, timed, with that process's peak memory.

Peak memory is each process's peak resident set (`ru_maxrss`): the client process, every worker, and the local
process. The estimate for more workers takes the measured per-partition task seconds (Dask's task stream) as work that
divides over workers, the wall time of the training steps that fit LightGBM as dividing over workers too
(data-parallel and compute-bound: optimistic, it leaves out the per-round histogram exchange, which grows with
the number of workers), and the rest of the wall time (the client's own work on the gathered windows:
calibration, evaluation, baselines, ordering) as not dividing at all.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def _capacity(scored: Any) -> dict[str, float]:
    # A week's selling hours for a team that can work about 1% of the open leads' expected hours.
    return {"hours": float(scored["expected_hours"].sum() / 100)}


def run_dask(data: Path, workers: int, save: Any = None) -> dict[str, Any]:
    """The Dask run's numbers; `save(out)` is called after each stage, so that a late failure keeps the rest."""
    from dask.distributed import get_task_stream

    from engines.cluster import dask_client
    from engines.dask_training import train_dask
    from engines.ranking import PartitionedRanking
    from handoff import hand_off, parse_capacity
    from training.pipeline import TrainOptions

    out: dict[str, Any] = {"load_start": _loadavg()}
    steps: list[tuple[str, float]] = []

    def say(message: str) -> None:
        steps.append((message, time.perf_counter()))
        print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)

    t0 = time.perf_counter()
    with dask_client(n_workers=workers, threads_per_worker=1) as client:
        out["cluster_start_s"] = round(time.perf_counter() - t0, 1)
        with get_task_stream(client) as train_stream:
            t = time.perf_counter()
            result, _ = train_dask(client, data, TrainOptions(), progress=say)
            out["train_s"] = round(time.perf_counter() - t, 1)
        steps.append(("end", time.perf_counter()))
        out["train_steps_s"] = {
            steps[i][0][:60]: round(steps[i + 1][1] - steps[i][1], 1) for i in range(len(steps) - 1)
        }
        out["backtest_mean_auc"] = result.metrics["backtest"]["mean"]["roc_auc"]
        out["test_auc"] = result.metrics["test_roc_auc"]
        out["closed_leads"] = result.metrics["fingerprint"]["closed_leads"]
        out["train_tasks"] = _task_costs(train_stream.data, out["train_s"], workers)
        out["worker_peak_rss_gib_after_training"] = _worker_peaks(client)
        if save is not None:
            save(out)
        model = result.model
        del result
        with get_task_stream(client) as rank_stream:
            t = time.perf_counter()
            ranking = PartitionedRanking(client, data, model)
            scored, _ = ranking.score()
            out["rank_score_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            handed = hand_off(scored, _capacity(scored))
            out["rank_handoff_s"] = round(time.perf_counter() - t, 1)
            out["handed_off"] = int((handed.leads["stage"] == "sales_ready").sum())
            out["open_leads"] = len(scored)
            t = time.perf_counter()
            reasons = ranking.reasons()
            out["rank_reasons_s"] = round(time.perf_counter() - t, 1)
            out["reasons_leads"] = len(reasons)
            if save is not None:
                save(out)
            # The same handoff from the shortlist (`rank --engine dask`'s path): only the leads that can reach
            # sales are gathered and explained (the scored tables are already on the workers, as above).
            t = time.perf_counter()
            shortlisted, left_out, _ = ranking.shortlist(parse_capacity(_capacity(scored)))
            out["shortlist_s"] = round(time.perf_counter() - t, 1)
            out["shortlisted"] = len(shortlisted)
            t = time.perf_counter()
            short = hand_off(shortlisted, _capacity(scored), left_out=left_out)
            out["shortlist_handoff_s"] = round(time.perf_counter() - t, 2)
            out["shortlist_same_summary"] = short.summary == handed.summary
            t = time.perf_counter()
            listed_reasons = ranking.reasons(frozenset(shortlisted["lead_id"].astype("str")))
            out["shortlist_reasons_s"] = round(time.perf_counter() - t, 1)
            out["shortlist_reasons_leads"] = len(listed_reasons)
        out["rank_tasks"] = _task_costs(rank_stream.data, out["rank_score_s"] + out["rank_reasons_s"], workers)
        out["worker_peak_rss_gib"] = _worker_peaks(client)
        out["partitions"] = ranking.n_partitions
    out["client_peak_rss_gib"] = round(_peak_rss_gib(), 2)
    out["load_end"] = _loadavg()
    return out


def _worker_peaks(client: Any) -> dict[str, float]:
    return {w.rsplit(":", 1)[-1]: round(v, 2) for w, v in client.run(_peak_rss_gib).items()}


def _task_costs(stream: list[dict[str, Any]], wall: float, workers: int) -> dict[str, Any]:
    """Per task kind: count, total and mean compute seconds, from Dask's task stream."""
    per: dict[str, list[float]] = defaultdict(list)
    intervals = []
    for task in stream:
        compute = [s for s in task.get("startstops", []) if s["action"] == "compute"]
        for s in compute:
            per[task["key"][0] if isinstance(task["key"], tuple) else str(task["key"]).rsplit("-", 1)[0]].append(
                s["stop"] - s["start"]
            )
            intervals.append((s["start"], s["stop"]))
    kinds = {
        k.split("-")[0] if "-" in k else k: {
            "n": len(v),
            "total_s": round(sum(v), 2),
            "mean_s": round(sum(v) / len(v), 3),
        }
        for k, v in sorted(per.items(), key=lambda kv: -sum(kv[1]))
    }
    busy = _union(intervals)
    return {"kinds": kinds, "worker_busy_s": round(busy, 1), "client_only_s": round(max(wall - busy, 0.0), 1)}


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


# The training steps whose time is LightGBM fitting on the workers (lightgbm.dask), by their progress message.
_LIGHTGBM_STEPS = ("[3/7]", "      window", "[5/7]", "[7/7]")


def estimate(dask: dict[str, Any], measured_workers: int) -> dict[str, float]:
    """Train + rank seconds on W workers from the measured split (see the module docstring): the per-partition
    tasks' compute seconds divide over W; the LightGBM steps' wall time divides over W relative to the measured
    workers; the rest of the wall time (the client's own work on gathered windows) does not divide."""
    partition = sum(v["total_s"] for v in dask["train_tasks"]["kinds"].values())
    partition += sum(v["total_s"] for v in dask["rank_tasks"]["kinds"].values())
    lgbm = sum(s for step, s in dask["train_steps_s"].items() if step.startswith(_LIGHTGBM_STEPS))
    total = dask["train_s"] + dask["rank_score_s"] + dask["rank_handoff_s"] + dask["rank_reasons_s"]
    client = max(total - lgbm - partition / measured_workers, 0.0)
    counts = (measured_workers, 4, 16, 64)
    return {f"{w}_workers_s": round(client + partition / w + lgbm * measured_workers / w) for w in counts} | {
        "client_only_s": round(client, 1),
        "partition_task_s": round(partition, 1),
        "lightgbm_steps_wall_s": round(lgbm, 1),
    }


LOCAL = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
import pandas as pd
from engines.partitioned import load_partition, partitions
from engines.ranking import open_leads, score_batch
from features.contract import LeadBatch
from handoff import hand_off
from training.pipeline import TrainingData, TrainOptions, train
out = {{}}
t = time.perf_counter()
loaded = [load_partition(p) for p in partitions({data!r})]
leads = pd.concat([h.leads for h in loaded], ignore_index=True)
events = pd.concat([h.events for h in loaded], ignore_index=True)
del loaded
out["load_s"] = round(time.perf_counter() - t, 1)
t = time.perf_counter()
result = train(TrainingData(batch=LeadBatch(leads, events), origin={data!r}), TrainOptions())
out["train_s"] = round(time.perf_counter() - t, 1)
out["backtest_mean_auc"] = result.metrics["backtest"]["mean"]["roc_auc"]
out["test_auc"] = result.metrics["test_roc_auc"]
model = result.model
del result
t = time.perf_counter()
scored, _ = score_batch(model, LeadBatch(open_leads(leads), events))
out["rank_score_s"] = round(time.perf_counter() - t, 1)
t = time.perf_counter()
handed = hand_off(scored, {{"hours": float(scored["expected_hours"].sum() / 100)}})
out["rank_handoff_s"] = round(time.perf_counter() - t, 1)
out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
print(json.dumps(out))
"""


def run_local(data: Path) -> dict[str, Any]:
    load = _loadavg()
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LOCAL.format(repo=str(REPO), data=str(data))], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"failed": done.stderr[-2000:], "wall_s": round(time.perf_counter() - t, 1)}
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(time.perf_counter() - t, 1)
    out["load_start"], out["load_end"] = load, _loadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args()

    from engines.cluster import dask_client
    from engines.partitioned import LEADS_PER_PARTITION, is_partitioned, simulate_partitioned

    results: dict[str, Any] = {"leads": args.leads, "workers": args.workers}
    if not is_partitioned(args.data):
        n_parts = args.partitions or max(2, -(-args.leads // LEADS_PER_PARTITION))
        with dask_client(n_workers=args.workers, threads_per_worker=1) as client:
            t = time.perf_counter()
            written = simulate_partitioned(client, args.leads, 7, 18, args.data, n_parts)
            results["simulate"] = {"s": round(time.perf_counter() - t, 1), **written, "load": _loadavg()}
        print(json.dumps(results["simulate"]), flush=True)
    if not args.skip_dask:

        def save(partial: dict[str, Any]) -> None:
            if args.out is not None:
                args.out.write_text(json.dumps({**results, "dask": partial, "partial": True}, indent=1) + "\n")

        results["dask"] = run_dask(args.data, args.workers, save)
        results["estimate"] = estimate(results["dask"], args.workers)
        print(json.dumps({"dask": results["dask"], "estimate": results["estimate"]}, indent=1), flush=True)
    if not args.skip_local:
        results["local"] = run_local(args.data)
        print(json.dumps({"local": results["local"]}, indent=1), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
