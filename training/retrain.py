"""Retraining on a schedule: the champion's recipe on the newest data, promoted only through the promotion gate.

`retrain` is `train_and_log` (the recipe of `training.pipeline.train`, the gate of `training.tracking_run` and
`training.registry`: nothing of either is repeated here) behind one question: has anything been learnt since the
champion was fitted? New data means closed leads the champion was not fitted on (its run records their ids),
decided after the start of the history window it was fitted on (older leads its backtest chose to leave out are
not news). Without any, it does nothing and says so, so a scheduler may run it as often as it likes; likewise when
the current challenger (refused by the gate) was already trained on every closed lead of the data: the same
recipe on the same data would be refused again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from features import contract as c

if TYPE_CHECKING:
    from training.pipeline import TrainingData, TrainOptions, TrainResult
    from training.registry import GatePolicy
    from training.tracking import TrackingConfig

Status = Literal["promoted", "refused", "nothing_new"]


@dataclass
class RetrainOutcome:
    """What `retrain` did: `promoted` (the challenger is the new champion), `refused` (registered as challenger,
    the gate kept the champion) or `nothing_new` (no training: no closed lead since the champion's cut-off)."""

    status: Status
    message: str
    champion_version: str | None  # the champion before this run
    new_closed_leads: int | None  # None: there was no champion to compare with
    result: TrainResult | None = None


def new_closed_leads(leads: pd.DataFrame, fitted_ids: np.ndarray, fitted_from: str | None) -> int:
    """Closed leads that are not among `fitted_ids`, counting only those decided at or after `fitted_from` (the
    start of the window the champion was fitted on, when known)."""
    if c.OUTCOME not in leads.columns:
        return 0
    closed = leads.loc[leads[c.OUTCOME].notna()]
    fresh = ~closed[c.LEAD_ID].astype(str).isin(set(fitted_ids.tolist()))
    when_col = c.DECIDED_AT if c.DECIDED_AT in closed.columns else c.CREATED_AT
    if fitted_from and when_col in closed.columns:
        start = pd.Timestamp(fitted_from)
        when = pd.to_datetime(closed[when_col])
        # Without a time a lead cannot be placed before the window: it counts as new.
        fresh &= when.isna() | (when >= start)
    return int(fresh.sum())


def _fresh_for(data: TrainingData, tracking: TrackingConfig, version: Any) -> tuple[int | None, str | None]:
    """Closed leads of `data` that registered `version` was not fitted on (None: it does not record them, and why)."""
    from training.tracking_run import champion_and_fitted_ids

    model, fitted, unavailable = champion_and_fitted_ids(tracking, version)
    if fitted is None:
        return None, unavailable
    fitted_on: dict[str, Any] = (model.metadata.get("fitted_on") or {}) if model is not None else {}
    return new_closed_leads(data.batch.leads, fitted, fitted_on.get("from")), None


def retrain(
    data: TrainingData,
    tracking: TrackingConfig,
    policy: GatePolicy,
    opts: TrainOptions,
    progress: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    """Train a challenger on `data` with the champion's recipe and register it behind the gate, unless nothing
    new has closed since the champion was fitted."""
    from training.registry import CHALLENGER, alias_version, champion_version
    from training.tracking_run import train_and_log

    champ = champion_version(tracking)
    fresh: int | None = None
    if champ is not None:
        fresh, unavailable = _fresh_for(data, tracking, champ)
        if fresh == 0:
            return RetrainOutcome(
                "nothing_new",
                f"nothing to do: no closed lead in {data.origin} that champion version {champ.version} was not "
                "already fitted on",
                str(champ.version),
                0,
            )
        challenger = alias_version(tracking, CHALLENGER)
        if challenger is not None and str(challenger.version) != str(champ.version):
            # The same recipe on the same data gives the same model: a challenger the gate refused on all of this
            # data would be refused again.
            seen_by_challenger, _ = _fresh_for(data, tracking, challenger)
            if seen_by_challenger == 0:
                return RetrainOutcome(
                    "nothing_new",
                    f"nothing to do: challenger version {challenger.version} was already trained on every closed "
                    f"lead in {data.origin} and refused by the gate; champion version {champ.version} stays",
                    str(champ.version),
                    fresh,
                )
        if progress is not None:
            progress(
                f"{fresh:,} closed leads since champion version {champ.version} was fitted: retraining"
                if fresh is not None
                else f"champion version {champ.version} cannot say what it was fitted on ({unavailable}): retraining"
            )
    opts.register = True
    result = train_and_log(data, tracking, policy, opts, progress)
    registration = result.registration
    assert registration is not None  # registration is on
    previous = None if champ is None else str(champ.version)
    if registration.promoted:
        status: Status = "promoted"
        message = f"version {registration.version} promoted to champion (was {previous or 'none'})"
    else:
        status = "refused"
        message = (
            f"version {registration.version} stays challenger; champion {previous or 'none'} kept: "
            f"{registration.decision.summary()}"
        )
    return RetrainOutcome(status, message, previous, fresh, result)
