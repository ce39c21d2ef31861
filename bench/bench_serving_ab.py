"""Single-lead /score of two (or more) checkouts of leadrank, side by side on one machine, in alternating rounds.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/bench_serving_ab.py --rounds 8 --requests 600 base=/tmp/base new=.

This machine's speed drifts by 1.5x within minutes (BENCHMARKS.md, Serving), so two full runs of
`bench_serving.py` minutes apart cannot tell a 10% change. Here every checkout gets its own server (1 worker, the
same model, this virtualenv's BentoML), all started before the first round, and each round sends the same
requests to each server in turn. Reported per server and round: p50 and p99 latency at concurrency 1, and the
CPU time its worker process spent per request (user + system, from /proc): a reading that does not include the
load generator. The medians over rounds are compared at the end.

Each checkout trains its own model on the same 6,000 simulated leads (seed 3), with its own code, in a temp store
of its own (checkouts may store models in different formats), and is sent the same requests; nothing touches
~/bentoml or the working directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import psutil

from bench.bench_serving import free_port, run_load, single_lead_bodies, wait_ready

ROOT = Path(__file__).resolve().parent.parent


# Run in a checkout (its own code on its path): train and import its model into `argv[1]`, print the model's tag.
_TRAIN = """
import os, sys
from pathlib import Path
from bench.bench_serving import train_bench_model
train_bench_model(Path(sys.argv[1]))
print(os.environ["LEADRANK_BENTO_MODEL"])
"""


def train_in(checkout: Path, workdir: Path, env: dict[str, str]) -> dict[str, str]:
    """Train `checkout`'s model with its own code; the environment its server needs to serve it."""
    print(f"  {checkout}: training its model in {workdir} ...", file=sys.stderr)
    done = subprocess.run(
        [sys.executable, "-c", _TRAIN, str(workdir)],
        cwd=checkout,
        env={**env, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "LEADRANK_HOME": str(workdir),
        "BENTOML_HOME": str(workdir / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "LEADRANK_BENTO_MODEL": done.stdout.strip().splitlines()[-1],
    }


def start_server(stack: ExitStack, checkout: Path, env: dict[str, str]) -> tuple[int, list[psutil.Process]]:
    """A 1-worker server of `checkout`'s service; its port and worker processes."""
    port = free_port()
    bentoml = Path(sys.executable).parent / "bentoml"
    process = subprocess.Popen(
        [str(bentoml), "serve", "serving.service:LeadScorer", "--host", "127.0.0.1", "--port", str(port)],
        cwd=checkout,
        env={**env, "PYTHONPATH": str(checkout)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(process.wait, 60)
    stack.callback(process.terminate)
    took = wait_ready(port, "/readyz")
    workers = [p for p in psutil.Process(process.pid).children(recursive=True) if "worker" in " ".join(p.cmdline())]
    if not workers:
        raise RuntimeError(f"no worker process found under the server of {checkout}")
    print(f"  {checkout}: ready in {took:.0f} s on port {port}", file=sys.stderr)
    return port, workers


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", metavar="NAME=PATH", help="a label and a leadrank checkout")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=600, help="requests per server and round")
    args = parser.parse_args(argv)
    checkouts: dict[str, Path] = {}
    for item in args.checkouts:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path, "serving", "service.py").is_file():
            parser.error(f"{item!r}: expected NAME=PATH, PATH a leadrank checkout (with serving/service.py)")
        checkouts[name] = Path(path).resolve()

    with tempfile.TemporaryDirectory(prefix="leadrank-ab-") as tmp, ExitStack() as stack:
        from features.records import to_records
        from simulator import simulate

        history = simulate(n_leads=6000, seed=3)  # what every checkout's train_bench_model trains on
        recent = history.leads.sort_values("decided_at").tail(300)
        bodies = single_lead_bodies(to_records(recent, history.events))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADRANK_", "MLFLOW_"))}
        envs = {name: {**env, **train_in(path, Path(tmp) / name, env)} for name, path in checkouts.items()}
        servers = {name: start_server(stack, path, envs[name]) for name, path in checkouts.items()}
        p50: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        print("| round | checkout | p50 ms | p99 ms | server CPU ms / request |\n|---|---|---|---|---|")
        for k in range(args.rounds):
            for name, (port, workers) in servers.items():
                before = cpu_seconds(workers)
                result = run_load(port, "/score", bodies, 1, args.requests, 120, name)
                per_request = (cpu_seconds(workers) - before) * 1e3 / max(result.requests, 1)
                p50[name].append(result.pct(50))
                cpu[name].append(per_request)
                print(f"| {k + 1} | {name} | {result.pct(50):.2f} | {result.pct(99):.2f} | {per_request:.2f} |")
        print(f"\nload average at the end: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
        for name in servers:
            print(
                f"- {name}: median over {args.rounds} rounds: p50 {statistics.median(p50[name]):.2f} ms, "
                f"server CPU {statistics.median(cpu[name]):.2f} ms per request"
            )


if __name__ == "__main__":
    main()
