"""Point-in-time engagement features: batch time and peak memory, single-lead latency, and a pandas peer.

    uv run python bench/bench_features.py                       # 200,000 leads, 10,000,000 events
    uv run python bench/bench_features.py --leads 20000 --events 1000000 --single 100   # quick look

Data: `simulator.simulate(leads, seed)`, whose ~27 events a lead are topped up to exactly `--events`
by re-drawing events of the same leads shifted up to 60 days earlier (so every lead keeps a plausible
history), then written to Parquet. The measurements run in one child process that reads the Parquet files as
the loader would, so its peak RSS is that of "data + features", not of the simulator:

- batch: `EngagementFeatures.transform` on all leads (wall and CPU seconds, best of `--repeats`; peak RSS from
  the kernel's high-water mark, reset right before the call), for the events as written (grouped by lead, as
  the simulator and a CRM export give them) and shuffled (worst case);
- peer: a plain pandas `groupby` implementation of the same features on the same data in the same process; its
  output is checked equal to ours before any time is reported;
- single lead: `transform` of one lead and its events, for `--single` random leads (median, p90), and the
  pandas peer on the same leads.

The machine is shared and noisy: the ratios against the peer, measured in the same process, are the numbers to
compare across runs; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features.contract import LeadBatch  # noqa: E402
from features.engagement import (  # noqa: E402
    AS_OF,
    FLAG_EVENT_TYPES,
    VELOCITY_DAYS,
    EngagementFeatures,
)
from features.schema import NUMERIC  # noqa: E402

_US_PER_DAY = 86_400_000_000


# --- data ---------------------------------------------------------------------------------------------------


def make_data(n_leads: int, n_events: int, seed: int, out_dir: Path) -> dict[str, Any]:
    from simulator import simulate

    t0 = time.perf_counter()
    history = simulate(n_leads, seed)
    events = history.events
    rng = np.random.default_rng(seed)
    if n_events > len(events):
        extra = events.iloc[rng.integers(0, len(events), n_events - len(events))].copy()
        shift = pd.to_timedelta(rng.integers(0, 60 * 86_400_000_000, len(extra)), unit="us")
        extra["ts"] = (extra["ts"] - shift).astype("datetime64[us]")
        events = pd.concat([events, extra], ignore_index=True)
        lead_pos = pd.Index(history.leads["lead_id"]).get_indexer(events["lead_id"])
        events = events.iloc[np.argsort(lead_pos, kind="stable")].reset_index(drop=True)
    else:
        events = events.iloc[:n_events]
    history.leads.to_parquet(out_dir / "leads.parquet", index=False)
    events.to_parquet(out_dir / "events.parquet", index=False)
    return {
        "simulate_and_write_s": time.perf_counter() - t0,
        "events": len(events),
        "leads": len(history.leads),
    }


# --- the pandas peer: the same features with groupby --------------------------------------------------------


def pandas_features(fitted: EngagementFeatures, leads: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The features of `EngagementFeatures` written the usual pandas way (merge, filter, groupby, unstack)."""
    schema = fitted.feature_schema_
    stage_map = dict(schema.stage_map)
    windows = list(schema.windows)
    ids = pd.Index(leads["lead_id"], name="lead_id")
    reference = AS_OF if AS_OF in leads.columns else "decided_at"
    ref = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "ref": leads[reference].to_numpy()})

    ev = events.merge(ref, on="lead_id", how="inner")
    ev = ev[ev["ts"].notna() & ev["ref"].notna() & (ev["ts"] < ev["ref"])].copy()
    ev["age"] = (ev["ref"] - ev["ts"]).to_numpy().view(np.int64)  # microseconds
    ev["stage"] = ev["event_type"].map(stage_map).fillna("other")

    columns: dict[str, pd.Series] = {}
    limits = [(f"{w}d", w * _US_PER_DAY) for w in windows] + [("all", None)]
    for suffix, limit in limits:
        part = ev if limit is None else ev[ev["age"] <= limit]
        by_type = part.groupby(["lead_id", "event_type"]).size().unstack(fill_value=0)
        for event_type in stage_map:
            name = f"n_{_slug(event_type)}_{suffix}"
            columns[name] = by_type[event_type] if event_type in by_type.columns else pd.Series(dtype=float)
        by_stage = part.groupby(["lead_id", "stage"]).size().unstack(fill_value=0)
        for stage in ("early", "middle", "decision", "other"):
            columns[f"n_stage_{stage}_{suffix}"] = (
                by_stage[stage] if stage in by_stage.columns else pd.Series(dtype=float)
            )
    out = pd.DataFrame(columns).reindex(ids).fillna(0.0).astype(np.float64)
    out = out[_count_order(stage_map, windows)]

    grouped = ev.groupby("lead_id")["age"]
    out["days_since_last_event"] = grouped.min().reindex(ids) / _US_PER_DAY
    decision = ev[ev["stage"] == "decision"].groupby("lead_id")["age"].min()
    out["days_since_last_decision_event"] = decision.reindex(ids) / _US_PER_DAY
    out["days_since_first_event"] = grouped.max().reindex(ids) / _US_PER_DAY
    if "created_at" in leads.columns:
        age = leads[reference].to_numpy() - leads["created_at"].to_numpy()
        out["lead_age_days"] = np.where(pd.isna(age), np.nan, age.view(np.int64) / _US_PER_DAY)
    else:
        out["lead_age_days"] = np.nan
    assets = ev["asset"] if "asset" in ev.columns else pd.Series(np.nan, index=ev.index)
    out["n_distinct_assets"] = assets.groupby(ev["lead_id"]).nunique().reindex(ids).fillna(0.0).astype(np.float64)
    recent = ev[ev["age"] <= VELOCITY_DAYS * _US_PER_DAY].groupby("lead_id").size().reindex(ids).fillna(0)
    window = ev[ev["age"] <= 2 * VELOCITY_DAYS * _US_PER_DAY].groupby("lead_id").size().reindex(ids).fillna(0)
    out[f"velocity_{VELOCITY_DAYS}d"] = np.log1p(recent.to_numpy()) - np.log1p((window - recent).to_numpy())
    for flag, event_type in FLAG_EVENT_TYPES.items():
        has = ev[ev["event_type"] == event_type].groupby("lead_id").size()
        out[flag] = (has.reindex(ids).fillna(0) > 0).astype(np.float64)

    for spec in schema.attributes:
        values = leads[spec.column] if spec.column in leads.columns else pd.Series(np.nan, index=leads.index)
        if spec.kind == NUMERIC:
            out[spec.feature] = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[spec.feature] = pd.Categorical(values.astype("str"), dtype=fitted.category_dtypes_[spec.feature])
    return out[list(schema.feature_names)]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.strip().lower()) or "_"


