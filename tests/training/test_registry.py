"""The promotion gate (pure) and the guarded registry on a real MLflow store (SQLite in a temp dir).

Creating an MLflow SQLite store runs every schema migration (seconds), so the module builds one store with one
logged model and each test works on its own copy of that database file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from leadrank.commands import train as train_commands
from leadrank.commands.models import models as models_command
from leadrank.config import gate_policy, tracking_config
from leadrank.settings import Settings
from training.registry import (
    CHALLENGER,
    CHAMPION,
    HISTORY_TAG,
    GateCheck,
    GateInputError,
    GateMetrics,
    GatePolicy,
    RegistryError,
    champion_version,
    evaluate_gate,
    list_versions,
    promote,
    register_and_gate,
    rollback,
)
from training.tracking import (
    TrackingConfig,
    TrackingError,
    configure_tracking,
    get_or_create_experiment,
    mlflow_server_command,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import RegisteredModel

GOOD = GateMetrics(roc_auc=0.743, expected_closes_at_capacity=42.0, ece=0.02, n_closed=1500, n_wins=180)
POLICY = GatePolicy()

# Variables that would steer the store away from the test's temp dir or leak the URI out of it.
_STORE_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _metrics(**changes: float) -> GateMetrics:
    values = {
        "roc_auc": GOOD.roc_auc,
        "expected_closes_at_capacity": GOOD.expected_closes_at_capacity,
        "ece": GOOD.ece,
        "n_closed": GOOD.n_closed,
        "n_wins": GOOD.n_wins,
    }
    values.update(changes)
    return GateMetrics(**values)  # type: ignore[arg-type]


def _check(decision_checks: tuple[GateCheck, ...], name: str) -> GateCheck:
    return next(c for c in decision_checks if c.name == name)


# ---------------------------------------------------------------------------------------------------------
# The gate, no MLflow.


def test_first_model_with_enough_data_is_promoted() -> None:
    decision = evaluate_gate(GOOD, None, POLICY)
    assert decision.promote
    assert {c.name for c in decision.checks} == {"closed_leads", "wins", "calibration_ece"}
    assert decision.failed == ()


def test_first_model_with_too_few_wins_is_refused_with_the_shortfall() -> None:
    decision = evaluate_gate(_metrics(n_wins=40), None, POLICY)
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["wins"]
    wins = _check(decision.checks, "wins")
    assert (wins.value, wins.threshold) == (40.0, 100.0)
    assert wins.message == "only 40 won leads in the test period, 60 short of the 100 needed"
    assert "60 short of the 100 needed" in decision.summary()


def test_first_model_ece_is_reported_but_does_not_block() -> None:
    decision = evaluate_gate(_metrics(ece=0.09), None, POLICY)
    assert decision.promote
    ece = _check(decision.checks, "calibration_ece")
    assert not ece.passed and not ece.blocking
    assert "0.090 is 0.040 above the limit 0.050" in ece.message


def test_worse_auc_beyond_allowed_drop_is_refused_with_the_gap() -> None:
    decision = evaluate_gate(_metrics(roc_auc=0.712), GOOD, POLICY)
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["auc_drop"]
    assert decision.failed[0].message == "AUC 0.712 is 0.031 below champion 0.743 (allowed drop 0.005)"
    assert math.isclose(decision.failed[0].threshold, 0.738)


def test_auc_drop_exactly_at_the_allowance_passes_and_just_beyond_fails() -> None:
    assert evaluate_gate(_metrics(roc_auc=0.738), GOOD, POLICY).promote
    assert not evaluate_gate(_metrics(roc_auc=0.7379), GOOD, POLICY).promote


def test_closes_at_capacity_tolerance_is_relative() -> None:
    # 0.5% of 42 closes is 0.21.
    assert evaluate_gate(_metrics(expected_closes_at_capacity=41.80), GOOD, POLICY).promote
    decision = evaluate_gate(_metrics(expected_closes_at_capacity=41.0), GOOD, POLICY)
    assert [c.name for c in decision.failed] == ["closes_at_capacity"]
    assert decision.failed[0].message == (
        "expected closes at capacity 41.00 is 2.4% below champion 42.00 (allowed drop 0.5%)"
    )


def test_ece_blocks_once_there_is_a_champion() -> None:
    decision = evaluate_gate(_metrics(ece=0.06), GOOD, POLICY)
    assert [c.name for c in decision.failed] == ["calibration_ece"]


def test_champion_scored_on_other_data_cannot_be_compared() -> None:
    decision = evaluate_gate(GOOD, _metrics(n_closed=1400), POLICY)
    assert [c.name for c in decision.failed] == ["same_test_data"]
    assert "same test period" in decision.failed[0].message


def test_undefined_auc_fails_instead_of_passing_silently() -> None:
    decision = evaluate_gate(_metrics(roc_auc=float("nan")), GOOD, POLICY)
    assert [c.name for c in decision.failed] == ["auc_drop"]
    assert "undefined" in decision.failed[0].message


def test_better_candidate_passes_every_check() -> None:
    better = _metrics(roc_auc=0.75, expected_closes_at_capacity=43.0, ece=0.03)
    decision = evaluate_gate(better, GOOD, POLICY)
    assert decision.promote
    assert all(c.passed for c in decision.checks)
    assert len(decision.checks) == 6


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"roc_auc": 1.2}, "roc_auc must be between 0 and 1"),
        ({"ece": -0.1}, "ece must be between 0 and 1"),
        ({"n_wins": 2000}, "n_wins (2000) cannot exceed n_closed (1500)"),
        ({"n_closed": 12.5}, "n_closed must be a whole number"),
        ({"expected_closes_at_capacity": -1.0}, "expected_closes_at_capacity must be between 0"),
    ],
)
def test_bad_metrics_are_rejected_with_the_field_named(changes: dict[str, float], fragment: str) -> None:
    with pytest.raises(GateInputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        _metrics(**changes)


def test_metrics_accept_numpy_scalars() -> None:
    # Metrics computed with numpy arrive as numpy scalars; the annotations say float/int.
    m = GateMetrics(np.float64(0.7), np.float32(3.5), np.float64(0.01), np.int64(1200), np.int32(130))  # type: ignore[arg-type]
    assert (m.n_closed, m.n_wins) == (1200, 130)
    assert type(m.roc_auc) is float


def test_policy_comes_from_settings_and_rejects_nonsense() -> None:
    policy = gate_policy(Settings(min_closed_leads=50, min_wins=5))
    assert (policy.min_closed_leads, policy.min_wins) == (50, 5)
    assert policy.max_auc_drop == 0.005
    with pytest.raises(GateInputError, match="max_ece"):
        GatePolicy(max_ece=2.0)


def test_tracking_config_resolves_the_settings_and_the_legacy_adapter_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADRANK_TRACKING_URI", raising=False)
    settings = Settings(home=tmp_path, experiment="exp", model_name="m")
    config = tracking_config(settings)
    assert config == TrackingConfig(f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}", tmp_path, "exp", "m")
    assert config.artifact_root == (tmp_path / "mlartifacts").resolve()


def test_decision_tags_record_every_check() -> None:
    tags = evaluate_gate(_metrics(roc_auc=0.712), GOOD, POLICY).as_tags()
    assert tags["leadrank.gate.promote"] == "false"
    assert tags["leadrank.gate.auc_drop.passed"] == "false"
    assert tags["leadrank.gate.auc_drop.message"].startswith("AUC 0.712 is 0.031 below")
    assert float(tags["leadrank.gate.closed_leads.value"]) == 1500.0


# ---------------------------------------------------------------------------------------------------------
# A real MLflow store.


@dataclass(frozen=True)
class Store:
    config: TrackingConfig
    run_id: str
    features: np.ndarray


def _isolate_mlflow(mp: pytest.MonkeyPatch) -> None:
    """Undo at teardown everything MLflow and our code may change in this process: env and global URIs."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    for name in list(os.environ):
        if name.startswith("LEADRANK_") or name in _STORE_ENV:
            mp.delenv(name)
    # Copying uv.lock into every logged model is slow and irrelevant to the registry.
    mp.setenv("MLFLOW_UV_AUTO_DETECT", "false")
    mp.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    mp.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    home = tmp_path_factory.mktemp("template")
    rng = np.random.default_rng(7)
    features = rng.normal(size=(50, 3))
    target = (features[:, 0] + 0.5 * rng.normal(size=50) > 0).astype(int)
    with pytest.MonkeyPatch.context() as mp:
        _isolate_mlflow(mp)
        config = tracking_config(Settings(home=home))
        configure_tracking(config)
        experiment_id = get_or_create_experiment(config)
        with mlflow.start_run(experiment_id=experiment_id) as run:
            mlflow.sklearn.log_model(
                LogisticRegression().fit(features, target),
                name="model",
                pip_requirements=["scikit-learn"],
                # The default (skops) imports for seconds on first use; the registry does not care how.
                serialization_format="cloudpickle",
            )
        yield Store(config, run.info.run_id, features)


