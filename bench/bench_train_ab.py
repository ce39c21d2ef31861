"""Training time of two (or more) checkouts on the same simulated history, in alternating rounds.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/bench_train_ab.py --leads 100000 --rounds 2 base=/tmp/base new=.

The history is simulated once (this checkout's simulator) and written as canonical Parquet; each round runs every
checkout's own `training.pipeline.train` on it in a fresh child process (register off: no MLflow), timing the call
alone (loading excluded). Alternating rounds keep this machine's drift from favouring one side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_TRAIN = """
import inspect, sys, time
from pathlib import Path
from training.pipeline import TrainOptions, load_training_data, train
data = load_training_data(data_dir=Path(sys.argv[1]))
t0 = time.perf_counter()
if "settings" in inspect.signature(train).parameters:  # checkouts from before train() lost its settings
    from leadrank.settings import Settings
    result = train(data, Settings(home=Path(sys.argv[2])), TrainOptions(seed=7, register=False))
else:
    result = train(data, TrainOptions(seed=7, register=False))
print(time.perf_counter() - t0, result.metrics["test_roc_auc"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", metavar="NAME=PATH")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkouts)
    with tempfile.TemporaryDirectory(prefix="leadrank-train-ab-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [sys.executable, "-m", "leadrank", "simulate", "--n-leads", str(args.leads), "--seed", "7",
             "--format", "parquet", "--out-dir", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        print("| round | checkout | train s | test AUC |\n|---|---|---|---|")
        for k in range(args.rounds):
            for name, path in checkouts.items():
                done = subprocess.run(
                    [sys.executable, "-c", _TRAIN, str(data), tmp],
                    cwd=path,
                    env={"PYTHONPATH": str(Path(path).resolve()), "PATH": "/usr/bin:/bin"},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds, auc = (float(x) for x in done.stdout.split()[-2:])
                times[name].append(seconds)
                print(f"| {k + 1} | {name} | {seconds:.1f} | {auc:.4f} |", flush=True)
        for name, values in times.items():
            print(f"- {name}: median {statistics.median(values):.1f} s over {len(values)} rounds")


if __name__ == "__main__":
    main()
