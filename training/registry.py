"""The guarded model registry: every trained model is registered, only a model that passes the gate serves.

Aliases on the registered model (`TrackingConfig.model_name`, default `lead-scorer`) carry the roles:

- `challenger`: the most recently registered version, whatever the gate said.
- `champion`: the version serving loads (`models:/lead-scorer@champion`). It moves only when a new version
  passes the promotion gate, when a person promotes a version by hand, or on rollback.

The gate (`evaluate_gate`) compares the candidate with the current champion, both scored on the same newest
test period: enough closed and won leads to judge at all, ROC AUC not lower beyond a small allowed drop,
calibration error under a limit, and expected closes at the team's capacity not worse beyond a tiny relative
tolerance.

Every champion move is recorded: version tags under `leadrank.champion.*` (kind, reason, time, previous
champion) and, on the registered model, `leadrank.champion_history` (a JSON list of earlier champion versions,
oldest first) that `rollback` walks back through. The gate's checks are stored as `leadrank.gate.*` version
tags and in the version's description.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.tracking import (
    TrackingConfig,
    TrackingError,
    configure_tracking,
    sqlite_path,
    store_errors,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"

HISTORY_TAG = "leadrank.champion_history"
LAST_CHANGE_TAG = "leadrank.last_champion_change"
GATE_TAG_PREFIX = "leadrank.gate."
CHAMPION_TAG_PREFIX = "leadrank.champion."
ROLLED_BACK_TAG_PREFIX = "leadrank.rolled_back."

# Enough rollback depth for years of weekly retraining while keeping the tag value small.
MAX_HISTORY = 200

# Threshold comparisons tolerate float noise, so a value exactly at the limit passes as documented.
_EPS = 1e-12


class RegistryError(TrackingError):
    """A registry operation cannot be done; the message says why and what to do."""


class GateInputError(RegistryError, ValueError):
    """Gate metrics or policy values are out of range."""


# ------------------------------------------------------------------------------------------------------------
# The gate: pure functions, no MLflow.


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise GateInputError(f"{name} must be a whole number, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise GateInputError(f"{name} must be a whole number, got {value!r}") from None
    if number < 0:
        raise GateInputError(f"{name} must be >= 0, got {number}")
    return number


def _rate(name: str, value: Any, low: float, high: float) -> float:
    """A float in [low, high]; NaN is allowed and fails the check that uses it (e.g. AUC with no wins)."""
    if isinstance(value, bool | str | bytes):
        raise GateInputError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GateInputError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(number):
        return number
    if not low <= number <= high:
        raise GateInputError(f"{name} must be between {low:g} and {high:g}, got {number:g}")
    return number


@dataclass(frozen=True)
class GateMetrics:
    """One model's scores on the newest test period (the candidate and the champion on the same leads).

    `expected_closes_at_capacity`: the expected closes among the leads the handoff policy would pass to
    sales at the team's capacity. `ece`: expected calibration error of `p_close`. `n_closed`, `n_wins`: closed
    (won or lost) and won leads in the test period.
    """

    roc_auc: float
    expected_closes_at_capacity: float
    ece: float
    n_closed: int
    n_wins: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "roc_auc", _rate("roc_auc", self.roc_auc, 0.0, 1.0))
        object.__setattr__(self, "ece", _rate("ece", self.ece, 0.0, 1.0))
        object.__setattr__(
            self,
            "expected_closes_at_capacity",
            _rate("expected_closes_at_capacity", self.expected_closes_at_capacity, 0.0, math.inf),
        )
        object.__setattr__(self, "n_closed", _count("n_closed", self.n_closed))
        object.__setattr__(self, "n_wins", _count("n_wins", self.n_wins))
        if self.n_wins > self.n_closed:
            raise GateInputError(f"n_wins ({self.n_wins}) cannot exceed n_closed ({self.n_closed})")


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the promotion gate.

    `min_closed_leads`, `min_wins`: the data gate, closed and won leads the test period must hold to judge a
    model at all. `max_auc_drop`: how far ROC AUC may fall below the champion's (absolute). `max_ece`: the
    largest expected calibration error. `max_closes_at_capacity_drop`: how far expected closes at capacity may
    fall below the champion's, relative (0.005 = 0.5%).
    """

    min_closed_leads: int = 1000
    min_wins: int = 100
    max_auc_drop: float = 0.005
    max_ece: float = 0.05
    max_closes_at_capacity_drop: float = 0.005

    def __post_init__(self) -> None:
        _count("min_closed_leads", self.min_closed_leads)
        _count("min_wins", self.min_wins)
        for name in ("max_auc_drop", "max_ece", "max_closes_at_capacity_drop"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise GateInputError(f"gate policy {name} must be between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class GateCheck:
    """One check of the gate. `blocking` False: reported but does not decide (e.g. ECE of a first model)."""

    name: str
    passed: bool
    value: float
    threshold: float
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    checks: tuple[GateCheck, ...]

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        """The blocking checks that failed: the reasons a candidate was refused."""
        return tuple(c for c in self.checks if c.blocking and not c.passed)

    def summary(self) -> str:
        if self.promote:
            return "gate passed: " + "; ".join(c.message for c in self.checks)
        return "gate refused: " + "; ".join(c.message for c in self.failed)

    def describe(self) -> str:
        """Markdown for the model version's description."""
        verdict = "**Promotion gate: passed**" if self.promote else "**Promotion gate: refused**"
        lines = [verdict, ""]
        for c in self.checks:
            mark = "pass" if c.passed else ("FAIL" if c.blocking else "warn")
            lines.append(f"- [{mark}] `{c.name}`: {c.message}")
        return "\n".join(lines)

    def as_tags(self) -> dict[str, str]:
        tags = {
            f"{GATE_TAG_PREFIX}promote": str(self.promote).lower(),
            f"{GATE_TAG_PREFIX}summary": self.summary(),
        }
        for c in self.checks:
            key = f"{GATE_TAG_PREFIX}{c.name}"
            tags[f"{key}.passed"] = str(c.passed).lower()
            tags[f"{key}.value"] = repr(c.value)
            tags[f"{key}.threshold"] = repr(c.threshold)
            tags[f"{key}.message"] = c.message
        return tags


def _data_check(name: str, noun: str, have: int, need: int) -> GateCheck:
    if have >= need:
        message = f"{have:,} {noun} in the test period (at least {need:,} needed)"
    else:
        message = f"only {have:,} {noun} in the test period, {need - have:,} short of the {need:,} needed"
    return GateCheck(name, have >= need, float(have), float(need), message)


def _ece_check(candidate: GateMetrics, policy: GatePolicy, blocking: bool) -> GateCheck:
    ece, limit = candidate.ece, policy.max_ece
    if math.isnan(ece):
        passed, message = False, "calibration error (ECE) is undefined (NaN)"
    elif ece <= limit + _EPS:
        passed, message = True, f"calibration error (ECE) {ece:.3f} is within the limit {limit:.3f}"
    else:
        passed, message = (
            False,
            f"calibration error (ECE) {ece:.3f} is {ece - limit:.3f} above the limit {limit:.3f}",
        )
    if not blocking:
        message += " (advisory: there is no champion yet)"
    return GateCheck("calibration_ece", passed, ece, limit, message, blocking)


def _same_data_check(candidate: GateMetrics, champion: GateMetrics) -> GateCheck:
    same = (candidate.n_closed, candidate.n_wins) == (champion.n_closed, champion.n_wins)
    if same:
        message = f"candidate and champion scored on the same {candidate.n_closed:,} closed leads"
    else:
        message = (
            f"candidate scored on {candidate.n_closed:,} closed / {candidate.n_wins:,} won leads but "
            f"champion on {champion.n_closed:,} / {champion.n_wins:,}: both must be scored on the same test "
            "period"
        )
    return GateCheck("same_test_data", same, float(candidate.n_closed), float(champion.n_closed), message)


def _auc_check(candidate: GateMetrics, champion: GateMetrics, policy: GatePolicy) -> GateCheck:
    cand, champ, allowed = candidate.roc_auc, champion.roc_auc, policy.max_auc_drop
    floor = champ - allowed
    if math.isnan(cand) or math.isnan(champ):
        which = "candidate" if math.isnan(cand) else "champion"
        return GateCheck(
            "auc_drop",
            False,
            cand,
            floor,
            f"{which} AUC is undefined (NaN): the test period needs both won and lost leads",
        )
    if cand >= floor - _EPS:
        delta = cand - champ
        message = f"AUC {cand:.3f} vs champion {champ:.3f} ({delta:+.3f}; allowed drop {allowed:.3f})"
        return GateCheck("auc_drop", True, cand, floor, message)
    message = f"AUC {cand:.3f} is {champ - cand:.3f} below champion {champ:.3f} (allowed drop {allowed:.3f})"
    return GateCheck("auc_drop", False, cand, floor, message)


def _closes_check(candidate: GateMetrics, champion: GateMetrics, policy: GatePolicy) -> GateCheck:
    cand, champ, tol = (
        candidate.expected_closes_at_capacity,
        champion.expected_closes_at_capacity,
        policy.max_closes_at_capacity_drop,
    )
    floor = champ * (1.0 - tol)
    name = "closes_at_capacity"
    if math.isnan(cand) or math.isnan(champ):
        which = "candidate" if math.isnan(cand) else "champion"
        return GateCheck(name, False, cand, floor, f"{which} expected closes at capacity is undefined (NaN)")
    rel = (cand - champ) / champ if champ > 0 else 0.0
    if cand >= floor - _EPS:
        message = f"expected closes at capacity {cand:.2f} vs champion {champ:.2f} ({rel:+.1%}; allowed drop {tol:.1%})"
        return GateCheck(name, True, cand, floor, message)
    message = (
        f"expected closes at capacity {cand:.2f} is {-rel:.1%} below champion {champ:.2f} (allowed drop {tol:.1%})"
    )
    return GateCheck(name, False, cand, floor, message)


def evaluate_gate(candidate: GateMetrics, champion: GateMetrics | None, policy: GatePolicy) -> GateDecision:
    """Decide whether `candidate` may replace `champion` (None: there is no champion yet).

    The data gate (closed and won leads) always applies. Without a champion it is the only blocking check, so
    the first model serves as soon as there is enough data to judge it; its ECE is still reported. With a
    champion, AUC, ECE and expected closes at capacity must also hold, measured on the same test period.
    """
    checks = [
        _data_check("closed_leads", "closed leads", candidate.n_closed, policy.min_closed_leads),
        _data_check("wins", "won leads", candidate.n_wins, policy.min_wins),
        _ece_check(candidate, policy, blocking=champion is not None),
    ]
    if champion is not None:
        checks += [
            _same_data_check(candidate, champion),
            _auc_check(candidate, champion, policy),
            _closes_check(candidate, champion, policy),
        ]
    promote = all(c.passed for c in checks if c.blocking)
    return GateDecision(promote=promote, checks=tuple(checks))


# ------------------------------------------------------------------------------------------------------------
# The registry: MLflow operations.


@dataclass(frozen=True)
class RegistrationResult:
    model_name: str
    version: str
    promoted: bool
    decision: GateDecision
    previous_champion: str | None


@dataclass(frozen=True)
class ChampionChange:
    """A move of the champion alias by `promote` or `rollback`."""

    model_name: str
    version: str
    previous: str | None
    reason: str
    kind: str


class _DropLoggedModelNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "registering model based on models:/" not in record.getMessage()


@contextmanager
def _without_logged_model_notice() -> Iterator[None]:
    # MLflow 3 keeps a logged model outside the run's artifacts, so registering `runs:/<id>/model` always
    # warns that the run "has no artifacts at artifact path 'model'" before doing the right thing. Registering
    # by `runs:/` is still what links the version to its run: keep it, drop only that misleading warning.
    target = logging.getLogger("mlflow.tracking._model_registry.fluent")
    notice_filter = _DropLoggedModelNotice()
    target.addFilter(notice_filter)
    try:
        yield
    finally:
        target.removeFilter(notice_filter)


def _client(config: TrackingConfig, must_exist: bool) -> tuple[MlflowClient, str]:
    from mlflow import MlflowClient

    if must_exist and _missing_store(config):
        raise RegistryError(
            f"no MLflow store at {sqlite_path(config.tracking_uri)} "
            f"(LEADRANK_HOME={config.home}): train a model first, "
            "or point LEADRANK_HOME / LEADRANK_TRACKING_URI at the store that holds it"
        )
    uri = configure_tracking(config)
    with store_errors(uri, RegistryError):
        return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def _is_not_found(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    return isinstance(exc, MlflowException) and exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def _registered_model(client: MlflowClient, name: str) -> RegisteredModel | None:
    try:
        return client.get_registered_model(name)
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise


def _require_registered_model(client: MlflowClient, name: str, uri: str) -> RegisteredModel:
    model = _registered_model(client, name)
    if model is None:
        raise RegistryError(f"no registered model {name!r} in {uri}: train a model first (or set LEADRANK_MODEL_NAME)")
    return model


def _champion_of(model: RegisteredModel | None) -> str | None:
    if model is None:
        return None
    version = (model.aliases or {}).get(CHAMPION)
    return None if version is None else str(version)


def _history(model: RegisteredModel) -> list[str]:
    raw = (model.tags or {}).get(HISTORY_TAG)
    if not raw:
        return []
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, list):
        raise RegistryError(
            f"registered model {model.name!r} has a malformed tag {HISTORY_TAG}={raw!r}; expected a JSON "
            'list of versions like ["1", "3"]: fix or delete the tag in the MLflow UI'
        )
    return [str(v) for v in values]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _move_champion(
    client: MlflowClient,
    name: str,
    version: str,
    previous: str | None,
    history: list[str],
    kind: str,
    reason: str,
) -> None:
    """Point `champion` at `version`, store `history` (the versions to roll back through) and tag the move."""
    at = _now()
    # The history first: should the process die before the alias moves, it only lists the version that is still
    # champion, which `rollback` skips.
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-MAX_HISTORY:]))
    client.set_registered_model_alias(name, CHAMPION, version)
    change = {"kind": kind, "version": version, "previous": previous, "reason": reason, "at": at}
    client.set_registered_model_tag(name, LAST_CHANGE_TAG, json.dumps(change))
    for key, value in (
        ("kind", kind),
        ("reason", reason),
        ("at", at),
        ("previous", previous or "none"),
    ):
        client.set_model_version_tag(name, version, f"{CHAMPION_TAG_PREFIX}{key}", value)
    logger.info("Champion of %r is now version %s (was %s): %s: %s", name, version, previous, kind, reason)


