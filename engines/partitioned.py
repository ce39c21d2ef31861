"""Partitioned Parquet data sets: the canonical tables as folders of files, a lead's events with the lead.

Layout (a data folder, on shared storage or an object store every worker can read):

    DATA/leads/part-00000.parquet   DATA/events/part-00000.parquet   (truth.parquet: simulated data only)
    DATA/leads/part-00001.parquet   DATA/events/part-00001.parquet
    ...

Partition k of `events` holds the events of exactly the leads in partition k of `leads` (leads are assigned to a
partition by a hash of their id), so the point-in-time features of a lead are computed from one partition alone.
Each partition is loaded with `features.io.load_history`, the same checks and messages as a single file; a
message names the partition's file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engines.cluster import EngineError
from features import contract as c
from features.io import History, load_history, write_table

log = logging.getLogger(__name__)

LEADS_DIR = "leads"
EVENTS_DIR = "events"
TRUTH_FILE = "truth.parquet"
# A partition of about this many leads (some 35 events each in simulated data) keeps a worker's share of
# events, features and LightGBM input well within a few GiB.
LEADS_PER_PARTITION = 200_000


@dataclass(frozen=True)
class Partition:
    """One partition's files: its leads and the events of those leads."""

    number: int
    leads: str
    events: str | None


def is_partitioned(directory: str | os.PathLike[str]) -> bool:
    return (Path(directory) / LEADS_DIR).is_dir()


def partitions(directory: str | os.PathLike[str]) -> list[Partition]:
    """The partitions of a data folder, checked: a leads file per partition and the events file beside it."""
    root = Path(directory)
    if not root.is_dir():
        raise EngineError(f"{root}: not a directory" if root.exists() else f"{root}: directory not found")
    leads_dir, events_dir = root / LEADS_DIR, root / EVENTS_DIR
    if not leads_dir.is_dir():
        raise EngineError(
            f"{root}: not a partitioned data set (expected a folder {LEADS_DIR}/ of part-*.parquet files; write "
            "one with `leadrank simulate --engine dask` or engines.partitioned.write_partitioned)"
        )
    found = sorted(leads_dir.glob("part-*.parquet"))
    if not found:
        raise EngineError(f"{leads_dir}: no part-*.parquet files")
    out: list[Partition] = []
    for k, path in enumerate(found):
        events = events_dir / path.name
        if events_dir.is_dir() and not events.is_file():
            raise EngineError(f"{events}: missing; every leads partition needs its events partition (can be empty)")
        out.append(Partition(k, str(path), str(events) if events.is_file() else None))
    if events_dir.is_dir():
        extra = sorted({p.name for p in events_dir.glob("part-*.parquet")} - {Path(p.leads).name for p in out})
        if extra:
            raise EngineError(f"{events_dir}: events partitions without a leads partition: {', '.join(extra[:5])}")
    return out


def load_partition(partition: Partition) -> History:
    """One partition's leads and events, validated as `features.io.load_history` validates single files."""
    return load_history(partition.leads, partition.events)


def partition_of(lead_ids: pd.Series, n_partitions: int) -> np.ndarray:
    """The partition of each lead id: a stable hash of the id's text, modulo the partition count."""
    text = pd.Series(lead_ids.astype("str").to_numpy(dtype=object))
    hashed = pd.util.hash_pandas_object(text, index=False).to_numpy()
    partition: np.ndarray = (hashed % np.uint64(n_partitions)).astype(np.int64)
    return partition


