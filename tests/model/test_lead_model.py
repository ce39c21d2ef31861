"""The model's one `predict`: every way it takes through LightGBM gives LightGBM's own answer, whatever the size of
the batch and whatever the input form, and it is what the stored form and the pyfunc give back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contract import LeadBatch
from features.records import from_records, to_records
from model import LeadModel, Prediction
from model import lead_model as lm
from simulator import SimulatedHistory

FIELDS = ("p_close", "expected_hours", "expected_days", "contributions")


def _reference(model: LeadModel, batch: LeadBatch) -> dict[str, np.ndarray]:
    """What the boosters say through `Booster.predict` on the model's input matrix, and the calibrator."""
    values = model.features.transform_columns(model.features.columns_of(batch)[1])
    M = model.input.matrix(values)
    contributions = np.asarray(model.classifier.predict(M, pred_contrib=True))
    raw = np.asarray(model.classifier.predict(M))
    assert model.hours is not None and model.days is not None
    return {
        "p_close": model.calibrator.predict(raw),
        "expected_hours": np.maximum(model.hours.predict(M), 0.1),
        "expected_days": np.maximum(np.expm1(model.days.predict(M)), 0.0),
        "contributions": contributions[:, :-1],
    }


def _close(got: Prediction, expected: dict[str, np.ndarray], rows: Any = slice(None)) -> None:
    for name in FIELDS:
        np.testing.assert_allclose(getattr(got, name), expected[name][rows], rtol=0, atol=1e-9, err_msg=name)


def _sample(history: SimulatedHistory, n: int, seed: int) -> LeadBatch:
    return LeadBatch(history.leads.sample(n, random_state=seed).reset_index(drop=True), history.events)


class _Counting:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.inner(*args)


def test_a_batch_gives_lightgbms_answer(lead_model: LeadModel, history: SimulatedHistory) -> None:
    batch = _sample(history, 300, 1)
    _close(lead_model.predict(batch, explain=True), _reference(lead_model, batch))


def test_big_batches_take_the_pattern_path_and_agree(
    lead_model: LeadModel, history: SimulatedHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _sample(history, 700, 2)
    patterns = lead_model._patterns
    assert patterns is not None and patterns.mismatch() is None  # the trained model's trees are replicated exactly
    counting = _Counting(patterns)
    monkeypatch.setitem(lead_model.__dict__, "_patterns", counting)
    _close(lead_model.predict(batch, explain=True), _reference(lead_model, batch))
    assert counting.calls == 1
    monkeypatch.setattr(lm, "_PATTERNS_FROM", 10_000)
    lead_model.predict(batch, explain=True)  # below the threshold: LightGBM's own pred_contrib
    assert counting.calls == 1


def test_one_lead_takes_the_single_row_path_and_agrees(
    lead_model: LeadModel, history: SimulatedHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _sample(history, 30, 3)
    expected = _reference(lead_model, batch)
    singles = lead_model._single_rows
    assert sorted(kind for _, kind in singles) == ["contrib", "normal", "normal", "normal"]
    counters = {key: _Counting(single) for key, single in singles.items()}
    monkeypatch.setitem(lead_model.__dict__, "_single_rows", counters)
    for i in range(len(batch)):
        one = LeadBatch(batch.leads.iloc[[i]], batch.events)
        _close(lead_model.predict(one, explain=True), expected, slice(i, i + 1))
        assert lead_model.predict(one).p_close[0] == pytest.approx(expected["p_close"][i], abs=1e-9)
    assert sum(c.calls for c in counters.values()) == 30 * 3 + 30 * 3  # explain: contrib + 2 heads; plain: 3


def test_without_explain_the_estimates_are_the_same(lead_model: LeadModel, history: SimulatedHistory) -> None:
    batch = _sample(history, 200, 4)
    plain, explained = lead_model.predict(batch), lead_model.predict(batch, explain=True)
    assert plain.contributions is None and explained.contributions is not None
    for name in ("p_close", "expected_hours", "expected_days"):
        np.testing.assert_allclose(getattr(plain, name), getattr(explained, name), rtol=0, atol=1e-12)


def test_explain_gives_the_values_as_computed(lead_model: LeadModel, history: SimulatedHistory) -> None:
    batch = _sample(history, 50, 5)
    got = lead_model.predict(batch, explain=True)
    frame = lead_model.features.transform(batch)
    assert got.values is not None
    for k, column in enumerate(lead_model.columns):
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            assert np.isnan(got.values[:, k]).all()
            expected = frame[column].astype(object).where(frame[column].notna(), "").tolist()
            assert got.categories[column].tolist() == expected, column
        else:  # "never" stays missing here; the boosters read it filled in
            np.testing.assert_array_equal(got.values[:, k], frame[column].to_numpy(dtype=float), err_msg=column)
    assert any(column.startswith("days_since_last_") for column in lead_model.columns)


def test_request_records_score_as_the_tables_do(lead_model: LeadModel, history: SimulatedHistory) -> None:
    leads = history.leads.sample(40, random_state=6).reset_index(drop=True)
    batch = LeadBatch(leads, history.events)
    from_tables = lead_model.predict_frame(batch)
    # The request shape carries the events before the decision time, with as_of = decided_at.
    records = from_records(to_records(leads, history.events))
    from_requests = lead_model.predict_frame(records)
    pd.testing.assert_frame_equal(from_tables, from_requests)


def test_predict_frame_is_the_scored_table(lead_model: LeadModel, history: SimulatedHistory) -> None:
    batch = _sample(history, 20, 7)
    frame = lead_model.predict_frame(batch)
    assert list(frame.columns) == ["lead_id", "p_close", "expected_hours", "expected_days_to_close"]
    assert frame["lead_id"].tolist() == batch.leads["lead_id"].astype(str).tolist()
    assert frame["p_close"].between(0, 1).all() and frame["p_close"].nunique() > 5  # probabilities, not labels


def test_precomputed_feature_values_score_as_the_tables_do(lead_model: LeadModel, history: SimulatedHistory) -> None:
    from model import FeatureValues

    batch = LeadBatch(history.leads.sample(120, random_state=9).reset_index(drop=True), history.events)
    values = lead_model.features.transform_columns(lead_model.features.columns_of(batch)[1])
    a, b = lead_model.predict(batch, explain=True), lead_model.predict(FeatureValues(values), explain=True)
    for name in ("p_close", "expected_hours", "expected_days", "contributions", "effects", "values"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