@pytest.fixture
def store(template: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    _isolate_mlflow(monkeypatch)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(template.config.home / "mlflow.db", home / "mlflow.db")
    return Store(tracking_config(Settings(home=home)), template.run_id, template.features)


def _model(store: Store) -> tuple[MlflowClient, RegisteredModel]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store.config.tracking_uri)
    return client, client.get_registered_model(store.config.model_name)


def _aliases(model: RegisteredModel) -> dict[str, str]:
    # The SQLite registry returns alias targets as ints, a server as strings.
    return {alias: str(version) for alias, version in model.aliases.items()}


@pytest.mark.integration
def test_configure_tracking_uses_home_and_leaks_nothing_into_the_environment(store: Store) -> None:
    import mlflow

    uri = configure_tracking(store.config)
    assert uri == f"sqlite:///{(store.config.home / 'mlflow.db').resolve()}"
    assert mlflow.get_tracking_uri() == uri and mlflow.get_registry_uri() == uri
    assert not any(name in os.environ for name in _STORE_ENV)
    # Schema creation and migration chatter stays out of the user's log.
    assert logging.getLogger("mlflow.store.db.utils").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("alembic").getEffectiveLevel() >= logging.WARNING
    # A second store in the same process is not shadowed by the first one's URI.
    other = tracking_config(Settings(home=store.config.home / "other"))
    assert configure_tracking(other) == f"sqlite:///{(other.home / 'mlflow.db').resolve()}"