def champion_version(config: TrackingConfig) -> ModelVersion | None:
    """The model version the `champion` alias points at; None when there is no store, model or champion."""
    return alias_version(config, CHAMPION)


def alias_version(config: TrackingConfig, alias: str) -> ModelVersion | None:
    """The model version `alias` points at; None when there is no store, model or such alias."""
    if _missing_store(config):
        return None
    client, uri = _client(config, must_exist=False)
    with store_errors(uri, RegistryError):
        model = _registered_model(client, config.model_name)
        version = None if model is None else (model.aliases or {}).get(alias)
        if version is None:
            return None
        return client.get_model_version(config.model_name, str(version))


def _missing_store(config: TrackingConfig) -> bool:
    db_file = sqlite_path(config.tracking_uri)
    return db_file is not None and not db_file.is_file()


def register_and_gate(
    run_id: str,
    model_artifact_path: str,
    candidate: GateMetrics,
    champion: GateMetrics | None,
    policy: GatePolicy,
    config: TrackingConfig,
    *,
    champion_unavailable: str | None = None,
    notes: str | None = None,
) -> RegistrationResult:
    """Register the model logged in run `run_id` as a new version, make it `challenger`, and `champion` if it
    passes the gate.

    `champion_unavailable` says why the current champion could not be compared (a model this leadrank cannot
    read, or one that does not record which leads it was fitted on): the candidate is then judged on its own,
    and the reason is recorded. `notes` (what the comparison was made on, which data the model was fitted on)
    goes into the version's description.

    `model_artifact_path` is the name the model was logged under in the run (e.g. "model"), or a
    `models:/<model_id>` URI. `champion` holds the current champion's metrics re-scored on the candidate's
    test period; it must be None exactly when the registry has no champion, so a pipeline that forgot to
    re-score cannot slip a model past the comparison.
    """
    import mlflow

    decision = evaluate_gate(candidate, champion, policy)
    name = config.model_name
    client, uri = _client(config, must_exist=False)
    with store_errors(uri, RegistryError):
        try:
            client.get_run(run_id)
        except Exception as exc:
            if _is_not_found(exc):
                raise RegistryError(f"no MLflow run {run_id!r} in {uri}") from exc
            raise
        model = _registered_model(client, name)
        current = _champion_of(model)
        if current is not None and champion is None and champion_unavailable is None:
            raise RegistryError(
                f"{name!r} has champion version {current} but no champion metrics were given: re-score the "
                "champion on the new test period and pass them, so the gate can compare"
            )
        if current is None and champion is not None:
            raise RegistryError(
                f"champion metrics were given but {name!r} has no champion in {uri}: pass champion=None"
            )

        path = model_artifact_path.strip().strip("/")
        if not path:
            raise RegistryError("model_artifact_path is empty: give the name the model was logged under")
        model_uri = path if path.startswith("models:/") else f"runs:/{run_id}/{path}"
        tags = decision.as_tags()
        if current is not None:
            tags[f"{GATE_TAG_PREFIX}champion_version"] = current
        if champion_unavailable is not None and current is not None:
            tags[f"{GATE_TAG_PREFIX}champion_unavailable"] = champion_unavailable
        with _without_logged_model_notice():
            registered = mlflow.register_model(model_uri, name, tags=tags)
        version = str(registered.version)
        description = decision.describe()
        if champion_unavailable is not None and current is not None:
            description += f"\n\nChampion version {current} not compared: {champion_unavailable}"
        if notes:
            description += "\n\n" + notes
        client.update_model_version(name, version, description=description)
        _pause_point(version)
        # The aliases move last and one alias moves per registration (`champion` when the gate promotes,
        # `challenger` when it refuses): a registration that dies at any point leaves them as they were, or moved
        # as the gate decided, never half-way.
        if decision.promote:
            history = _history(model) if model is not None else []
            if current is not None:
                history.append(current)
            _move_champion(client, name, version, current, history, "gate", decision.summary())
        else:
            client.set_registered_model_alias(name, CHALLENGER, version)
            logger.warning("Version %s of %r stays challenger: %s", version, name, decision.summary())
    return RegistrationResult(name, version, decision.promote, decision, current)