def write_partitioned(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    n_partitions: int,
    truth: pd.DataFrame | None = None,
) -> list[Partition]:
    """Write canonical tables as a partitioned data set (leads hashed to partitions by id; each event with its
    lead). Replaces the partitions of an earlier data set in `out_dir`."""
    if n_partitions < 1:
        raise EngineError(f"the number of partitions must be at least 1, got {n_partitions}")
    out = Path(out_dir)
    _prepare(out)
    lead_part = partition_of(leads[c.LEAD_ID], n_partitions)
    lookup = pd.Series(lead_part, index=leads[c.LEAD_ID].astype("str").to_numpy())
    event_part = lookup.reindex(events[c.EVENT_LEAD_ID].astype("str").to_numpy()).to_numpy()
    written = []
    for k in range(n_partitions):
        part_leads = leads.loc[lead_part == k].reset_index(drop=True)
        part_events = events.loc[event_part == k].reset_index(drop=True)
        written.append(write_partition(out, k, part_leads, part_events))
    if truth is not None:
        write_table(truth, out / TRUTH_FILE)
    return written


def _prepare(out: Path) -> None:
    for sub in (LEADS_DIR, EVENTS_DIR):
        folder = out / sub
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("part-*.parquet"):
            stale.unlink()


def write_partition(out: Path, number: int, leads: pd.DataFrame, events: pd.DataFrame) -> Partition:
    name = f"part-{number:05d}.parquet"
    leads_path, events_path = out / LEADS_DIR / name, out / EVENTS_DIR / name
    write_table(leads, leads_path)
    write_table(events, events_path)
    return Partition(number, str(leads_path), str(events_path))


def simulate_partitioned(
    client: Any, n_leads: int, seed: int, months: int, out_dir: str | os.PathLike[str], n_partitions: int
) -> dict[str, Any]:
    """A simulated history written as a partitioned data set, each partition simulated on a worker.

    Partition k is an independent simulation of its share of the leads over the same months (seeded from `seed`
    and k), its lead ids prefixed with `P<k>-`, so no process ever holds the whole history; the same seed and
    partition count give the same files. Returns the leads, events and open leads written."""
    if not 1 <= n_partitions <= n_leads:
        raise EngineError(f"the number of partitions must be between 1 and the number of leads, got {n_partitions}")
    out = Path(out_dir)
    _prepare(out)
    sizes = np.diff(np.linspace(0, n_leads, n_partitions + 1).round().astype(np.int64))
    seeds = np.random.SeedSequence(seed).spawn(n_partitions)
    seed_ints = [int(s.generate_state(1)[0]) for s in seeds]
    futures = client.map(
        _simulate_partition,
        list(range(n_partitions)),
        [int(n) for n in sizes],
        seed_ints,
        [months] * n_partitions,
        [str(out)] * n_partitions,
        pure=False,
    )
    facts: list[dict[str, Any]] = []
    truths: list[pd.DataFrame] = []
    for fact, truth in client.gather(futures):
        facts.append(fact)
        truths.append(truth)
    write_table(pd.concat(truths, ignore_index=True), out / TRUTH_FILE)
    return {key: sum(f[key] for f in facts) for key in ("leads", "events", "open")}


def _simulate_partition(
    number: int, n_leads: int, seed: int, months: int, out: str
) -> tuple[dict[str, int], pd.DataFrame]:
    import simulator as sim

    history = sim.simulate(n_leads=n_leads, seed=seed, months=months)
    prefix = f"P{number}-"
    leads = history.leads.assign(**{c.LEAD_ID: _prefixed(history.leads[c.LEAD_ID], prefix)})
    events = history.events.assign(**{c.EVENT_LEAD_ID: _prefixed(history.events[c.EVENT_LEAD_ID], prefix)})
    truth = history.truth.assign(**{c.LEAD_ID: _prefixed(history.truth[c.LEAD_ID], prefix)})
    write_partition(Path(out), number, leads, events)
    facts = {"leads": len(leads), "events": len(events), "open": int(leads[c.OUTCOME].isna().sum())}
    return facts, truth


def _prefixed(ids: pd.Series, prefix: str) -> pd.Series:
    text = pa.array(ids.array).cast(pa.large_string())
    joined = pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), text, pa.scalar("", pa.large_string()))
    return pd.Series(joined, dtype="str", index=ids.index, copy=False)
