"""A long schemathesis run against a live `leadrank` server: what tests/serving/test_zz_fuzz_api.py does for about
a minute in CI, here for as long as asked (10 minutes for BENCHMARKS.md).

    .venv/bin/python bench/bench_api_fuzz.py --minutes 10
    .venv/bin/python bench/bench_api_fuzz.py --minutes 1 --seed 3      # a quick look

What it does:

1. Simulates 6,000 leads, trains and registers a model in a temp MLflow store and imports it into a temp BentoML
   store (`bench.bench_serving.train_bench_model`; nothing touches ~/bentoml or the working directory).
2. Starts `python -m bentoml serve serving.service:LeadScorer` on 127.0.0.1 with one named token.
3. Runs schemathesis's engine (the examples, coverage and fuzzing phases over every operation, every response
   check but `positive_data_acceptance`, see docs/reliability.md) from the server's /docs.json: 70% of the time
   with the token, 30% without it.
4. Prints a Markdown table (requests, statuses, failures, errors) and exits 1 if anything failed, a 5xx was
   answered, or the server logged a traceback or the token.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_serving import train_bench_model  # noqa: E402
from tests.serving.live import FuzzReport, live_server, run_schemathesis  # noqa: E402

TOKEN = "bench-fuzz-token-7c2e9a4b1d6f"


def _row(name: str, report: FuzzReport) -> str:
    statuses = ", ".join(f"{status}: {count:,}" for status, count in sorted(report.statuses.items()))
    return (
        f"| {name} | {report.seconds:.0f} s | {report.requests:,} | {statuses} | {len(report.failures)} | "
        f"{len(report.errors)} | {', '.join(sorted(report.phases))} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="total fuzzing time (default 10)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--max-examples", type=int, default=1000, help="per operation and phase")
    args = parser.parse_args(argv)

    total_s = max(2, int(args.minutes * 60))
    with tempfile.TemporaryDirectory(prefix="leadrank-fuzz-") as tmp:
        work = Path(tmp)
        train_bench_model(work)
        with live_server(work / "server.log", {"LEADRANK_API_TOKENS": f"bench:{TOKEN}"}) as server:
            server.wait_ready()
            print(f"server ready at {server.url}; fuzzing for {total_s} s ...", file=sys.stderr)
            with_token = run_schemathesis(
                server.url,
                token=TOKEN,
                max_time_s=max(1, int(total_s * 0.7)),
                max_examples=args.max_examples,
                seed=args.seed,
            )
            without = run_schemathesis(
                server.url,
                token=None,
                max_time_s=max(1, total_s - int(total_s * 0.7)),
                max_examples=args.max_examples,
                seed=args.seed,
            )
            output = server.output()
    print("| run | time | requests | statuses | failed checks | errors | phases |")
    print("|---|---|---|---|---|---|---|")
    print(_row("with the token", with_token))
    print(_row("without a token", without))
    problems = [*with_token.failures, *without.failures, *with_token.errors, *without.errors]
    problems += [f"HTTP {s}" for r in (with_token, without) for s in r.statuses if s >= 500]
    if "Traceback" in output:
        problems.append("the server logged a traceback")
    if TOKEN in output:
        problems.append("the server logged the token")
    for problem in sorted(set(problems)):
        print(f"\n{problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
