"""A Dask client: connected to a running scheduler, or to a `LocalCluster` on this machine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# How long to wait for a scheduler that was named before giving up with a clear message.
CONNECT_TIMEOUT_S = 30


class EngineError(RuntimeError):
    """The distributed engine cannot run: no scheduler at the address, a partitioned data set that is not one."""


def local_cluster_size(cpus: int | None = None) -> tuple[int, int]:
    """Workers and threads per worker for a `LocalCluster` on this machine: one single-threaded worker process per
    core (features and LightGBM's data-parallel training both scale by processes, not by threads)."""
    n = cpus if cpus is not None else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, n), 1


@contextmanager
def dask_client(
    address: str | None = None, *, n_workers: int | None = None, threads_per_worker: int | None = None
) -> Iterator[Any]:
    """A `distributed.Client` for the scheduler at `address` (e.g. `tcp://scheduler:8786`), or, without one, for
    a `LocalCluster` of worker processes sized to this machine (no dashboard: nothing listens beyond what the
    workers need). The local cluster is closed on exit; a remote cluster is only disconnected from."""
    from dask.distributed import Client, LocalCluster

    _lightgbm_logs_to_logging()
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise EngineError(
                f"no Dask scheduler answered at {address!r} within {CONNECT_TIMEOUT_S} s ({exc}); check "
                "--scheduler / LEADRANK_DASK_SCHEDULER"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    workers, threads = local_cluster_size()
    # The scheduler of a local cluster runs in this process: its start-up and shut-down chatter is not news.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    cluster = LocalCluster(
        n_workers=n_workers or workers,
        threads_per_worker=threads_per_worker or threads,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )
    try:
        with Client(cluster) as client:
            log.info("local Dask cluster: %d workers", len(client.scheduler_info()["workers"]))
            # The workers share this terminal: what they print (LightGBM's network set-up) goes to stderr, so that
            # stdout stays the command's own (`--json` prints one JSON document there and nothing else).
            client.run(_stdout_to_stderr)
            yield client
    finally:
        cluster.close()
        quiet.setLevel(level)


def _stdout_to_stderr() -> None:
    import sys

    sys.stdout.flush()
    os.dup2(2, 1)


def _lightgbm_logs_to_logging() -> None:
    """`lightgbm.dask` reports its progress ("Finding random open ports") with print unless given a logger."""
    import lightgbm as lgb

    logger = logging.getLogger("lightgbm")
    if not any(isinstance(f, _ThreadsNotice) for f in logger.filters):
        logger.addFilter(_ThreadsNotice())
    lgb.register_logger(logger)


class _ThreadsNotice(logging.Filter):
    """`lightgbm.dask` says on every fit that the estimator's `n_jobs` is ignored: the workers' threads are
    LightGBM's threads there, which is what we want; not worth a warning line per fit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "n_jobs will be ignored" not in record.getMessage()