def test_mlflow_tracking_uri_overrides_the_local_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    monkeypatch.delenv("LEADRANK_TRACKING_URI", raising=False)
    settings = Settings(home=tmp_path)
    assert settings.resolved_tracking_uri() == "sqlite:////elsewhere/mlflow.db"
    command = mlflow_server_command(tracking_config(settings))
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:////elsewhere/mlflow.db"


@pytest.mark.integration
def test_experiment_artifacts_live_under_home(store: Store) -> None:
    import mlflow

    configure_tracking(store.config)
    experiment_id = get_or_create_experiment(store.config, "another experiment")
    assert get_or_create_experiment(store.config, "another experiment") == experiment_id
    location = mlflow.MlflowClient().get_experiment(experiment_id).artifact_location
    assert location == (store.config.artifact_root / "another_experiment").as_uri()


@pytest.mark.integration
def test_first_registration_with_enough_data_becomes_champion_and_loads(store: Store) -> None:
    import mlflow.pyfunc

    result = register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    assert (result.version, result.promoted, result.previous_champion) == ("1", True, None)

    client, model = _model(store)
    # A promoted version takes `champion` only: one alias moves per registration.
    assert _aliases(model) == {CHAMPION: "1"}
    version = client.get_model_version(store.config.model_name, "1")
    assert version.run_id == store.run_id
    assert version.tags["leadrank.gate.promote"] == "true"
    assert version.tags["leadrank.champion.kind"] == "gate"
    assert "Promotion gate: passed" in (version.description or "")
    assert json.loads(model.tags[HISTORY_TAG]) == []

    current = champion_version(store.config)
    assert current is not None and str(current.version) == "1"
    loaded = mlflow.pyfunc.load_model("models:/lead-scorer@champion")
    assert loaded.predict(store.features[:5]).shape == (5,)


