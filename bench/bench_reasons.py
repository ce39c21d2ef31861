"""Faithfulness of the reasons (issue 19): does every reason about an event type say what taking that engagement
away (an "up" reason) or adding it (a "down" reason, a shortfall) really does to the lead's probability?

    .venv/bin/python bench/bench_reasons.py                       # 20,000 simulated leads, seed 7, 2,000 scored
    .venv/bin/python bench/bench_reasons.py --leads 6000 --seed 3

Trains a model on simulated history (no MLflow), scores a sample of leads through the service's engine (the same
code as /score), and checks each event-type reason against the model. Also times the reasons' cost: the engine's
score with reasons (effects included) against the model's predict without them, per lead, in batches.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.records import from_records
from serving.schemas import Lead
from serving.scoring import ScoringEngine


@dataclass(frozen=True)
class Faithfulness:
    checked: int
    agree: int
    action_down: int  # reasons that present something the lead did as lowering its chance
    by_feature: dict[str, tuple[int, int]]

    @property
    def share(self) -> float:
        return self.agree / max(self.checked, 1)


def faithfulness(engine: ScoringEngine, records: list[dict[str, Any]], now_us: int) -> Faithfulness:
    """Score `records` through the engine, then check every event-type reason against the model: remove the lead's
    events of that type (an "up" reason: the probability must fall) or add one a day before as_of (a "down"
    reason, a shortfall: the probability must rise)."""
    answer = engine.score([Lead.model_validate(r) for r in records], now_us)
    event_types = set(engine.explainer.writer.event_types)
    variants: list[dict[str, Any]] = []
    cases: list[tuple[str, str, float, bool]] = []
    for record, scored in zip(records, answer.body["leads"], strict=True):
        for reason in scored["reasons"]:
            kind = reason["feature"]
            if kind not in event_types:
                continue
            had = any(ev["type"] == kind for ev in record["events"])
            if reason["direction"] == "up":
                events = [ev for ev in record["events"] if ev["type"] != kind]
            else:
                day_before = (pd.Timestamp(record["as_of"]) - pd.Timedelta(days=1)).isoformat()
                events = [*record["events"], {"type": kind, "ts": day_before}]
            variants.append({**record, "lead_id": f"{record['lead_id']}#{len(variants)}", "events": events})
            cases.append((kind, reason["direction"], scored["p_close"], had))
    p_variant = engine.model.predict(from_records(variants)).p_close if variants else np.zeros(0)
    agree = Counter[str]()
    seen = Counter[str]()
    action_down = 0
    for (kind, direction, p, had), q in zip(cases, p_variant.tolist(), strict=True):
        seen[kind] += 1
        agree[kind] += (q < p) if direction == "up" else (q > p)
        action_down += direction == "down" and had
    return Faithfulness(
        checked=len(cases),
        agree=sum(agree.values()),
        action_down=action_down,
        by_feature={k: (agree[k], seen[k]) for k in sorted(seen)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scored", type=int, default=2000)
    args = parser.parse_args()

    from features.contract import LeadBatch
    from features.records import to_records
    from serving.inputs import Limits
    from simulator import simulate
    from training.pipeline import TrainingData, TrainOptions, train

    history = simulate(n_leads=args.leads, seed=args.seed)
    model = train(TrainingData(batch=LeadBatch(history.leads, history.events)), TrainOptions(seed=args.seed)).model
    engine = ScoringEngine(model, "bench", Limits(max_batch=100_000, max_events_per_lead=100_000))
    leads = history.leads.sample(args.scored, random_state=args.seed).reset_index(drop=True)
    records = to_records(leads, history.events)
    result = faithfulness(engine, records, pd.Timestamp("2026-10-01").value // 1000)
    print(f"model on {args.leads:,} simulated leads (seed {args.seed}); {args.scored:,} leads scored")
    print(f"event-type reasons checked: {result.checked:,}; agree: {result.agree:,} ({result.share:.1%})")
    print(f"reasons presenting something the lead did as lowering its chance: {result.action_down}")
    print("| event type | agree / reasons |\n|---|---|")
    for feature, (ok, n) in result.by_feature.items():
        print(f"| {feature} | {ok} / {n} |")

    batch = from_records(records)
    leads_in = [Lead.model_validate(r) for r in records]
    for _ in range(2):  # warm up, then measure
        t0 = time.perf_counter()
        model.predict(batch)
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.predict(batch, explain=True)
        explained = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.score(leads_in, 0)
        scored = time.perf_counter() - t0
    n = len(records)
    print(
        f"per lead in a batch of {n:,}: predict {plain / n * 1e6:.0f} us, predict(explain=True) (contributions and "
        f"effects) {explained / n * 1e6:.0f} us, engine.score (parsing, effects, words) {scored / n * 1e6:.0f} us"
    )


if __name__ == "__main__":
    main()
