"""Verdicts on hand-made windows: no drift is ok, drift is act, an empty window has nothing to judge, and the
prediction log joins scores with outcomes. No model needed: the reference and the window are built directly."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from model.reference import Reference, categorical_distribution, numeric_distribution
from monitoring import ACT, NOT_JUDGED, OK, Window, judge, parse_time, window_from_log
from monitoring.checks import MonitoringError

SOURCES = ("inbound", "telemarketing")


def reference(rng: np.random.Generator, n: int = 5000) -> Reference:
    x = rng.normal(size=n)
    source = (rng.random(n) < 0.3).astype(float)  # code 1 = telemarketing, 30%
    p = 1 / (1 + np.exp(-(x - 2)))
    mix = categorical_distribution(source, SOURCES)
    return Reference(
        n_leads=n,
        features={"x": numeric_distribution(x), "source": mix},
        score=numeric_distribution(p),
        source_mix=mix,
        positive_rate=float(p.mean()),
        period={},
    )


def window(rng: np.random.Generator, n: int = 3000, shift: float = 0.0, tele: float = 0.3, lie: float = 1.0) -> Window:
    """Leads like the reference's; `shift` moves x, `tele` sets the telemarketing share, and outcomes are drawn
    from p * `lie` (1: the scores are honest)."""
    x = rng.normal(loc=shift, size=n)
    source = (rng.random(n) < tele).astype(float)
    p = 1 / (1 + np.exp(-(x - 2)))
    won = (rng.random(n) < np.clip(p * lie, 0, 1)).astype(float)
    ready = p >= np.quantile(p, 0.9)
    return Window(
        origin="test",
        since=None,
        until=None,
        lead_ids=np.array([f"L{k}" for k in range(n)]),
        p_close=p,
        won=won,
        sales_ready=ready,
        expected_hours=np.full(n, 2.0),
        realised_hours=np.full(n, 2.0),
        source=np.array(SOURCES)[source.astype(int)],
        values=np.vstack([x, source]),
        columns=["x", "source"],
        attribute_features={"source": "source"},
    )


def verdicts(report: object) -> dict[str, str]:
    return {check.name: check.verdict for check in report.checks}  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(5))
def test_no_drift_is_ok_everywhere(seed: int) -> None:
    rng = np.random.default_rng(seed)
    report = judge(window(rng), reference(rng), "3", test_auc=None)
    assert report.verdict == OK, [(c.name, c.verdict, c.reason) for c in report.checks]
    assert "still holds" in report.headline
    assert set(verdicts(report).values()) == {OK}


def test_shifted_feature_and_source_mix_are_act_with_reasons() -> None:
    rng = np.random.default_rng(1)
    report = judge(window(rng, shift=1.0, tele=0.7), reference(rng), "3", test_auc=None)
    found = verdicts(report)
    assert report.verdict == ACT
    assert found["feature_psi"] == ACT and found["score_psi"] == ACT and found["source_mix"] == ACT
    mix = next(c for c in report.checks if c.name == "source_mix")
    assert re.search(r"telemarketing 3\d% -> 69%", mix.reason) and mix.action
    assert report.feature_psi["x"] > 0.25


def test_scores_that_promise_too_much_are_act_on_calibration_and_the_plan() -> None:
    rng = np.random.default_rng(2)
    report = judge(window(rng, lie=0.2), reference(rng), "3", test_auc=None)
    found = verdicts(report)
    assert found["calibration_ece"] == ACT
    assert found["sales_ready_close_rate"] == ACT and found["closes_per_hour"] == ACT
    assert found["feature_psi"] == OK  # the inputs did not move: only the relation did


def test_auc_drop_against_the_models_test_auc() -> None:
    rng = np.random.default_rng(3)
    w = window(rng)
    auc = judge(w, reference(rng), "3", test_auc=None).checks
    measured = next(c for c in auc if c.name == "auc").value
    assert measured is not None
    found = verdicts(judge(w, reference(rng), "3", test_auc=measured + 0.15))
    assert found["auc"] == ACT
    assert verdicts(judge(w, reference(rng), "3", test_auc=measured + 0.01))["auc"] == OK


def test_an_empty_window_has_nothing_to_judge() -> None:
    rng = np.random.default_rng(4)
    empty = Window("prediction log", None, None, np.array([]), np.array([]), np.array([]))
    report = judge(empty, reference(rng), "3", test_auc=0.8)
    assert report.verdict == NOT_JUDGED and report.checks == []
    assert report.headline.startswith("Nothing to judge: no lead of model version 3 in the window")


def test_too_few_outcomes_are_not_judged_and_say_what_is_missing() -> None:
    rng = np.random.default_rng(5)
    w = window(rng)
    w.won[:] = np.nan
    found = {c.name: c for c in judge(w, reference(rng), "3", test_auc=0.8).checks}
    assert found["calibration_ece"].verdict == NOT_JUDGED
    assert "leadrank outcomes import" in found["calibration_ece"].reason
    assert found["feature_psi"].verdict == OK


def test_without_a_reference_drift_is_not_judged() -> None:
    rng = np.random.default_rng(6)
    found = {c.name: c for c in judge(window(rng), None, "3", test_auc=None).checks}
    assert found["score_psi"].verdict == NOT_JUDGED and "retrain" in found["score_psi"].action
    assert found["calibration_ece"].verdict == OK


def test_the_log_window_keeps_the_latest_score_and_the_ranked_stage() -> None:
    t = pd.Timestamp("2026-09-01")
    predictions = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "lead_id": ["A", "A", "B", "C", "D"],
            "model_version": ["3", "3", "3", "3", "2"],
            "p_close": [0.2, 0.3, 0.1, 0.5, 0.9],
            "stage": ["sales_ready", None, "nurture", None, "sales_ready"],
            "scored_at": [t, t + pd.Timedelta(days=1), t, t + pd.Timedelta(days=40), t],
        }
    )
    outcomes = pd.DataFrame({"lead_id": ["A", "B", "Z"], "outcome": ["won", "lost", "won"]})
    w = window_from_log(
        predictions, outcomes, "3", parse_time("2026-09-01", "--since"), parse_time("2026-10-01", "--until")
    )
    assert w.lead_ids.tolist() == ["A", "B"]
    assert w.p_close.tolist() == [0.3, 0.1]
    assert w.won.tolist() == [1.0, 0.0]
    assert w.sales_ready is not None and w.sales_ready.tolist() == [True, False]
    assert any("other model versions" in note for note in w.notes)


def test_bad_window_times_are_refused_with_the_option_named() -> None:
    with pytest.raises(MonitoringError, match="--since 'last week' is not an ISO 8601"):
        parse_time("last week", "--since")
    assert parse_time("2026-09-01T02:00:00+02:00", "--until") == pd.Timestamp("2026-09-01")