# Tests only (tests/training/test_kill_during_registration.py): a file path; registration writes the new version
# into it and waits there, just before the aliases move, so the test can kill the process at that moment.
PAUSE_ENV = "LEADRANK_TEST_PAUSE_BEFORE_ALIASES"
_PAUSE_SECONDS = 120.0


def _pause_point(version: str) -> None:
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    import time

    Path(marker).write_text(version, encoding="utf-8")
    logger.warning("%s is set: pausing registration of version %s before the aliases move", PAUSE_ENV, version)
    time.sleep(_PAUSE_SECONDS)


def _clean_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise RegistryError("a reason is required (e.g. --reason 'Q3 model fixes the referral bias')")
    return text


def _clean_version(version: str | int) -> str:
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise RegistryError(f"a model version is a whole number like 3, got {str(version)!r}")
    return str(int(text))


def _known_versions(client: MlflowClient, name: str) -> list[str]:
    try:
        escaped = name.replace("'", "\\'")
        found = client.search_model_versions(f"name = '{escaped}'", max_results=1000)
    except Exception:
        logger.debug("could not list versions of %r", name, exc_info=True)
        return []
    return sorted((str(v.version) for v in found), key=int)


def _versions_hint(versions: list[str]) -> str:
    if not versions:
        return "it has no versions"
    shown = versions if len(versions) <= 10 else ["...", *versions[-10:]]
    return "versions: " + ", ".join(shown)