@pytest.mark.integration
def test_worse_candidate_stays_challenger_with_the_reason(store: Store) -> None:
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    worse = _metrics(roc_auc=0.712)
    result = register_and_gate(store.run_id, "model", worse, GOOD, POLICY, store.config)
    assert (result.version, result.promoted, result.previous_champion) == ("2", False, "1")
    assert [c.name for c in result.decision.failed] == ["auc_drop"]

    client, model = _model(store)
    assert _aliases(model) == {CHAMPION: "1", CHALLENGER: "2"}
    version = client.get_model_version(store.config.model_name, "2")
    assert version.tags["leadrank.gate.promote"] == "false"
    assert version.tags["leadrank.gate.champion_version"] == "1"
    assert "AUC 0.712 is 0.031 below champion 0.743 (allowed drop 0.005)" in (version.description or "")
    assert "AUC 0.712 is 0.031 below champion 0.743" in version.tags["leadrank.gate.summary"]
    # A better one later is promoted: `champion` moves, `challenger` stays on the refused version.
    better = _metrics(roc_auc=0.760)
    assert register_and_gate(store.run_id, "model", better, GOOD, POLICY, store.config).promoted
    assert _aliases(_model(store)[1]) == {CHAMPION: "3", CHALLENGER: "2"}


@pytest.mark.integration
def test_too_few_wins_leaves_the_registry_without_champion(store: Store) -> None:
    result = register_and_gate(store.run_id, "model", _metrics(n_wins=12), None, POLICY, store.config)
    assert not result.promoted
    assert "only 12 won leads in the test period, 88 short of the 100 needed" in result.decision.summary()
    _, model = _model(store)
    assert _aliases(model) == {CHALLENGER: "1"}
    assert champion_version(store.config) is None


@pytest.mark.integration
def test_gate_cannot_be_skipped_by_omitting_champion_metrics(store: Store) -> None:
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    with pytest.raises(RegistryError, match="has champion version 1 but no champion metrics"):
        register_and_gate(store.run_id, "model", _metrics(roc_auc=0.6), None, POLICY, store.config)
    _, model = _model(store)
    assert _aliases(model) == {CHAMPION: "1"}


@pytest.mark.integration
def test_unknown_run_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RegistryError, match="no MLflow run 'f00' in sqlite:///"):
        register_and_gate("f00", "model", GOOD, None, POLICY, store.config)


@pytest.mark.integration
def test_promote_and_rollback_move_the_alias_and_record_why(store: Store) -> None:
    name = store.config.model_name
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    register_and_gate(store.run_id, "model", _metrics(roc_auc=0.70), GOOD, POLICY, store.config)

    change = promote("2", "  new pricing page changed the funnel  ", store.config)
    assert (change.version, change.previous, change.kind) == ("2", "1", "manual")
    client, model = _model(store)
    assert _aliases(model)[CHAMPION] == "2"
    assert json.loads(model.tags[HISTORY_TAG]) == ["1"]
    tags = client.get_model_version(name, "2").tags
    assert tags["leadrank.champion.reason"] == "new pricing page changed the funnel"
    assert tags["leadrank.champion.previous"] == "1"
    assert tags["leadrank.champion.gate_overridden"] == "true"
    assert json.loads(model.tags["leadrank.last_champion_change"])["kind"] == "manual"

    back = rollback("v2 hands sales too many cold calls", store.config)
    assert (back.version, back.previous, back.kind) == ("1", "2", "rollback")
    client, model = _model(store)
    assert _aliases(model) == {CHAMPION: "1", CHALLENGER: "2"}
    assert json.loads(model.tags[HISTORY_TAG]) == []
    assert client.get_model_version(name, "2").tags["leadrank.rolled_back.reason"] == (
        "v2 hands sales too many cold calls"
    )
    assert client.get_model_version(name, "1").tags["leadrank.champion.kind"] == "rollback"

    with pytest.raises(RegistryError, match="nothing to roll back to: version 1 is the champion"):
        rollback("again", store.config)


