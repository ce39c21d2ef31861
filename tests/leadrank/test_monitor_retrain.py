"""`leadrank monitor` and `leadrank retrain` against a real MLflow store holding the training tests' champion.

Retrain tests work on a copy of the store's database (the champion's artifacts are read where they are), so the
shared champion never changes. The kill tests run `train` and `retrain` as child processes that pause just before
the registration moves the aliases (`training.registry.PAUSE_ENV`), kill them there with SIGKILL, and check that
the aliases are exactly as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leadrank.cli import app
from simulator import SimulatedHistory, simulate, write_history
from tests.conftest import use_store
from tests.training.conftest import Trained
from training.registry import PAUSE_ENV

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def copy_store(trained: Trained, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of its own with the trained champion (the database copied; artifacts stay where they are)."""
    home.mkdir(parents=True)
    shutil.copyfile(trained.home / "mlflow.db", home / "mlflow.db")
    use_store(monkeypatch, home)
    monkeypatch.setenv("MLFLOW_UV_AUTO_DETECT", "false")
    return home


def aliases(home: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("lead-scorer")
    return {alias: str(version) for alias, version in model.aliases.items()}


def new_history(tmp: Path, seed: int, n: int, noise_before: float | None = None) -> Path:
    """A history of leads the champion never saw (ids prefixed `N`); with `noise_before`, outcomes of the closed
    leads older than that share of them shuffled (a challenger learning from noise), the newest ones true."""
    h = simulate(n_leads=n, seed=seed)
    leads, events = h.leads.copy(), h.events.copy()
    leads["lead_id"] = "N" + leads["lead_id"]
    events["lead_id"] = "N" + events["lead_id"]
    if noise_before is not None:
        closed = np.flatnonzero(leads["outcome"].notna().to_numpy())
        ordered = closed[np.argsort(leads["decided_at"].to_numpy()[closed], kind="stable")]
        old = ordered[: round(noise_before * len(ordered))]
        shuffled = leads["outcome"].to_numpy()[old].copy()
        np.random.default_rng(seed).shuffle(shuffled)
        leads.loc[old, "outcome"] = shuffled
    truth = h.truth.assign(lead_id="N" + h.truth["lead_id"])
    write_history(SimulatedHistory(leads, events, truth), tmp)
    return tmp


@pytest.mark.integration
def test_monitor_on_the_training_data_holds_and_writes_a_self_contained_page(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_store(monkeypatch, trained.home)
    page = tmp_path / "m" / "monitor.html"
    res = runner.invoke(app, ["monitor", "--data", str(trained.data_dir), "--no-log", "--json", "--out", str(page)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    checks = {ch["name"]: ch for ch in doc["checks"]}
    assert doc["model_version"] == trained.result.registration.version
    # The training leads themselves: the drift checks see the reference they were built from.
    for name in ("score_psi", "feature_psi", "source_mix", "new_categories", "missing_values"):
        assert checks[name]["verdict"] == "ok", checks[name]
    assert checks["calibration_ece"]["verdict"] in ("ok", "watch", "act")
    assert doc["closed_leads"] > 0 and doc["per_source"] and doc["calibration_curve"]
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and doc["headline"].split(":")[0] in html
    for external in ('src="http', 'href="http', "<link", "<script", "url(http", "@import"):
        assert external not in html


@pytest.mark.integration
def test_monitor_with_an_empty_window_says_there_is_nothing_to_judge(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_store(monkeypatch, trained.home)
    monkeypatch.setenv("LEADRANK_PREDICTION_DB", f"sqlite:///{tmp_path / 'log.db'}")
    page = tmp_path / "monitor.html"
    res = runner.invoke(app, ["monitor", "--no-log", "--out", str(page)])  # the (empty) prediction log
    assert res.exit_code == 0, res.output
    assert "n/a: Nothing to judge: no lead of model version" in " ".join(res.stdout.split())
    assert "Nothing to judge" in page.read_text(encoding="utf-8")
    res = runner.invoke(
        app, ["monitor", "--data", str(trained.data_dir), "--since", "2030-01-01", "--no-log", "--out", str(page)]
    )
    assert res.exit_code == 0 and "Nothing to judge" in res.stdout
    bad = runner.invoke(app, ["monitor", "--since", "soon", "--no-log", "--out", str(page)])
    assert bad.exit_code == 2 and "--since 'soon' is not an ISO 8601" in bad.output


@pytest.mark.integration
def test_monitor_logs_a_run_tagged_with_the_model_version(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    home = copy_store(trained, tmp_path / "home", monkeypatch)
    res = runner.invoke(app, ["monitor", "--data", str(trained.data_dir), "--json", "--out", str(tmp_path / "m.html")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}").get_run(doc["mlflow_run_id"])
    assert run.data.tags["leadrank.model_version"] == doc["model_version"]
    assert run.data.tags["leadrank.kind"] == "monitoring" and run.data.tags["leadrank.verdict"] == doc["verdict"]
    assert "feature_psi" in run.data.metrics and any(key.startswith("psi.") for key in run.data.metrics)


@pytest.mark.integration
def test_retrain_without_new_data_does_nothing_and_says_so(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = copy_store(trained, tmp_path / "home", monkeypatch)
    before = aliases(home)
    res = runner.invoke(app, ["retrain", "--data", str(trained.data_dir), "--json"])
    assert res.exit_code == 4, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "nothing_new" and doc["new_closed_leads"] == 0 and doc["training"] is None
    assert "nothing to do" in doc["message"]
    assert aliases(home) == before


@pytest.mark.integration
def test_retrain_refuses_a_worse_challenger_and_keeps_the_champion(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = copy_store(trained, tmp_path / "home", monkeypatch)
    monkeypatch.setenv("LEADRANK_MIN_CLOSED_LEADS", "100")
    monkeypatch.setenv("LEADRANK_MIN_WINS", "10")
    data = new_history(tmp_path / "noisy", seed=12, n=3000, noise_before=0.85)
    before = aliases(home)
    res = runner.invoke(app, ["retrain", "--data", str(data), "--json"])
    assert res.exit_code == 3, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "refused" and doc["new_closed_leads"] > 1000
    registration = doc["training"]["registration"]
    assert not registration["promoted"] and registration["previous_champion"] == before["champion"]
    checks = {check["name"]: check for check in registration["gate"]["checks"]}
    assert not checks["auc_drop"]["passed"], checks["auc_drop"]
    after = aliases(home)
    assert after["champion"] == before["champion"] and after["challenger"] == registration["version"]
    # The same data again: the refused challenger already learnt from all of it, so nothing is trained.
    again = runner.invoke(app, ["retrain", "--data", str(data), "--json"])
    assert again.exit_code == 4, again.output
    assert f"challenger version {registration['version']} was already trained" in json.loads(again.stdout)["message"]
    assert aliases(home) == after


def _pause_and_kill(command: list[str], home: Path, tmp_path: Path) -> str:
    marker = tmp_path / "paused"
    env = {
        **os.environ,
        "LEADRANK_HOME": str(home),
        "LEADRANK_MIN_CLOSED_LEADS": "100",
        "LEADRANK_MIN_WINS": "10",
        "MLFLOW_UV_AUTO_DETECT": "false",
        PAUSE_ENV: str(marker),
    }
    for name in ("MLFLOW_TRACKING_URI", "LEADRANK_TRACKING_URI", "LEADRANK_MODEL_NAME"):
        env.pop(name, None)
    child = subprocess.Popen(
        [sys.executable, "-m", "leadrank", *command],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 900
        while not marker.exists() or not marker.read_text():
            if child.poll() is not None:
                pytest.fail(
                    f"leadrank {command[0]} ended ({child.returncode}) before registering:\n{child.stderr.read()}"
                )
            assert time.monotonic() < deadline, "registration never reached its pause point"
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    return marker.read_text()


@pytest.mark.integration
@pytest.mark.parametrize("command", ["train", "retrain"])
def test_a_kill_during_registration_leaves_the_aliases_as_they_were(
    command: str, trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    home = copy_store(trained, tmp_path / "home", monkeypatch)
    data = new_history(tmp_path / "new", seed=13, n=2500)
    before = aliases(home)
    version = _pause_and_kill([command, "--data", str(data)], home, tmp_path)
    assert version not in before.values()
    assert aliases(home) == before
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    # The version was registered (the kill came after), it just never became challenger or champion.
    assert client.get_model_version("lead-scorer", version).aliases == []
    # The store still works: the champion loads and lists.
    res = runner.invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
