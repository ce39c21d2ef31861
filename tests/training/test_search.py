"""The optional LightGBM parameter search: default first, best by validation loss, bounded by trials and time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss
from typer.testing import CliRunner

from simulator import SimulatedHistory
from training import candidates as cand
from training.pipeline import TrainOptions, load_training_data, train

LAYOUT = cand.BoosterLayout(["a", "b", "c"], [2])
# The booster's own names of the searched parameters (LightGBM aliases of the scikit-learn names).
NATIVE = {
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "min_child_samples": "min_data_in_leaf",
    "colsample_bytree": "feature_fraction",
    "reg_lambda": "lambda_l2",
}


def _frames(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 3000
    a, b, c = rng.poisson(3, n), rng.normal(size=n), rng.integers(0, 5, n)
    # An interaction and a curve, so parameters actually matter.
    logit = -2 + 0.4 * a * (c > 2) - 0.8 * b**2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([a, b, c]).astype(np.float64)
    return X[:2000], y[:2000], X[2000:], y[2000:]


def test_search_starts_from_the_defaults_and_keeps_the_best_validation_loss() -> None:
    X, y, Xv, yv = _frames()
    found = cand.search_lightgbm(X, y, Xv, yv, seed=1, layout=LAYOUT, monotone=None, budget_seconds=600, max_trials=4)
    assert len(found.trials) == 4 and found.stopped_by == "trials"
    assert {k: found.trials[0][k] for k in cand.TUNED_KEYS} == {k: cand.LGBM_PARAMS[k] for k in cand.TUNED_KEYS}
    losses = [t["val_log_loss"] for t in found.trials]
    best = int(np.argmin(losses))
    assert found.params == {k: found.trials[best][k] for k in cand.TUNED_KEYS}
    # The returned model is the best trial's model, not a refit with other settings.
    assert log_loss(yv, found.model.booster_.predict(Xv)) == pytest.approx(losses[best])
    assert len({tuple(found.trials[i][k] for k in cand.TUNED_KEYS) for i in range(4)}) == 4
    again = cand.search_lightgbm(X, y, Xv, yv, seed=1, layout=LAYOUT, monotone=None, budget_seconds=600, max_trials=4)
    assert again.trials == found.trials


def test_an_exhausted_budget_stops_after_the_default_trial() -> None:
    X, y, Xv, yv = _frames()
    found = cand.search_lightgbm(X, y, Xv, yv, seed=1, layout=LAYOUT, monotone=None, budget_seconds=1e-9, max_trials=10)
    assert len(found.trials) == 1 and found.stopped_by == "budget"
    with pytest.raises(ValueError, match="positive time budget"):
        cand.search_lightgbm(X, y, Xv, yv, seed=1, layout=LAYOUT, monotone=None, budget_seconds=0, max_trials=10)


def test_training_with_a_search_reports_it_and_serves_the_chosen_parameters(
    small_history: tuple[Path, SimulatedHistory],
) -> None:
    data_dir, _ = small_history
    opts = TrainOptions(seed=3, register=False, search_seconds=600, search_trials=2)
    res = train(load_training_data(data_dir=data_dir), opts)
    search = res.metrics["lightgbm_search"]
    assert search["trials"] == 2
    assert search["best_val_log_loss"] <= search["default_val_log_loss"]
    best = min(search["history"], key=lambda t: t["val_log_loss"])
    assert res.metrics["lightgbm_params"] == {k: best[k] for k in cand.TUNED_KEYS}
    served = res.model.classifier.params
    assert {k: served[NATIVE[k]] for k in cand.TUNED_KEYS} == res.metrics["lightgbm_params"]


def test_train_cli_refuses_a_negative_search_budget(tmp_path: Path) -> None:
    from leadrank.cli import app

    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--search-seconds", "-1"])
    assert res.exit_code == 2
    assert "--search-seconds" in res.output and "Traceback" not in res.output