def promote(version: str | int, reason: str, config: TrackingConfig) -> ChampionChange:
    """Make `version` the champion by hand, whatever its gate said; tags the reason and previous champion."""
    reason = _clean_reason(reason)
    version = _clean_version(version)
    name = config.model_name
    client, uri = _client(config, must_exist=True)
    with store_errors(uri, RegistryError):
        model = _require_registered_model(client, name, uri)
        try:
            target = client.get_model_version(name, version)
        except Exception as exc:
            if _is_not_found(exc):
                hint = _versions_hint(_known_versions(client, name))
                raise RegistryError(f"model {name!r} has no version {version} ({hint})") from exc
            raise
        current = _champion_of(model)
        if current == version:
            raise RegistryError(f"version {version} of {name!r} is already the champion; nothing to do")
        history = _history(model)
        if current is not None:
            history.append(current)
        _move_champion(client, name, version, current, history, "manual", reason)
        if (target.tags or {}).get(f"{GATE_TAG_PREFIX}promote") == "false":
            client.set_model_version_tag(name, version, f"{CHAMPION_TAG_PREFIX}gate_overridden", "true")
    return ChampionChange(name, version, current, reason, "manual")


def rollback(reason: str, config: TrackingConfig) -> ChampionChange:
    """Move `champion` back to the version that held it before the current one.

    Walks the recorded champion history, skipping versions that were deleted since; repeated rollbacks go
    further back. The version rolled back from is tagged `leadrank.rolled_back.*` with the reason.
    """
    reason = _clean_reason(reason)
    name = config.model_name
    client, uri = _client(config, must_exist=True)
    with store_errors(uri, RegistryError):
        model = _require_registered_model(client, name, uri)
        current = _champion_of(model)
        history = _history(model)
        target: str | None = None
        while history:
            candidate = history.pop()
            if candidate == current:
                continue
            try:
                client.get_model_version(name, candidate)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
                logger.warning("Skipping version %s of %r in the champion history: it was deleted", candidate, name)
                continue
            target = candidate
            break
        if target is None:
            now = f"version {current} is the champion" if current else "there is no champion"
            hint = _versions_hint(_known_versions(client, name))
            raise RegistryError(
                f"nothing to roll back to: {now} of {name!r} and no earlier champion is recorded (use "
                f"`promote VERSION --reason ...` to pick one; {hint})"
            )
        _move_champion(client, name, target, current, history, "rollback", reason)
        if current is not None:
            at = _now()
            for key, value in (("reason", reason), ("at", at), ("to", target)):
                client.set_model_version_tag(name, current, f"{ROLLED_BACK_TAG_PREFIX}{key}", value)
    return ChampionChange(name, target, current, reason, "rollback")