@pytest.mark.integration
def test_rollback_walks_back_through_several_champions(store: Store) -> None:
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    better = _metrics(roc_auc=0.76, expected_closes_at_capacity=44.0)
    register_and_gate(store.run_id, "model", better, GOOD, POLICY, store.config)
    best = _metrics(roc_auc=0.78, expected_closes_at_capacity=45.0)
    result = register_and_gate(store.run_id, "model", best, better, POLICY, store.config)
    assert result.promoted and result.previous_champion == "2"

    assert rollback("3 misbehaves", store.config).version == "2"
    assert rollback("2 too", store.config).version == "1"
    assert str(champion_version(store.config).version) == "1"  # type: ignore[union-attr]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("version", "reason", "fragment"),
    [
        ("7", "why", r"model 'lead-scorer' has no version 7 \(versions: 1\)"),
        ("v2", "why", "a model version is a whole number like 3, got 'v2'"),
        ("1", "   ", "a reason is required"),
        ("1", "why", "version 1 of 'lead-scorer' is already the champion"),
    ],
)
def test_promote_errors_say_what_is_wrong(store: Store, version: str, reason: str, fragment: str) -> None:
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    with pytest.raises(RegistryError, match=fragment):
        promote(version, reason, store.config)


@pytest.mark.integration
def test_registry_commands_on_a_missing_store_do_not_create_one(tmp_path: Path) -> None:
    config = tracking_config(Settings(home=tmp_path / "nowhere"))
    with pytest.raises(RegistryError, match=r"no MLflow store at .*nowhere/mlflow\.db"):
        promote("1", "why", config)
    with pytest.raises(RegistryError, match="no MLflow store"):
        rollback("why", config)
    assert champion_version(config) is None
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.integration
def test_a_file_that_is_not_an_mlflow_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_text("exported leads, not a database\n" * 20)
    with pytest.raises(RegistryError, match="cannot be used: file is not a database"):
        rollback("why", tracking_config(Settings(home=tmp_path)))


@pytest.mark.integration
def test_deleted_experiment_is_reported_not_silently_reused(store: Store) -> None:
    import mlflow

    configure_tracking(store.config)
    experiment_id = get_or_create_experiment(store.config, "old")
    mlflow.MlflowClient().delete_experiment(experiment_id)
    with pytest.raises(TrackingError, match=f"'old' \\(id {experiment_id}\\) .* is deleted; restore it"):
        get_or_create_experiment(store.config, "old")


@pytest.mark.integration
def test_store_without_registered_model_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RegistryError, match="no registered model 'lead-scorer' in sqlite:///"):
        rollback("why", store.config)