def _count_order(stage_map: dict[str, str], windows: list[int]) -> list[str]:
    suffixes = [f"{w}d" for w in windows] + ["all"]
    names = [f"n_{_slug(t)}_{s}" for t in stage_map for s in suffixes]
    return names + [f"n_stage_{g}_{s}" for g in ("early", "middle", "decision", "other") for s in suffixes]


# --- measuring ----------------------------------------------------------------------------------------------


def _rss_gib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _timed(fn: Any, repeats: int) -> tuple[Any, float, float, float]:
    """Result, best wall seconds, best CPU seconds, and the peak RSS (GiB) over the repeats."""
    best_wall = best_cpu = float("inf")
    result = None
    _reset_peak()
    for _ in range(repeats):
        result = None
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return result, best_wall, best_cpu, _rss_gib("VmHWM")


def worker(data_dir: Path, repeats: int, n_single: int, seed: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    leads = pd.read_parquet(data_dir / "leads.parquet")
    events = pd.read_parquet(data_dir / "events.parquet")
    batch = LeadBatch(leads, events)
    fitted = EngagementFeatures().fit(batch)
    res["features"] = len(fitted.feature_names_out_)
    res["rss_with_data_gib"] = _rss_gib("VmRSS")

    ours, res["ours_wall_s"], res["ours_cpu_s"], res["ours_peak_gib"] = _timed(lambda: fitted.transform(batch), repeats)
    theirs, res["pandas_wall_s"], res["pandas_cpu_s"], res["pandas_peak_gib"] = _timed(
        lambda: pandas_features(fitted, leads, events), 1
    )
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12)
    del theirs

    shuffled = LeadBatch(leads, events.sample(frac=1.0, random_state=seed).reset_index(drop=True))
    again, res["ours_shuffled_wall_s"], res["ours_shuffled_cpu_s"], res["ours_shuffled_peak_gib"] = _timed(
        lambda: fitted.transform(shuffled), repeats
    )
    pd.testing.assert_frame_equal(again, ours)
    del again

    # Single leads: each with the events it would come with in a request.
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(leads), size=min(n_single, len(leads)), replace=False)
    starts = np.searchsorted(
        pd.Index(leads["lead_id"]).get_indexer(events["lead_id"]), np.arange(len(leads) + 1), side="left"
    )
    singles = [
        LeadBatch(
            leads.iloc[[i]].reset_index(drop=True),
            events.iloc[starts[i] : starts[i + 1]].reset_index(drop=True),
        )
        for i in picks
    ]
    res["single_events_median"] = float(np.median([len(s.events) for s in singles]))
    for one in singles[:20]:  # warm caches, and parity: one lead alone equals its row of the batch
        pd.testing.assert_frame_equal(fitted.transform(one), ours.loc[one.leads["lead_id"]])
    ours_ms, peer_ms = [], []
    for one in singles:
        t = time.perf_counter()
        fitted.transform(one)
        ours_ms.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        pandas_features(fitted, one.leads, one.events)
        peer_ms.append((time.perf_counter() - t) * 1e3)
    res["single_ms_median"] = float(np.median(ours_ms))
    res["single_ms_p90"] = float(np.percentile(ours_ms, 90))
    res["single_ms_min"] = float(np.min(ours_ms))
    res["single_pandas_ms_median"] = float(np.median(peer_ms))
    # CPU time of a long run of single-lead calls: less sensitive to other processes than wall time
    cpu = time.process_time()
    for one in singles:
        fitted.transform(one)
    res["single_cpu_ms_mean"] = (time.process_time() - cpu) / len(singles) * 1e3
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="batch repeats of our transform (best is kept)")
    parser.add_argument("--single", type=int, default=500, help="random leads for the single-lead latency")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.repeats, args.single, args.seed)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        data = make_data(args.leads, args.events, args.seed, Path(tmp))
        cmd = [sys.executable, __file__, "--worker", tmp, "--repeats", str(args.repeats)]
        cmd += ["--single", str(args.single), "--seed", str(args.seed)]
        load_before = os.getloadavg()
        child = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=REPO)
        load_after = os.getloadavg()
    res = data | json.loads(child.stdout.strip().splitlines()[-1])
    res["loadavg_1min_before_after"] = [round(load_before[0], 2), round(load_after[0], 2)]
    res["speedup_batch_wall"] = res["pandas_wall_s"] / res["ours_wall_s"]
    res["speedup_batch_cpu"] = res["pandas_cpu_s"] / res["ours_cpu_s"]
    res["speedup_single"] = res["single_pandas_ms_median"] / res["single_ms_median"]

    print(f"data: {res['leads']:,} leads, {res['events']:,} events, {res['features']} features")
    load = res["loadavg_1min_before_after"]
    print(f"machine load (1-min average) before/after: {load} on {os.cpu_count()} cores")
    print("| measurement | ours | pandas groupby | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| batch, grouped events: wall s | {res['ours_wall_s']:.2f} | {res['pandas_wall_s']:.2f} "
        f"| {res['speedup_batch_wall']:.1f}x |"
    )
    print(
        f"| batch, grouped events: CPU s | {res['ours_cpu_s']:.2f} | {res['pandas_cpu_s']:.2f} "
        f"| {res['speedup_batch_cpu']:.1f}x |"
    )
    print(
        f"| batch: peak RSS GiB (data alone {res['rss_with_data_gib']:.2f}) | {res['ours_peak_gib']:.2f} "
        f"| {res['pandas_peak_gib']:.2f} | |"
    )
    print(
        f"| batch, shuffled events: wall s / CPU s | {res['ours_shuffled_wall_s']:.2f} / "
        f"{res['ours_shuffled_cpu_s']:.2f} | | |"
    )
    one = f"one lead ({res['single_events_median']:.0f} events median)"
    print(
        f"| {one}: median ms | {res['single_ms_median']:.2f} | {res['single_pandas_ms_median']:.1f} "
        f"| {res['speedup_single']:.0f}x |"
    )
    print(
        f"| {one}: p90 / min ms, CPU ms a call | {res['single_ms_p90']:.2f} / {res['single_ms_min']:.2f}, "
        f"{res['single_cpu_ms_mean']:.2f} | | |"
    )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
