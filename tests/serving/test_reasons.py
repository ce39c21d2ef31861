"""Reasons people can trust (issue 19): every reason about an event type says what taking that engagement away,
or adding it, really does to the lead's probability, on a trained model and 2,000 leads."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.bench_reasons import faithfulness
from features.records import to_records
from serving.inputs import Limits
from serving.model_store import load_model, stored_model
from serving.schemas import Lead
from serving.scoring import ScoringEngine
from tests.serving.session import Trained

pytestmark = pytest.mark.integration

N_LEADS = 2000


def test_every_event_reason_says_what_taking_it_away_does(trained: Trained) -> None:
    loaded = load_model(stored_model(trained.bento_tag))
    engine = ScoringEngine(loaded.model, loaded.model_version, Limits(max_batch=N_LEADS, max_events_per_lead=5000))
    leads = trained.history.leads.sample(N_LEADS, random_state=19).reset_index(drop=True)
    records = to_records(leads, trained.history.events)  # each lead as of its decision time
    result = faithfulness(engine, records, pd.Timestamp("2026-10-01").value // 1000)
    assert result.checked > 500, result  # not vacuous: most leads have an engagement reason
    assert result.action_down == 0, result
    assert result.share >= 0.95, result
    # Both kinds occur: engagement shown (up) and engagement missing (down).
    answer = engine.score([Lead.model_validate(r) for r in records[:200]], 0)
    directions = {(r["feature"], r["direction"]) for lead in answer.body["leads"] for r in lead["reasons"]}
    assert {d for f, d in directions if f in engine.explainer.writer.event_types} == {"up", "down"}


def test_effects_are_what_the_probability_would_be_without(trained: Trained) -> None:
    loaded = load_model(stored_model(trained.bento_tag))
    engine = ScoringEngine(loaded.model, loaded.model_version, Limits(max_batch=500, max_events_per_lead=5000))
    leads = trained.history.leads.sample(300, random_state=23).reset_index(drop=True)
    answer = engine.score([Lead.model_validate(r) for r in to_records(leads, trained.history.events)], 0)
    for scored in answer.body["leads"]:
        for reason in scored["reasons"]:
            assert reason["effect"] == pytest.approx(100 * (scored["p_close"] - reason["p_without"]), abs=0.06)
            assert (reason["effect"] > 0) == (reason["direction"] == "up")
            assert 0 < reason["p_without"] < 1