@pytest.mark.integration
def test_list_versions_shows_aliases_run_metrics_and_gate_verdicts(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    from mlflow import MlflowClient

    assert list_versions(store.config) == []  # a store without the model: nothing registered yet
    logged = {"test_roc_auc": 0.81, "test_ece": 0.0123, "test_expected_closes_at_capacity": 55.0}
    client = MlflowClient(tracking_uri=store.config.tracking_uri)
    for key, value in logged.items():
        client.log_metric(store.run_id, key, value)
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    register_and_gate(store.run_id, "model", _metrics(roc_auc=0.70), GOOD, POLICY, store.config)

    newest, first = list_versions(store.config)
    assert (newest.version, first.version) == ("2", "1")
    assert newest.aliases == ("challenger",) and first.aliases == ("champion",)
    assert newest.gate_passed is False and newest.gate_summary is not None
    assert newest.gate_summary.startswith("gate refused: AUC 0.700 is 0.043 below champion")
    assert first.gate_passed is True and first.champion_kind == "gate" and newest.champion_kind is None
    assert newest.metrics == pytest.approx(logged) and first.run_id == store.run_id
    assert datetime.now(UTC) - timedelta(minutes=5) < first.created_at <= newest.created_at <= datetime.now(UTC)

    promote("2", "checked by hand", store.config)
    newest, first = list_versions(store.config)
    assert newest.aliases == ("challenger", "champion") and first.aliases == ()
    assert newest.gate_overridden and newest.champion_kind == "manual"
    assert newest.to_dict()["aliases"] == ["challenger", "champion"]
    assert json.loads(json.dumps(newest.to_dict()))["created_at"].endswith("Z")


def test_list_versions_on_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no MLflow store"):
        list_versions(tracking_config(Settings(home=tmp_path / "nowhere")))
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------------------------------------------------
# The command line.


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("models")(models_command)
    app.command("promote")(train_commands.promote)
    app.command("rollback")(train_commands.rollback)
    app.command("ui")(train_commands.ui)
    return app


@pytest.mark.integration
def test_cli_promote_and_rollback(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    register_and_gate(store.run_id, "model", _metrics(roc_auc=0.70), GOOD, POLICY, store.config)
    monkeypatch.setenv("LEADRANK_HOME", str(store.config.home))
    runner = CliRunner()

    result = runner.invoke(_app(), ["promote", "2", "--reason", "manual check"])
    assert result.exit_code == 0, result.output
    assert "now version 2 (was 1)" in result.stdout

    result = runner.invoke(_app(), ["promote", "9", "--reason", "x"])
    assert result.exit_code == 2
    assert "error: model 'lead-scorer' has no version 9" in result.stderr

    result = runner.invoke(_app(), ["promote", "1"])
    assert result.exit_code == 2  # typer: --reason is required

    result = runner.invoke(_app(), ["rollback", "--reason", "undo"])
    assert result.exit_code == 0, result.output
    assert "champion is now version 1 (was 2)" in result.stdout


@pytest.mark.integration
def test_cli_models_lists_versions_as_a_table_and_as_json(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRANK_HOME", str(store.config.home))
    runner = CliRunner()
    result = runner.invoke(_app(), ["models"])
    assert result.exit_code == 0, result.output
    assert "no versions of 'lead-scorer' registered" in result.stdout

    from mlflow import MlflowClient

    MlflowClient(tracking_uri=store.config.tracking_uri).log_metric(store.run_id, "test_roc_auc", 0.8123)
    register_and_gate(store.run_id, "model", GOOD, None, POLICY, store.config)
    register_and_gate(store.run_id, "model", _metrics(roc_auc=0.70), GOOD, POLICY, store.config)
    result = runner.invoke(_app(), ["models"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    row_2 = next(line for line in lines if line.strip("│ ").startswith("2 "))
    row_1 = next(line for line in lines if line.strip("│ ").startswith("1 "))
    assert "challenger" in row_2 and "refused" in row_2 and "0.812" in row_2
    assert "champion" in row_1 and "passed" in row_1
    assert "version 2: gate refused: AUC 0.700" in result.stdout

    result = runner.invoke(_app(), ["models", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["model_name"] == "lead-scorer"
    assert [(v["version"], v["aliases"], v["gate_passed"]) for v in listed["versions"]] == [
        ("2", ["challenger"], False),
        ("1", ["champion"], True),
    ]
    assert listed["versions"][0]["metrics"] == {"test_roc_auc": 0.8123}

    monkeypatch.setenv("LEADRANK_HOME", str(store.config.home / "nowhere"))
    result = runner.invoke(_app(), ["models", "--json"])
    assert result.exit_code == 2 and "no MLflow store" in result.stderr and result.stdout == ""


@pytest.mark.integration
def test_cli_reports_bad_settings_and_remote_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _isolate_mlflow(monkeypatch)
    runner = CliRunner()
    monkeypatch.setenv("LEADRANK_MIN_WINS", "lots")
    result = runner.invoke(_app(), ["rollback", "--reason", "x"])
    assert result.exit_code == 2
    assert "invalid setting LEADRANK_MIN_WINS" in result.stderr

    monkeypatch.delenv("LEADRANK_MIN_WINS")
    monkeypatch.setenv("LEADRANK_TRACKING_URI", "http://mlflow.internal:5000")
    result = runner.invoke(_app(), ["ui"])
    assert result.exit_code == 2
    assert "has its own UI" in result.stderr

    monkeypatch.setenv("LEADRANK_HOME", str(tmp_path))
    monkeypatch.delenv("LEADRANK_TRACKING_URI")
    result = runner.invoke(_app(), ["rollback", "--reason", "x"])
    assert result.exit_code == 2
    assert "no MLflow store at" in result.stderr


def test_ui_serves_the_same_store_and_artifact_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _isolate_mlflow(monkeypatch)
    config = tracking_config(Settings(home=tmp_path))
    command = mlflow_server_command(config, host="0.0.0.0", port=5050)
    assert command[1:4] == ["-m", "mlflow", "server"]
    args = dict(zip(command[4::2], command[5::2], strict=True))
    assert args["--backend-store-uri"] == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert args["--default-artifact-root"] == (tmp_path.resolve() / "mlartifacts").as_uri()
    assert (args["--host"], args["--port"]) == ("0.0.0.0", "5050")
    with pytest.raises(TrackingError, match="port must be between 1 and 65535"):
        mlflow_server_command(config, port=70000)
