"""Handoff quality bar: model-driven handoff vs the oracle and two naive policies, at the same selling hours.

    uv run python bench/bench_handoff_quality.py --leads 100000

Simulates a history, trains the model on its closed leads (no MLflow), scores the *open* leads (the ones to hand
off today) and gives every policy the same hours budget: about 10% of the open leads' true expected hours.

- oracle: the handoff policy fed the simulator's true probabilities and true expected hours;
- model: the handoff policy fed the model's `p_close` and `expected_hours` (what `leadrank rank` does);
- points: top leads by the rule-based points score until the (model-estimated) hours run out;
- p_close only: top leads by the model's `p_close`, ignoring effort, until the hours run out.

Every set is judged by the truth: the sum of true close probabilities (true expected closes) and of true expected
hours of the leads it hands off.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--share", type=float, default=0.10, help="Budget: share of open leads' true hours.")
    args = parser.parse_args()

    from features import contract as c
    from features.contract import LeadBatch
    from handoff import hand_off
    from simulator import simulate, write_history
    from training.candidates import points_score
    from training.capacity_eval import select_by_order
    from training.pipeline import TrainOptions, load_training_data, train

    history = simulate(n_leads=args.leads, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        write_history(history, data_dir)
        result = train(load_training_data(data_dir=data_dir), TrainOptions(register=False))
    model = result.model
    open_leads = history.leads[history.leads[c.OUTCOME].isna()].reset_index(drop=True)
    batch = LeadBatch(open_leads, history.events)
    scored = model.predict_frame(batch)
    truth = history.truth.set_index(c.LEAD_ID).reindex(open_leads[c.LEAD_ID])
    true_p = truth["p_close"].to_numpy()
    true_h = truth["expected_hours"].to_numpy()
    ids = open_leads[c.LEAD_ID].to_numpy().astype(str)
    budget = float(args.share * true_h.sum())

    def policy(p: np.ndarray, hours: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame({c.LEAD_ID: ids, "p_close": p, "expected_hours": hours})
        ready = set(hand_off(frame, {"hours": budget}).sales_ready()[c.LEAD_ID])
        return np.fromiter((i in ready for i in ids), dtype=bool, count=len(ids))

    model_p = scored["p_close"].to_numpy()
    model_h = scored["expected_hours"].to_numpy()
    sets = {
        "oracle (true p and hours)": policy(true_p, true_h),
        "model handoff (p_close, expected_hours)": policy(model_p, model_h),
        "top-N by points score": select_by_order(ids, points_score(batch), model_h, budget),
        "top-N by p_close, ignoring effort": select_by_order(ids, model_p, model_h, budget),
    }
    rows = {
        name: {
            "leads": int(sel.sum()),
            "true_expected_closes": float(true_p[sel].sum()),
            "true_expected_hours": float(true_h[sel].sum()),
            "true_closes_per_100h": float(100 * true_p[sel].sum() / max(true_h[sel].sum(), 1e-9)),
        }
        for name, sel in sets.items()
    }
    table = pd.DataFrame(rows).T
    model = rows["model handoff (p_close, expected_hours)"]["true_expected_closes"]
    oracle = rows["oracle (true p and hours)"]["true_expected_closes"]
    pts = rows["top-N by points score"]["true_expected_closes"]
    p_only = rows["top-N by p_close, ignoring effort"]["true_expected_closes"]
    pd.set_option("display.width", 200)
    print(f"open leads {len(ids):,}; hours budget {budget:,.0f} ({args.share:.0%} of their true expected hours)")
    print(table.round(2).to_string())
    summary = {
        "open_leads": len(ids),
        "hours_budget": budget,
        "model_vs_oracle": model / oracle,
        "model_vs_points": model / pts,
        "model_vs_p_close_only": model / p_only,
        "table": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "table"}, indent=2))


if __name__ == "__main__":
    main()
