"""Load on a live `leadrank serve`: does interactive scoring stay interactive while batch work runs?

    .venv/bin/python bench/bench_load.py                  # the bar: 2 minutes at concurrency 32, 1 worker
    .venv/bin/python bench/bench_load.py --workers 2      # the same with 2 worker processes
    .venv/bin/python bench/bench_load.py --duration 30    # a shorter look (the RSS bar then compares halves)
    .venv/bin/python bench/bench_load.py --baseline DIR   # first the same load on the code in DIR (e.g. an
                                                          # export of main), as a peer measured in the same run

What it does:

1. Simulates leads, trains and registers a model in a temp MLflow store and imports it into a temp BentoML store
   (`bench_serving.train_bench_model`; nothing touches ~/bentoml or the working directory).
2. Starts `leadrank serve` as a child process on a free 127.0.0.1 port and waits until /readyz answers.
3. 32 asyncio clients (aiohttp, one keep-alive connection each) send, for the whole duration, a random mix
   (seeded): 60% POST /score of one lead, 35% POST /score of 50 leads, 5% POST /rank of 1,000 leads with a
   capacity of 200 selling hours. Request bodies are serialised before the clock starts; answers are read
   whole but not parsed (the client must not be what is slow), except that a 200 must say `"request_id"`.
4. Samples the RSS of the server's processes (the `leadrank serve` process and every child) at half time
   and at the end.

Before the load, it times in this process what BentoML does on the event loop for each kind before our code runs:
validating the JSON body into the request model (the reason batch bodies are parsed off the event loop).

Prints one table (per kind: requests, errors, p50/p90/p99 latency, leads scored per second; then requests/s,
RSS, load average) and the bars with PASS/FAIL; exits 1 if a bar fails. The bars: no errors; single-lead
/score p99 <= 100 ms; RSS growth between the two samples < 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import psutil

from bench.bench_serving import ROOT, free_port, train_bench_model, wait_ready
from features.records import to_records

SINGLE_P99_MS = 100.0
RSS_GROWTH = 0.10


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    share: float
    leads: int
    bodies: list[bytes]


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    leads_ok: int = 0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def request_kinds(model: object, n_bodies: int = 40) -> list[Kind]:
    """The mix's request bodies, cut from the bench model's simulated history (most recent leads first)."""
    history = model.history  # type: ignore[attr-defined]
    leads = history.leads.sort_values("decided_at").tail(3000)
    records = to_records(leads, history.events)
    rng = random.Random(5)

    def pick(n: int) -> list[dict[str, object]]:
        return rng.sample(records, n)

    single = [json.dumps({"leads": pick(1)}).encode() for _ in range(n_bodies * 5)]
    fifty = [json.dumps({"leads": pick(50)}).encode() for _ in range(n_bodies)]
    ranked = [json.dumps({"leads": pick(1000), "capacity": {"hours": 200}}).encode() for _ in range(n_bodies // 4)]
    return [
        Kind("/score, 1 lead", "/score", 0.60, 1, single),
        Kind("/score, 50 leads", "/score", 0.35, 50, fifty),
        Kind("/rank, 1,000 leads", "/rank", 0.05, 1000, ranked),
    ]


async def run_clients(
    url: str, kinds: list[Kind], concurrency: int, seconds: float, on_half: asyncio.Event
) -> tuple[dict[str, Tally], float]:
    tallies = {k.name: Tally() for k in kinds}
    weights = [k.share for k in kinds]
    headers = {"Content-Type": "application/json"}
    start = time.perf_counter()
    deadline = start + seconds

    async def client(slot: int, session: aiohttp.ClientSession) -> None:
        rng = random.Random(slot)
        while time.perf_counter() < deadline:
            kind = rng.choices(kinds, weights)[0]
            body = kind.bodies[rng.randrange(len(kind.bodies))]
            tally = tallies[kind.name]
            t0 = time.perf_counter()
            try:
                async with session.post(url + kind.path, data=body, headers=headers) as response:
                    data = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1
                continue
            tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200 or b'"request_id"' not in data[:200]:
                tally.errors[f"HTTP {status}"] = tally.errors.get(f"HTTP {status}", 0) + 1
            else:
                tally.leads_ok += kind.leads

    async def half_timer() -> None:
        await asyncio.sleep(seconds / 2)
        on_half.set()

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        timer = asyncio.create_task(half_timer())
        await asyncio.gather(*(client(slot, session) for slot in range(concurrency)))
        timer.cancel()
    return tallies, time.perf_counter() - start


def server_rss(pid: int) -> tuple[int, int]:
    """Total RSS in bytes of process `pid` and all its descendants, and how many processes that is."""
    root = psutil.Process(pid)
    total, n = 0, 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
            n += 1
        except psutil.NoSuchProcess:
            pass
    return total, n


@contextmanager
def leadrank_serve(port: int, workers: int, log_path: Path, root: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`leadrank serve` of the code in `root` (this checkout, or --baseline's) as a child process."""
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "leadrank", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its workers stop with it
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def parse_times(kinds: list[Kind]) -> None:
    """Milliseconds to validate each kind's body into its request model (median of a few), in this process."""
    from serving.schemas import RankRequest, ScoreRequest

    print("\n| kind | body KiB | validating the body, ms (median) |\n| --- | --- | --- |")
    for kind in kinds:
        model = RankRequest if kind.path == "/rank" else ScoreRequest
        body = kind.bodies[0]
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            model.model_validate_json(body)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"| {kind.name} | {len(body) / 1024:,.0f} | {float(np.median(times)):.2f} |")


