"""One Dask `LocalCluster` (2 worker processes, 1 thread each, no dashboard) and one small partitioned simulated
history for the engine tests: starting worker processes is the slow part, so it happens once per test process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engines.cluster import dask_client
from engines.partitioned import write_partitioned
from simulator import SimulatedHistory, simulate


@dataclass(frozen=True)
class Partitioned:
    data_dir: Path
    history: SimulatedHistory


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """A client of a local cluster of 2 single-threaded worker processes, closed after the session."""
    with dask_client(n_workers=2, threads_per_worker=1) as client:
        yield client


@pytest.fixture(scope="session")
def partitioned(tmp_path_factory: pytest.TempPathFactory) -> Partitioned:
    """A simulated history (the same tables the single-process tests load) written as 3 partitions."""
    data_dir = tmp_path_factory.mktemp("partitioned")
    history = simulate(n_leads=8000, seed=21)
    write_partitioned(history.leads, history.events, data_dir, n_partitions=3, truth=history.truth)
    return Partitioned(data_dir, history)


@dataclass(frozen=True)
class DaskRun:
    """`leadrank train --engine dask --json` on the partitioned history: its store and its printed result."""

    home: Path
    result: dict[str, Any]


def dask_env(mp: pytest.MonkeyPatch, home: Path, scheduler: str) -> None:
    """The commands' environment: the test MLflow store in `home`, the test cluster, a gate for small data."""
    from tests.conftest import use_store

    use_store(mp, home)
    mp.setenv("LEADRANK_DASK_SCHEDULER", scheduler)
    mp.setenv("LEADRANK_MIN_CLOSED_LEADS", "300")
    mp.setenv("LEADRANK_MIN_WINS", "30")


@pytest.fixture(scope="session")
def dask_run(cluster: Any, partitioned: Partitioned, tmp_path_factory: pytest.TempPathFactory) -> DaskRun:
    """One training on the cluster through the command line (seed 7, the command's default), shared by the
    parity and command-line tests: training is the slow part."""
    import json

    from typer.testing import CliRunner

    from leadrank.cli import app

    home = tmp_path_factory.mktemp("dask-home")
    mp = pytest.MonkeyPatch()
    try:
        dask_env(mp, home, cluster.scheduler.address)
        done = CliRunner().invoke(app, ["train", "--engine", "dask", "--data", str(partitioned.data_dir), "--json"])
    finally:
        mp.undo()
    assert done.exit_code == 0, done.output
    return DaskRun(home, json.loads(done.stdout))
