"""Benchmark `leadrank simulate` at scale: wall time, CPU time and peak RSS of a child process.

    .venv/bin/python bench/bench_simulate.py                  # 1,000,000 leads, Parquet, seed 7
    .venv/bin/python bench/bench_simulate.py --leads 200000 --format csv --repeat 3

The command runs in a fresh child process (`python -c "from leadrank.cli import main; main()" simulate ...`)
so that its peak RSS is measured alone (`resource.getrusage(RUSAGE_CHILDREN)` after it exits). CPU time
(user + sys) is reported next to wall time because other work on a shared machine inflates wall time much more
than CPU time. The events row count is read back from the written Parquet metadata (or counted in the CSV).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0
TARGET_RSS_GIB = 8.0


def _events_rows(out: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(out / "events.parquet").metadata.num_rows)
    with (out / "events.csv").open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1


def run_once(leads: int, seed: int, fmt: str, out: Path) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-c",
        "from leadrank.cli import main; main()",
        "simulate",
        "--n-leads",
        str(leads),
        "--seed",
        str(seed),
        "--format",
        fmt,
        "--out-dir",
        str(out),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"simulate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far (KiB on Linux): run one size per process.
    rss_gib = after.ru_maxrss / 2**20
    size_mib = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_gib": rss_gib,
        "events": float(_events_rows(out, fmt)),
        "size_mib": size_mib,
        "stdout": done.stdout,  # type: ignore[dict-item]
    }


def phases(leads: int, seed: int, fmt: str, out: Path) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds of each phase, in this process (imports excluded)."""
    from features.summary import summarize_history
    from simulator import simulate, write_history

    result: dict[str, tuple[float, float]] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    history = simulate(leads, seed)
    result["simulate"] = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    write_history(history, out, fmt=fmt)  # type: ignore[arg-type]
    result["write"] = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    summarize_history(history.leads, history.events)
    result["summary"] = (time.perf_counter() - wall, time.process_time() - cpu)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--repeat", type=int, default=1, help="Runs (each in a fresh child process).")
    parser.add_argument("--show-output", action="store_true", help="Print the command's own output too.")
    parser.add_argument("--phases", action="store_true", help="Also time simulate / write / summary in this process.")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"cores: {os.cpu_count()}, load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    walls = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
            r = run_once(args.leads, args.seed, args.format, Path(tmp) / "data")
        walls.append(r["wall_s"])
        if args.show_output:
            print(r["stdout"])
        print(
            f"run {i + 1}: {args.leads:,} leads, {int(r['events']):,} events, {args.format} "
            f"{r['size_mib']:.0f} MiB | wall {r['wall_s']:.1f} s | cpu {r['cpu_s']:.1f} s | "
            f"peak RSS {r['peak_rss_gib']:.2f} GiB"
        )
    if args.phases:
        with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
            split = phases(args.leads, args.seed, args.format, Path(tmp) / "data")
        print("phases (in-process): " + ", ".join(f"{k} {w:.1f} s wall / {c:.1f} s cpu" for k, (w, c) in split.items()))
    best = min(walls)
    verdict = "OK" if best < TARGET_SECONDS else "OVER"
    print(
        f"best wall {best:.1f} s (target < {TARGET_SECONDS:.0f} s: {verdict}); peak RSS target < {TARGET_RSS_GIB} GiB"
    )


if __name__ == "__main__":
    main()
