"""The training recipe on a Dask cluster: `training.pipeline.fit_recipe` with a `DaskTrainingSet`.

Where the work runs:

- on the workers, partition by partition: loading and checking the files (`features.io`), fitting the features
  on each partition and computing every closed lead's features (`EngagementFeatures`, the same code as in one
  process), the input report, the points baseline; each partition's features stay where they were computed;
  its events are read from its files by each step that needs them and not kept;
- on the workers, together: every LightGBM fit, through `lightgbm.dask` (data-parallel training, one LightGBM
  process per worker that holds training rows). Early stopping needs the same validation score on every worker,
  so each of them gets a full copy of the (gathered) validation rows;
- on the client, gathered: the leads table (without events), the categories of the features (merged once), the
  validation and test windows' features, the newest window's leads with their events (calibration, evaluation,
  the baselines, the gate). These are a few columns per lead or a window of the history; see docs/deploy.md for
  where that stops being small.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import wait

from engines.partitioned import TRUTH_FILE, Partition, load_partition, partitions
from features import contract as c
from features.contract import LeadBatch
from features.engagement import CATEGORICAL, NUMERIC, EngagementFeatures, InputReport
from model import ModelInput
from training import candidates as cand
from training.pipeline import Progress, TrainingData, TrainOptions, TrainResult, closed_leads, fit_recipe
from training.training_set import content_hash, input_warnings, table_fingerprint

log = logging.getLogger(__name__)

# The in-memory baselines (naive Bayes, logistic regression) fit on at most this many leads of the training
# period, evenly spread over it: they are yardsticks, and beyond this their comparison does not change.
BASELINE_MAX_ROWS = 300_000


@dataclass
class _Part:
    """One partition on a worker: its closed leads (positions as in the client's `closed`) and its files. Its
    events are read from the files by each step that needs them and let go after it: they are most of the data,
    and holding every partition's events would cap the data set at what the workers' memory holds."""

    closed: pd.DataFrame
    partition: Partition


def _load(partition: Partition) -> tuple[_Part, pd.DataFrame, str, int]:
    history = load_partition(partition)
    part = _Part(closed_leads(history.leads), partition)
    return part, history.leads, content_hash(history.leads, history.events), len(history.events)


def _events(part: _Part) -> pd.DataFrame:
    return load_partition(part.partition).events


def _first(pair: tuple[Any, ...], k: int) -> Any:
    return pair[k]


def _fit_part(part: _Part, features: EngagementFeatures) -> EngagementFeatures:
    from sklearn.base import clone

    fitted: EngagementFeatures = clone(features).fit(LeadBatch(part.closed, _events(part)))
    return fitted


def _values_and_report(part: _Part, features: EngagementFeatures) -> tuple[np.ndarray, InputReport]:
    batch = LeadBatch(part.closed, _events(part))
    _, columns = features.columns_of(batch)
    values: np.ndarray = features.transform_columns(columns)
    return values, features.inspect(batch)


def _take(values: np.ndarray, local: np.ndarray) -> np.ndarray:
    taken: np.ndarray = values[:, local]
    return taken


def _stack(design: ModelInput, local_rows: list[np.ndarray], *values: np.ndarray) -> np.ndarray:
    """The boosters' input for the given rows of the partitions on this worker, stacked in order."""
    return np.concatenate([design.matrix(v[:, rows]) for v, rows in zip(values, local_rows, strict=True)])


def _points(part: _Part, local: np.ndarray) -> np.ndarray:
    return cand.points_score(LeadBatch(part.closed.iloc[local].reset_index(drop=True), _events(part)))


def _batch(part: _Part, local: np.ndarray) -> LeadBatch:
    return LeadBatch.of_leads(part.closed.iloc[local].reset_index(drop=True), _events(part))


class DaskTrainingSet:
    """The closed leads of a partitioned data set, their events and features on the workers of `client`."""

    def __init__(self, client: Any, data_dir: str | Path) -> None:
        self.client = client
        self.origin = str(data_dir)
        found = partitions(data_dir)
        loaded = client.map(_load, found, pure=False)
        self._parts = client.map(_first, loaded, k=0)
        leads_parts = client.gather(client.map(_first, loaded, k=1))
        digests = client.gather(client.map(_first, loaded, k=2))
        n_events = sum(client.gather(client.map(_first, loaded, k=3)))
        del loaded
        self.leads = pd.concat(leads_parts, ignore_index=True)
        # Partition k's closed leads are rows offsets[k]:offsets[k + 1] of `closed`: `closed_leads` keeps order.
        counts = [int(part[c.OUTCOME].notna().sum()) if c.OUTCOME in part else 0 for part in leads_parts]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._closed = closed_leads(self.leads) if c.OUTCOME in self.leads else self.leads.iloc[:0]
        digest = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        self._fingerprint = table_fingerprint(self.origin, self.leads, n_events, digest)
        self.n_partitions = len(found)
        self._values: list[Any] = []
        self._features: EngagementFeatures | None = None
        self._design: ModelInput | None = None

    # --- where rows live ----------------------------------------------------------------------------------

    def _locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        part = np.searchsorted(self._offsets, rows, side="right") - 1
        return part, rows - self._offsets[part]

    def _per_partition(self, rows: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Partition -> (positions in `rows`, local rows in the partition), in the order of `rows`."""
        part, local = self._locate(np.asarray(rows, dtype=np.int64))
        out = {}
        for k in np.unique(part):
            where = np.flatnonzero(part == k)
            out[int(k)] = (where, local[where])
        return out

    # --- TrainingSet ----------------------------------------------------------------------------------------

    @property
    def closed(self) -> pd.DataFrame:
        return self._closed

    def fit_features(self, features: EngagementFeatures) -> tuple[EngagementFeatures, list[str]]:
        client = self.client
        if features.categorical is None or features.numeric is None:
            # Which columns are attributes, and of which kind, is decided once (on the first partition), so that
            # every partition's fit has the same columns; their categories then come from every partition.
            probe = client.submit(_fit_part, self._parts[0], features).result()
            attributes = probe.feature_schema_.attributes
            features = EngagementFeatures(
                stage_map=features.stage_map,
                windows=features.windows,
                categorical=[a.column for a in attributes if a.kind == CATEGORICAL],
                numeric=[a.column for a in attributes if a.kind == NUMERIC],
            )
        fitted = EngagementFeatures.merged(client.gather(client.map(_fit_part, self._parts, features=features)))
        shared = client.scatter(fitted, broadcast=True)
        computed = client.map(_values_and_report, self._parts, features=shared)
        self._values = client.map(_first, computed, k=0)
        report = InputReport.combined(client.gather(client.map(_first, computed, k=1)))
        del computed
        self._features = fitted
        self._design = ModelInput(fitted.feature_schema_)
        return fitted, input_warnings(report)

    def values(self, rows: np.ndarray) -> np.ndarray:
        assert self._features is not None, "fit_features first"
        out = np.empty((self._features.n_features_out_, len(rows)), dtype=np.float64)
        where = self._per_partition(rows)
        futures = {k: self.client.submit(_take, self._values[k], local) for k, (_, local) in where.items()}
        for k, taken in zip(futures, self.client.gather(list(futures.values())), strict=True):
            out[:, where[k][0]] = taken
        return out

    def baseline_rows(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) <= BASELINE_MAX_ROWS:
            return rows
        return rows[np.linspace(0, len(rows) - 1, BASELINE_MAX_ROWS).round().astype(np.int64)]

    def batch(self, rows: np.ndarray) -> LeadBatch:
        where = self._per_partition(rows)
        futures = [self.client.submit(_batch, self._parts[k], local) for k, (_, local) in where.items()]
        batches = self.client.gather(futures)
        leads = pd.concat([b.leads for b in batches], ignore_index=True)
        # Back to the order of `rows`.
        position = np.concatenate([where[k][0] for k in where])
        leads = leads.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
        events = pd.concat([b.events for b in batches], ignore_index=True)
        return LeadBatch(leads, events)

    def points(self, rows: np.ndarray) -> np.ndarray:
        where = self._per_partition(rows)
        futures = {k: self.client.submit(_points, self._parts[k], local) for k, (_, local) in where.items()}
        out = np.empty(len(rows), dtype=np.float64)
        for k, scores in zip(futures, self.client.gather(list(futures.values())), strict=True):
            out[where[k][0]] = scores
        return out

    def fingerprint(self) -> dict[str, Any]:
        return self._fingerprint

    # --- fits ---------------------------------------------------------------------------------------------

    def _chunks(self, rows: np.ndarray, target: np.ndarray) -> tuple[Any, Any, list[str]]:
        """`rows` of the boosters' input and of `target` as Dask arrays with one chunk per worker, each chunk on
        its worker (built there from the partitions it holds), and the workers in chunk order."""
        import dask
        import dask.array as da

        assert self._design is not None, "fit_features first"
        where = self._per_partition(rows)
        needed = [self._values[k] for k in where]
        # A value block still being computed (or recomputed after the scheduler moved it) has no holder yet.
        wait(needed)
        holders = self.client.who_has(needed)
        by_worker: dict[str, list[int]] = defaultdict(list)
        for k in where:
            by_worker[sorted(holders[self._values[k].key])[0]].append(k)
        X_parts, y_parts, workers = [], [], []
        width = len(self._design.columns)
        for worker, ks in sorted(by_worker.items()):
            local = [where[k][1] for k in ks]
            n = sum(len(r) for r in local)
            stacked = self.client.submit(
                _stack,
                self._design,
                local,
                *[self._values[k] for k in ks],
                workers=[worker],
                allow_other_workers=False,
                pure=False,
            )
            y_rows = np.concatenate([rows[where[k][0]] for k in ks])
            y_future = self.client.scatter(target[y_rows], workers=[worker], hash=False)
            X_parts.append(da.from_delayed(dask.delayed(stacked), shape=(n, width), dtype=np.float64))
            y_parts.append(da.from_delayed(dask.delayed(y_future), shape=(n,), dtype=target.dtype))
            workers.append(worker)
        return da.concatenate(X_parts), da.concatenate(y_parts), workers

    def _replicated(self, rows: np.ndarray, target: np.ndarray, workers: list[str]) -> tuple[Any, Any]:
        """The validation rows gathered, one full copy per worker (chunk j on worker j): every worker computes
        the same validation score, so early stopping stops every worker at the same round."""
        import dask
        import dask.array as da

        assert self._design is not None
        M = self._design.matrix(self.values(rows))
        y = target[rows]
        X_parts, y_parts = [], []
        for worker in workers:
            X_future = self.client.scatter(M, workers=[worker], hash=False)
            y_future = self.client.scatter(y, workers=[worker], hash=False)
            X_parts.append(da.from_delayed(dask.delayed(X_future), shape=M.shape, dtype=np.float64))
            y_parts.append(da.from_delayed(dask.delayed(y_future), shape=y.shape, dtype=y.dtype))
        return da.concatenate(X_parts), da.concatenate(y_parts)

    def _fit(
        self,
        estimator: type,
        params: dict[str, Any],
        rows: np.ndarray,
        target: np.ndarray,
        layout: cand.BoosterLayout,
        val: np.ndarray | None = None,
        patience: int = 0,
    ) -> Any:
        import lightgbm as lgb

        X, y, workers = self._chunks(rows, target)
        kw: dict[str, Any] = {}
        if val is not None:
            X_val, y_val = self._replicated(val, target, workers)
            kw = {
                "eval_X": (X_val,),
                "eval_y": (y_val,),
                "callbacks": [lgb.early_stopping(patience, verbose=False)],
            }
        # Each worker's threads are LightGBM's threads there: the cluster sizes them, not the local default.
        params = {k: v for k, v in params.items() if k != "n_jobs"}
        model = estimator(client=self.client, **params)
        model.fit(X, y, **kw, **layout.fit_args())
        return model.to_local()

    def fit_classifier(
        self,
        rows: np.ndarray,
        val: np.ndarray,
        y: np.ndarray,
        seed: int,
        layout: cand.BoosterLayout,
        monotone: list[int],
        params: dict[str, Any] | None,
    ) -> Any:
        import lightgbm as lgb

        kw = cand.classifier_params(len(rows), seed, monotone, params, early_stopping=True)
        return self._fit(lgb.DaskLGBMClassifier, kw, rows, y, layout, val, cand.CLASSIFIER_PATIENCE)

    def fit_regressor(
        self, rows: np.ndarray, val: np.ndarray, target: np.ndarray, seed: int, layout: cand.BoosterLayout
    ) -> Any:
        import lightgbm as lgb

        kw = cand.regressor_params(len(rows), seed)
        return self._fit(lgb.DaskLGBMRegressor, kw, rows, target, layout, val, cand.REGRESSOR_PATIENCE)

    def fit_rounds(
        self,
        rows: np.ndarray,
        target: np.ndarray,
        rounds: int,
        seed: int,
        layout: cand.BoosterLayout,
        *,
        classifier: bool,
        monotone: list[int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        import lightgbm as lgb

        if classifier:
            kw = cand.classifier_params(len(rows), seed, monotone, params, early_stopping=False, rounds=rounds)
            return self._fit(lgb.DaskLGBMClassifier, kw, rows, target, layout)
        return self._fit(lgb.DaskLGBMRegressor, cand.regressor_params(len(rows), seed, rounds), rows, target, layout)


def training_data(tset: DaskTrainingSet, data_dir: str | Path) -> TrainingData:
    """What `fit_recipe` and the tracking need to know about a partitioned canonical data set."""
    leads = tset.leads
    has_effort = c.SALES_HOURS in leads.columns and bool(leads[c.SALES_HOURS].notna().any())
    root = Path(data_dir)
    return TrainingData(
        batch=LeadBatch(leads.iloc[:0], pd.DataFrame()),
        ordering="time",
        has_effort=has_effort,
        origin=str(data_dir),
        # The simulator's truth, when the data set has it, is read for evaluation only.
        data_dir=root if (root / TRUTH_FILE).is_file() else None,
    )


def train_dask(
    client: Any, data_dir: str | Path, options: TrainOptions | None = None, progress: Progress | None = None
) -> tuple[TrainResult, TrainingData]:
    """`training.pipeline.train` of a partitioned data set on the cluster of `client`."""
    say = progress or (lambda msg: log.info(msg))
    n_workers = len(client.scheduler_info()["workers"])
    say(f"loading the partitions of {data_dir} on {n_workers} Dask workers")
    tset = DaskTrainingSet(client, data_dir)
    data = training_data(tset, data_dir)
    n_open = len(tset.leads) - len(tset.closed)
    return fit_recipe(tset, data, n_open, options, progress), data
