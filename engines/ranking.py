"""Batch ranking: score open leads partition by partition through the model's one `predict`, then hand off.

`score_batch` is how a batch of open leads is scored for the handoff in one process (`leadrank rank`); on a
cluster, `PartitionedRanking` runs the same function on every partition of a partitioned data set, on the worker
that loaded it, and keeps the scored tables there. `score` gathers them all; `shortlist` gathers only the leads
that can reach `sales_ready` or `marketing_qualified` (`handoff.shortlist`: a few rounds of small answers per
partition, and a check that the handoff of those leads is the handoff of all), so that ranking many millions of
open leads gathers thousands. The capacity policy (`handoff.hand_off`, unchanged) then runs on what was gathered.
The model goes to the workers in its stored form (`model.store`: JSON and LightGBM model text), the form the
registry holds, and is loaded once per worker.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engines.partitioned import Partition, load_partition, partitions
from features import contract as c
from features.contract import LeadBatch
from features.engagement import InputReport
from handoff.capacity import CapacitySpec
from handoff.scored import Objective
from handoff.shortlist import Prefix, Shortlist, shortlist_applies

log = logging.getLogger(__name__)

# Scores the handoff recomputes from the model's own estimates: an input column of the same name is dropped.
_SCORE_COLUMNS = ("p_close", "expected_hours")


def score_batch(model: Any, batch: LeadBatch) -> tuple[pd.DataFrame, InputReport]:
    """The scored table of `batch` (the model's estimates joined to the leads' attributes, one row a lead, in
    order) and the report of what in the input was ignored or treated as missing."""
    scored = model.predict_frame(batch)
    attrs = batch.leads.drop(columns=[col for col in _SCORE_COLUMNS if col in batch.leads])
    scored = scored.merge(attrs, on=c.LEAD_ID, how="left", validate="one_to_one")
    return scored, model.features.inspect(batch)


def open_leads(history_leads: pd.DataFrame) -> pd.DataFrame:
    """The leads without an outcome yet: the ones to rank."""
    if c.OUTCOME in history_leads.columns:
        return history_leads[history_leads[c.OUTCOME].isna()].reset_index(drop=True)
    return history_leads


def open_batch(history_leads: pd.DataFrame, events: pd.DataFrame) -> LeadBatch:
    """The open leads of a history with their own events (most events belong to leads already decided: they are
    neither kept nor reported as events of unknown leads)."""
    return LeadBatch.of_leads(open_leads(history_leads), events)


# --- the model on the workers ---------------------------------------------------------------------------------


def stored_form(model: Any) -> dict[str, str]:
    """The model's stored files (`model.store.save_model`) as text, to ship to workers."""
    from model import save_model

    with tempfile.TemporaryDirectory() as tmp:
        folder = save_model(model, Path(tmp) / "model")
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}


_LOADED: dict[str, Any] = {}


def _model_of(files: dict[str, str]) -> Any:
    """The model of these stored files, loaded once per worker process."""
    from model import load_model

    key = hashlib.sha256("".join(f"{n}\0{t}" for n, t in sorted(files.items())).encode()).hexdigest()
    if key not in _LOADED:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")
            _LOADED.clear()  # one model at a time per worker
            _LOADED[key] = load_model(folder)
    return _LOADED[key]


# --- partition tasks ------------------------------------------------------------------------------------------


def _open_batch(partition: Partition) -> tuple[LeadBatch, list[str]]:
    history = load_partition(partition)
    return open_batch(history.leads, history.events), list(history.warnings)


def _batch_of(loaded: tuple[LeadBatch, list[str]]) -> LeadBatch:
    return loaded[0]


def _warnings_of(loaded: tuple[LeadBatch, list[str]]) -> list[str]:
    return loaded[1]


def _score(batch: LeadBatch, files: dict[str, str]) -> tuple[pd.DataFrame, InputReport]:
    return score_batch(_model_of(files), batch)


def _table(scored: tuple[pd.DataFrame, InputReport]) -> pd.DataFrame:
    return scored[0]


def _report_of(scored: tuple[pd.DataFrame, InputReport]) -> InputReport:
    return scored[1]


def _prefix(table: pd.DataFrame, rounds: Shortlist) -> Prefix:
    return rounds.prefix(table)


def _above(table: pd.DataFrame, rounds: Shortlist, floor: float) -> pd.DataFrame:
    return table.iloc[rounds.above(table, floor)]


