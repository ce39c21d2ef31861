"""Partitioned data sets: a lead's events sit with the lead, every partition is checked with the single-file
loader's messages, and a folder that is not a partitioned data set is refused with a clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engines.cluster import EngineError
from engines.dask_training import DaskTrainingSet
from engines.partitioned import load_partition, partitions, write_partitioned
from features import contract as c
from features.io import DataValidationError, write_table
from simulator import simulate


def test_each_lead_and_its_events_are_in_one_partition(tmp_path: Path) -> None:
    history = simulate(n_leads=500, seed=2)
    written = write_partitioned(history.leads, history.events, tmp_path, n_partitions=4)
    assert [p.number for p in partitions(tmp_path)] == [0, 1, 2, 3]
    seen_leads, seen_events = [], 0
    for part in written:
        loaded = load_partition(part)
        assert len(loaded.leads) > 0
        assert loaded.events[c.EVENT_LEAD_ID].isin(loaded.leads[c.LEAD_ID]).all()
        assert loaded.dropped_events == 0
        seen_leads += loaded.leads[c.LEAD_ID].tolist()
        seen_events += len(loaded.events)
    assert sorted(seen_leads) == sorted(history.leads[c.LEAD_ID])
    assert seen_events == len(history.events)
    # Writing again replaces the earlier partitions instead of mixing two data sets.
    write_partitioned(history.leads, history.events, tmp_path, n_partitions=2)
    assert len(partitions(tmp_path)) == 2


def test_a_folder_that_is_not_partitioned_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not a partitioned data set"):
        partitions(tmp_path)
    with pytest.raises(EngineError, match="directory not found"):
        partitions(tmp_path / "nope")
    history = simulate(n_leads=50, seed=2)
    write_partitioned(history.leads, history.events, tmp_path, n_partitions=2)
    (tmp_path / "events" / "part-00001.parquet").unlink()
    with pytest.raises(EngineError, match=r"events/part-00001.parquet: missing"):
        partitions(tmp_path)


def test_a_bad_partition_is_reported_with_its_file_row_and_column(cluster: Any, tmp_path: Path) -> None:
    history = simulate(n_leads=300, seed=4)
    write_partitioned(history.leads, history.events, tmp_path, n_partitions=2)
    bad_file = tmp_path / "leads" / "part-00001.parquet"
    bad = pd.read_parquet(bad_file)
    bad[c.CREATED_AT] = bad[c.CREATED_AT].astype(str)
    bad.loc[2, c.CREATED_AT] = "yesterday"
    write_table(bad, bad_file)
    with pytest.raises(DataValidationError) as raised:
        DaskTrainingSet(cluster, tmp_path)
    message = str(raised.value)
    assert "part-00001.parquet" in message and "created_at" in message and "row 3" in message
