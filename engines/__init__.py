"""Running leadrank beyond one machine: the same features, recipe and model, partition by partition on Dask.

- `engines.cluster`: a Dask client for a scheduler address, or a `LocalCluster` sized to this machine.
- `engines.partitioned`: partitioned Parquet data sets (a folder of files per table, a lead's events in the
  partition of the lead), written, simulated and loaded partition by partition with `features.io`'s checks.
- `engines.dask_training`: the training recipe of `training.pipeline` on a cluster: features per partition,
  boosters with `lightgbm.dask`, the small validation and test windows gathered.
- `engines.ranking`: scoring open leads partition by partition through the model's one `predict`, then the
  capacity policy on the scored table.

Nothing here re-implements a feature, a fit or a policy: it moves data to where `features`, `training`, `model`
and `handoff` run. No module imports the command line.
"""
