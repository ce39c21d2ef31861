"""The drift quality bar of issue 16: monitoring says "act" on a drifted period and "ok" on undrifted ones, and
`retrain` then promotes a champion that hands off more true expected closes on the drifted world.

    .venv/bin/python bench/bench_monitor.py --leads 30000 --seeds 10

Protocol (the real commands, as child processes, in a fresh LEADRANK_HOME):

1. `simulate --months 22 --drift-months 6` (seed 7): 22 months up to 2026-10-01, the last six (from 2026-04-01)
   drifted: a telemarketing campaign (half of all leads) and `tech_doc_download` no longer following intent.
2. The champion: `train` on what the CRM showed on 2026-04-01 (`simulator.as_of`), before the drift.
3. Monitoring on 2026-08-01 (`as_of`): `monitor --data --since 2026-04-01 --until 2026-06-01`, the drifted
   period; and the same window of `--seeds` undrifted worlds (same size, seeds 101...), each must say "ok".
4. `retrain` on what the CRM showed on 2026-08-01 (exit 0: promoted through the gate).
5. The leads decided after 2026-08-01 (never seen by either model) are handed off at 10% of their true selling
   hours by the old champion, the new one and the oracle (true probabilities); the sum of the true close
   probabilities of what each hands off is its true expected closes at capacity.
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

REPO = Path(__file__).resolve().parents[1]
DRIFT_FROM = "2026-04-01"
TODAY = "2026-08-01"
WINDOW = ("2026-04-01", "2026-06-01")


def _leadrank(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "leadrank", *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 3, 4):
        raise SystemExit(f"leadrank {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.returncode, done.stdout


def _write(history: object, path: Path) -> Path:
    from simulator import write_history

    write_history(history, path)  # type: ignore[arg-type]
    return path


def _monitor(data: Path, env: dict[str, str], version: str) -> dict[str, object]:
    _, out = _leadrank(
        ["monitor", "--data", str(data), "--since", WINDOW[0], "--until", WINDOW[1], "--model-version", version,
         "--out", str(data / "monitor.html"), "--json"],
        env,
    )  # fmt: skip
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()

    import simulator as sim
    from features import contract as c
    from features.contract import LeadBatch
    from model.pyfunc import load_logged_model
    from training.capacity_eval import select_at_capacity

    t0 = time.perf_counter()
    out: dict[str, object] = {"leads": args.leads, "load_before": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        env = {**os.environ, "LEADRANK_HOME": str(d / "home"), "MLFLOW_UV_AUTO_DETECT": "false"}
        for name in ("MLFLOW_TRACKING_URI", "LEADRANK_TRACKING_URI", "LEADRANK_MODEL_NAME"):
            env.pop(name, None)
        world = sim.simulate(args.leads, 7, months=22, drift=sim.Drift(months=6))
        past = _write(sim.as_of(world, DRIFT_FROM), d / "past")
        now = _write(sim.as_of(world, TODAY), d / "now")

        t = time.perf_counter()
        code, _ = _leadrank(["train", "--data", str(past)], env)
        out["train_seconds"] = round(time.perf_counter() - t, 1)
        assert code == 0, "the first model must become champion"

        drifted = _monitor(now, env, "1")
        out["drifted"] = {
            "verdict": drifted["verdict"],
            "checks": {ch["name"]: ch["verdict"] for ch in drifted["checks"]},
        }  # type: ignore[index,union-attr]
        out["drifted_reasons"] = [f"{ch['verdict']} {ch['title']}: {ch['reason']}" for ch in drifted["checks"]]  # type: ignore[index,union-attr]
        undrifted = []
        for seed in range(101, 101 + args.seeds):
            calm = _write(sim.as_of(sim.simulate(args.leads, seed, months=22), TODAY), d / f"calm-{seed}")
            report = _monitor(calm, env, "1")
            watched = [f"{ch['name']} {ch['verdict']}" for ch in report["checks"] if ch["verdict"] not in ("ok", "n/a")]  # type: ignore[index,union-attr]
            undrifted.append({"seed": seed, "verdict": report["verdict"], "leads": report["leads"], "flags": watched})
        out["undrifted"] = undrifted

        t = time.perf_counter()
        code, stdout = _leadrank(["retrain", "--data", str(now), "--json"], env)
        out["retrain_seconds"] = round(time.perf_counter() - t, 1)
        retrained = json.loads(stdout)
        out["retrain"] = {"exit_code": code, "status": retrained["status"], "message": retrained["message"]}
        code_again, stdout = _leadrank(["retrain", "--data", str(now), "--json"], env)
        out["retrain_again"] = {"exit_code": code_again, "status": json.loads(stdout)["status"]}

        leads = world.leads
        later = leads.loc[leads[c.DECIDED_AT] >= TODAY].drop(columns=[c.OUTCOME]).reset_index(drop=True)
        truth = world.truth.set_index(c.LEAD_ID).loc[later[c.LEAD_ID]]
        p_true, h_true = truth["p_close"].to_numpy(), truth["expected_hours"].to_numpy()
        budget = 0.10 * float(h_true.sum())
        ids = later[c.LEAD_ID].to_numpy()
        batch = LeadBatch(later, world.events)
        os.environ["LEADRANK_HOME"] = env["LEADRANK_HOME"]
        from leadrank.config import tracking_config
        from leadrank.settings import Settings
        from training.tracking import configure_tracking

        config = tracking_config(Settings())
        configure_tracking(config)
        closes = {}
        for name, version in (("old champion (v1)", "1"), ("new champion (retrained)", "2")):
            model = load_logged_model(f"models:/{config.model_name}/{version}")
            pred = model.predict(batch)
            picked = select_at_capacity(ids, pred.p_close, pred.expected_hours, budget)
            closes[name] = round(float(p_true[picked].sum()), 2)
        picked = select_at_capacity(ids, p_true, h_true, budget)
        closes["oracle (true probabilities)"] = round(float(p_true[picked].sum()), 2)
        out["later_leads"] = len(later)
        out["capacity_hours"] = round(budget, 1)
        out["true_expected_closes_at_capacity"] = closes
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    calm_ok = all(u["verdict"] == "ok" for u in undrifted)
    better = closes["new champion (retrained)"] > closes["old champion (v1)"]
    out["bar"] = {
        "act_on_drift": drifted["verdict"] == "act",
        "ok_on_all_undrifted": calm_ok,
        "retrain_promoted": out["retrain"]["status"] == "promoted",  # type: ignore[index]
        "retrain_idempotent": out["retrain_again"]["status"] == "nothing_new",  # type: ignore[index]
        "new_beats_old": better,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