def _fillers(table: pd.DataFrame, rounds: Shortlist, floor: float, room: float) -> tuple[pd.DataFrame, float]:
    found = rounds.fillers(table, floor, room)
    return table.iloc[found.rows], found.left_min_effort


def _reasons(batch: LeadBatch, files: dict[str, str], only: pd.Index | None) -> dict[str, list[dict[str, Any]]]:
    from marketing.ranked_list import reasons_by_lead

    if only is not None:
        keep = batch.leads[c.LEAD_ID].astype("str").isin(only).to_numpy()
        leads = batch.leads.loc[keep].reset_index(drop=True)
        events = batch.events.loc[batch.events[c.EVENT_LEAD_ID].astype("str").isin(only).to_numpy()]
        batch = LeadBatch(leads, events.reset_index(drop=True))
    if batch.leads.empty:
        return {}
    return reasons_by_lead(_model_of(files), batch)


@dataclass
class PartitionedRanking:
    """The open leads of a partitioned data set, loaded on the workers of `client`, scored by `model`."""

    client: Any
    data_dir: str | Path
    model: Any

    def __post_init__(self) -> None:
        found = partitions(self.data_dir)
        self.n_partitions = len(found)
        loaded = self.client.map(_open_batch, found, pure=False)
        self._batches = self.client.map(_batch_of, loaded)
        self.load_warnings: list[str] = [
            w for ws in self.client.gather(self.client.map(_warnings_of, loaded)) for w in ws
        ]
        self._files = self.client.scatter(stored_form(self.model), broadcast=True)
        scored = self.client.map(_score, self._batches, files=self._files)
        self._tables = self.client.map(_table, scored)
        self._reports = self.client.map(_report_of, scored)

    def _warnings(self) -> list[str]:
        return InputReport.combined(self.client.gather(self._reports)).messages()

    def score(self) -> tuple[pd.DataFrame, list[str]]:
        """The scored table of every open lead (partition after partition) and the input's warnings."""
        scored = pd.concat(self.client.gather(self._tables), ignore_index=True)
        if scored.empty:
            from engines.cluster import EngineError

            raise EngineError(f"{self.data_dir}: no open leads (leads without an outcome) to rank")
        return scored, self._warnings()

    def shortlist(
        self, spec: CapacitySpec, objective: Objective = "closes", horizon_days: float | None = None
    ) -> tuple[pd.DataFrame, int, list[str]]:
        """The scored rows of the open leads that can reach `sales_ready` or `marketing_qualified` under `spec`,
        how many leads were left on the workers (all `nurture`), and the input's warnings. Every lead (none left
        out) for a team, or when `handoff.shortlist.covers` cannot prove the handoff unchanged."""
        if not shortlist_applies(spec):
            scored, warnings = self.score()
            return scored, 0, warnings
        client, rounds = self.client, Shortlist(spec, objective, horizon_days)
        floor = rounds.floor(client.gather(client.map(_prefix, self._tables, rounds=rounds)))
        high = pd.concat(client.gather(client.map(_above, self._tables, rounds=rounds, floor=floor)), ignore_index=True)
        room = rounds.room(high)
        light = client.gather(client.map(_fillers, self._tables, rounds=rounds, floor=floor, room=room))
        gathered = pd.concat([high, *(rows for rows, _ in light)], ignore_index=True)
        left_min = min((m for _, m in light), default=float("inf"))
        if gathered.empty or not rounds.covers(gathered, floor, left_min):
            log.info("shortlist: the handoff of the shortlisted leads is not proved the same; gathering every lead")
            scored, warnings = self.score()
            return scored, 0, warnings
        n_scored = sum(client.gather(client.map(len, self._tables)))
        return gathered, n_scored - len(gathered), self._warnings()

    def reasons(self, lead_ids: frozenset[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """The reasons (the API's reason dicts) of every open lead, or of `lead_ids` only, computed on the
        workers."""
        out: dict[str, list[dict[str, Any]]] = {}
        # Sent once to every worker as one object (Dask would take a set in a task's arguments apart).
        only = None if lead_ids is None else self.client.scatter(pd.Index(sorted(lead_ids)), broadcast=True)
        parts = self.client.map(_reasons, self._batches, files=self._files, only=only)
        for part in self.client.gather(parts):
            out.update(part)
        return out