@dataclass
class Run:
    label: str
    tallies: dict[str, Tally]
    seconds: float
    rss: list[tuple[int, int]]
    load: str


def run_once(label: str, root: Path, kinds: list[Kind], args: argparse.Namespace, workdir: Path) -> Run:
    port = free_port()
    log_path = workdir / f"server-{label}.log"
    with leadrank_serve(port, args.workers, log_path, root) as process:
        try:
            took = wait_ready(port, "/readyz", timeout=300)
        except RuntimeError:
            print(log_path.read_text(errors="replace"), file=sys.stderr)
            raise
        print(f"{label}: server ready in {took:.0f} s; {args.duration:.0f} s of load ...", file=sys.stderr)
        half = asyncio.Event()
        samples: list[tuple[int, int]] = []

        async def measured() -> tuple[dict[str, Tally], float]:
            async def sampler() -> None:
                await half.wait()
                samples.append(server_rss(process.pid))

            task = asyncio.create_task(sampler())
            result = await run_clients(f"http://127.0.0.1:{port}", kinds, args.concurrency, args.duration, half)
            await task
            samples.append(server_rss(process.pid))
            return result

        tallies, seconds = asyncio.run(measured())
    return Run(label, tallies, seconds, samples, " / ".join(f"{x:.2f}" for x in os.getloadavg()))


def report(run: Run, kinds: list[Kind], args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    """Print `run`'s table; its bars as (name, met, value)."""
    print(
        f"\n{run.label}: `leadrank serve --workers {args.workers}`, concurrency {args.concurrency}, "
        f"{run.seconds:.0f} s, load average at the end {run.load}\n"
    )
    print("| kind | requests | errors | p50 ms | p90 ms | p99 ms | leads/s scored |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in kinds:
        t = run.tallies[kind.name]
        errors = sum(t.errors.values())
        detail = "".join(f" ({name}: {n})" for name, n in sorted(t.errors.items()))
        print(
            f"| {kind.name} | {len(t.latencies_ms):,} | {errors}{detail} | {t.pct(50):.1f} | {t.pct(90):.1f} | "
            f"{t.pct(99):.1f} | {t.leads_ok / run.seconds:,.0f} |"
        )
    total = sum(len(t.latencies_ms) for t in run.tallies.values())
    leads = sum(t.leads_ok for t in run.tallies.values())
    (rss1, n1), (rss2, n2) = run.rss
    growth = rss2 / rss1 - 1
    print(f"\nrequests/s {total / run.seconds:.1f}; leads scored/s {leads / run.seconds:,.0f}")
    print(
        f"server RSS at {args.duration / 2:.0f} s {rss1 / 2**20:,.0f} MiB ({n1} processes), at the end "
        f"{rss2 / 2**20:,.0f} MiB ({n2} processes): {growth:+.1%}\n"
    )
    single = run.tallies[kinds[0].name]
    errors = sum(sum(t.errors.values()) for t in run.tallies.values())
    return [
        ("no errors", errors == 0, f"{errors}"),
        (f"single-lead /score p99 <= {SINGLE_P99_MS:.0f} ms", single.pct(99) <= SINGLE_P99_MS, f"{single.pct(99):.1f}"),
        (f"server RSS growth < {RSS_GROWTH:.0%}", growth < RSS_GROWTH, f"{growth:+.1%}"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (default 120)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="worker processes of `leadrank serve`")
    parser.add_argument("--baseline", type=Path, help="also serve the code in this directory first (a peer)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    model = train_bench_model(workdir)
    kinds = request_kinds(model)
    parse_times(kinds)
    if args.baseline is not None:
        report(run_once("baseline", args.baseline.resolve(), kinds, args, workdir), kinds, args)
    bars = report(run_once("this checkout", ROOT, kinds, args, workdir), kinds, args)
    for name, ok, value in bars:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    return 0 if all(ok for _, ok, _ in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
