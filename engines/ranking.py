"""Batch ranking: score open leads partition by partition through the model's one `predict`, then hand off.

`score_batch` is how a batch of open leads is scored for the handoff in one process (`leadrank rank`); on a
cluster, `PartitionedRanking` runs the same function on every partition of a partitioned data set, on the worker
that loaded it, and gathers only the scored table (a few numbers and the attributes per lead) for the capacity
policy (`handoff.hand_off`, unchanged). The model goes to the workers in its stored form (`model.store`: JSON and
LightGBM model text), the form the registry holds, and is loaded once per worker.
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
    return LeadBatch(open_leads(history.leads), history.events), list(history.warnings)


def _batch_of(loaded: tuple[LeadBatch, list[str]]) -> LeadBatch:
    return loaded[0]


def _warnings_of(loaded: tuple[LeadBatch, list[str]]) -> list[str]:
    return loaded[1]


def _score(batch: LeadBatch, files: dict[str, str]) -> tuple[pd.DataFrame, InputReport]:
    return score_batch(_model_of(files), batch)


def _reasons(batch: LeadBatch, files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    from marketing.ranked_list import reasons_by_lead

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

    def score(self) -> tuple[pd.DataFrame, list[str]]:
        """The scored table of every open lead (partition after partition) and the input's warnings."""
        results = self.client.gather(self.client.map(_score, self._batches, files=self._files))
        scored = pd.concat([s for s, _ in results], ignore_index=True)
        if scored.empty:
            from engines.cluster import EngineError

            raise EngineError(f"{self.data_dir}: no open leads (leads without an outcome) to rank")
        return scored, InputReport.combined([r for _, r in results]).messages()

    def reasons(self) -> dict[str, list[dict[str, Any]]]:
        """Every open lead's reasons (the API's reason dicts), computed on the workers."""
        out: dict[str, list[dict[str, Any]]] = {}
        for part in self.client.gather(self.client.map(_reasons, self._batches, files=self._files)):
            out.update(part)
        return out
