"""The rolling-origin backtest's folds, window choice and refit rounds, and calibrations that never reverse a
ranking."""

from __future__ import annotations

import numpy as np

from training.backtest import choose_window, rolling_folds
from training.candidates import LGBM_PARAMS, default_rounds
from training.pipeline import _fit_calibrator, _refit_rounds


def test_folds_learn_only_from_what_came_before_their_window() -> None:
    order = np.random.default_rng(0).permutation(1000)  # positions, oldest first
    y = np.zeros(1000, dtype=int)
    y[::5] = 1
    folds, dropped = rolling_folds(order, y, n_folds=3, test_share=0.1, val_share=0.125)
    assert dropped == [] and [f.number for f in folds] == [1, 2, 3]
    rank = np.empty(1000, dtype=int)
    rank[order] = np.arange(1000)
    # The windows tile the newest 30%, oldest fold first; each learns from everything before its window.
    assert [(rank[f.test].min(), rank[f.test].max()) for f in folds] == [(700, 799), (800, 899), (900, 999)]
    for f in folds:
        assert rank[f.history].max() < rank[f.test].min() and len(f.history) == rank[f.test].min()
        assert rank[f.val].min() > rank[f.fit_rows(1.0)].max()  # validation: the newest part of the history
        recent = f.fit_rows(0.5)
        assert len(recent) == round(0.5 * (len(f.history) - len(f.val)))
        assert rank[recent].max() == rank[f.fit_rows(1.0)].max()  # the most recent half, not the oldest


def test_folds_without_wins_are_left_out_and_said() -> None:
    y = np.zeros(1000, dtype=int)
    y[:600] = np.arange(600) % 2
    y[850:900] = np.arange(50) % 2
    y[950:] = np.arange(50) % 2  # no win in rows 600-849 nor 900-949
    folds, dropped = rolling_folds(np.arange(1000), y, n_folds=3, test_share=0.1)
    assert [f.test.min() for f in folds] == [900] and folds[0].number == 1
    assert len(dropped) == 2
    assert dropped[0].startswith("fold 1") and "test" in dropped[0]
    assert dropped[1].startswith("fold 2") and "validation" in dropped[1]


def test_window_choice_takes_the_best_mean_and_keeps_all_history_on_ties() -> None:
    assert choose_window({1.0: [0.70, 0.72], 0.5: [0.74, 0.73]})[0] == 0.5
    assert choose_window({1.0: [0.70, 0.72], 0.5: [0.72, 0.70]})[0] == 1.0
    window, why = choose_window({1.0: [], 0.5: []})
    assert window == 1.0 and "no fold" in why


def test_calibration_never_reverses_or_flattens_a_ranking() -> None:
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.05, 0.6, 3000)
    y = (rng.random(3000) < 0.65 - raw).astype(int)  # these leads are ranked upside down by the scores
    calibrator, losses = _fit_calibrator(raw, y, seed=0)
    assert "level_only" in losses
    p = calibrator.predict(raw)
    assert np.all(np.diff(p[np.argsort(raw)]) > 0)  # the ranking is kept, strictly
    assert abs(p.mean() - y.mean()) < 0.01  # the level is the calibration leads' won rate
    good_y = (rng.random(3000) < raw).astype(int)
    calibrator, losses = _fit_calibrator(raw, good_y, seed=0)
    assert set(losses) == {"isotonic", "sigmoid"}


def test_refit_rounds_come_only_from_folds_whose_model_ranks_its_window() -> None:
    folds = {
        "1": {"roc_auc": 0.81, "best_iteration": 240},
        "2": {"roc_auc": 0.42, "best_iteration": 900},  # anti-ranks its window: its stop is noise
        "3": {"roc_auc": 0.79, "best_iteration": 310},
    }
    rounds, why = _refit_rounds(folds, None)
    assert rounds == 310
    assert "fold 1: 240" in why and "fold 3: 310" in why and "fold 2" not in why
    # No fold ranks its window (a drifting history): a stop after a round or two says nothing either.
    lost = {k: {"roc_auc": a, "best_iteration": n} for k, a, n in (("1", 0.39, 72), ("2", 0.52, 1), ("3", 0.46, 4))}
    rounds, why = _refit_rounds(lost, None)
    assert rounds == default_rounds() == round(10 / LGBM_PARAMS["learning_rate"])
    assert "no backtest fold ranks its window" in why and "0.390" in why
    assert _refit_rounds(lost, 0.1)[0] == 100  # LightGBM's own default: 100 rounds at 0.1