# ------------------------------------------------------------------------------------------------------------
# Listing: what `leadrank models` shows.

# Run metrics shown for each version (names as `flat_metrics` logs them).
VERSION_METRICS = ("test_roc_auc", "test_ece", "test_expected_closes_at_capacity")


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: its aliases, when it was registered, its run's test metrics and the gate's
    verdict (`gate_passed` None: registered without the gate, e.g. by hand in the MLflow UI)."""

    version: str
    aliases: tuple[str, ...]
    created_at: datetime
    run_id: str | None
    metrics: dict[str, float]
    gate_passed: bool | None
    gate_summary: str | None
    champion_kind: str | None  # how it last became champion: gate, manual or rollback
    gate_overridden: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "aliases": list(self.aliases),
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "run_id": self.run_id,
            "metrics": dict(self.metrics),
            "gate_passed": self.gate_passed,
            "gate_summary": self.gate_summary,
            "champion_kind": self.champion_kind,
            "gate_overridden": self.gate_overridden,
        }


def list_versions(config: TrackingConfig) -> list[VersionInfo]:
    """Every registered version of `config.model_name`, newest first; empty when the model is not registered.

    Raises `RegistryError` when there is no store at all (a SQLite file that does not exist)."""
    name = config.model_name
    client, uri = _client(config, must_exist=True)
    with store_errors(uri, RegistryError):
        model = _registered_model(client, name)
        if model is None:
            return []
        aliases_of: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases_of.setdefault(str(version), []).append(alias)
        escaped = name.replace("'", "\\'")
        found: list[ModelVersion] = []
        token: str | None = None
        while True:
            page = client.search_model_versions(f"name = '{escaped}'", max_results=1000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                break
        infos = []
        for mv in sorted(found, key=lambda v: int(v.version), reverse=True):
            tags = mv.tags or {}
            metrics: dict[str, float] = {}
            if mv.run_id:
                try:
                    run_metrics = client.get_run(mv.run_id).data.metrics
                except Exception as exc:
                    if not _is_not_found(exc):
                        raise
                    run_metrics = {}  # the run was deleted; the version still serves
                metrics = {key: float(run_metrics[key]) for key in VERSION_METRICS if key in run_metrics}
            verdict = tags.get(f"{GATE_TAG_PREFIX}promote")
            infos.append(
                VersionInfo(
                    version=str(mv.version),
                    aliases=tuple(sorted(aliases_of.get(str(mv.version), []))),
                    created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
                    run_id=mv.run_id or None,
                    metrics=metrics,
                    gate_passed=None if verdict is None else verdict == "true",
                    gate_summary=tags.get(f"{GATE_TAG_PREFIX}summary"),
                    champion_kind=tags.get(f"{CHAMPION_TAG_PREFIX}kind"),
                    gate_overridden=tags.get(f"{CHAMPION_TAG_PREFIX}gate_overridden") == "true",
                )
            )
    return infos
