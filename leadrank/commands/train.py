"""`leadrank train`, `promote`, `rollback` and `ui`: thin wrappers over `training` that parse arguments, call
the library and print.

Library errors (`TrackingError` and its subclass `RegistryError`) become a message on stderr and exit code 2;
a model the promotion gate refuses makes `train` exit with code 3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from leadrank.cli_support import (
    EXIT_GATE_REFUSED,
    DataDirOption,
    Engine,
    EngineOption,
    ExperimentOption,
    SchedulerOption,
    SeedOption,
    SpecOption,
    fail,
    load_settings,
    print_json,
    scheduler_address,
)
from leadrank.config import tracking_config
from training import registry, tracking


def promote(
    version: Annotated[str, typer.Argument(help="Model version to make champion, e.g. 3.", show_default=False)],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, recorded on the version (required).", show_default=False)
    ],
) -> None:
    """Make a model version the champion by hand, overriding the promotion gate."""
    settings = load_settings()
    try:
        change = registry.promote(version, reason, tracking_config(settings))
    except tracking.TrackingError as exc:
        fail(str(exc))
    print(
        f"Champion of {change.model_name!r} is now version {change.version} "
        f"(was {change.previous or 'none'}). Reason recorded: {change.reason}"
    )


def rollback(
    reason: Annotated[
        str, typer.Option("--reason", help="Why, recorded on both versions (required).", show_default=False)
    ],
) -> None:
    """Move the champion back to the version that was champion before the current one."""
    settings = load_settings()
    try:
        change = registry.rollback(reason, tracking_config(settings))
    except tracking.TrackingError as exc:
        fail(str(exc))
    print(
        f"Rolled back {change.model_name!r}: champion is now version {change.version} "
        f"(was {change.previous or 'none'}). Reason recorded: {change.reason}"
    )


def ui(
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 5000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
) -> None:
    """Browse runs, metrics and registered models: runs the MLflow UI on the local store."""
    config = tracking_config(load_settings())
    try:
        command = tracking.mlflow_server_command(config, host=host, port=port)
    except tracking.TrackingError as exc:
        fail(str(exc))
    uri = config.tracking_uri
    db_file = tracking.sqlite_path(uri)
    if db_file is not None:
        try:
            db_file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"cannot create the directory {db_file.parent} for the MLflow store: {exc.strerror}")
    print(f"MLflow UI at http://{host}:{port}  (store {uri}, artifacts {config.artifact_root}); Ctrl-C stops it")
    try:
        # Its own session, so stopping it reaches the whole tree (launcher, uvicorn worker) even when this
        # process is not in a terminal's foreground group.
        server = subprocess.Popen(command, env=tracking.mlflow_server_environment(), start_new_session=True)
    except OSError as exc:
        fail(f"cannot start the MLflow server: {exc}")
    # A service manager stops us with SIGTERM; treat it like Ctrl-C so the server does not outlive us.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    try:
        returncode = server.wait()
    except KeyboardInterrupt:
        _stop(server)
        return
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    if returncode != 0:
        fail(f"the MLflow server exited with code {returncode} (is port {port} already in use?)")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: politely, then firmly."""
    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            server.poll()  # reap the launcher, or its zombie keeps the group "alive"
            if not _group_alive(server.pid):
                return
            time.sleep(0.2)
    server.wait()


def train(
    data: DataDirOption = None,
    spec: SpecOption = None,
    experiment: ExperimentOption = None,
    seed: SeedOption = 7,
    metrics_out: Annotated[
        Path | None,
        typer.Option("--metrics-out", help="Also write all test metrics to this JSON file.", show_default=False),
    ] = None,
    register: Annotated[
        bool, typer.Option("--register/--no-register", help="Register the model behind the promotion gate.")
    ] = True,
    search_seconds: Annotated[
        float,
        typer.Option(
            "--search-seconds",
            min=0,
            help="Time budget for a random search of LightGBM parameters, picked by validation log loss (0: off).",
        ),
    ] = 0.0,
    search_trials: Annotated[
        int,
        typer.Option("--search-trials", min=1, help="At most this many search trials (the first: default parameters)."),
    ] = 30,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the result (run, metrics, candidates, registration and gate verdict) as JSON on stdout, "
            "nothing else; progress goes to stderr.",
        ),
    ] = False,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Train on history: time-ordered split, baselines vs LightGBM, calibration, MLflow run, guarded registry.

    Exit code 0: trained (and, with --register, promoted to champion); 2: bad input; 3: trained and registered
    as challenger, but the promotion gate refused it, so the champion did not change.
    """
    from rich.console import Console

    from engines.cluster import EngineError
    from features.engagement import FeatureInputError
    from features.io import DataLoadError
    from features.spec import SpecError
    from leadrank.config import gate_policy, tracking_config
    from leadrank.report import Steps
    from leadrank.report import console as make_console
    from model import ModelFormatError
    from training.pipeline import TrainingError, TrainOptions, load_training_data
    from training.tracking_run import train_and_log

    if (data is None) == (spec is None):
        fail("give exactly one of --data DIR (canonical tables) or --spec FILE.toml (a foreign CRM export)")
    if engine == Engine.dask and data is None:
        fail("--engine dask trains on a partitioned canonical data folder (--data); a dataset spec trains locally")
    settings = load_settings()
    # With --json stdout holds the JSON document only: everything else goes to stderr.
    console = Console(stderr=True) if as_json else make_console()
    options = TrainOptions(
        seed=seed,
        experiment=experiment,
        register=register,
        search_seconds=search_seconds,
        search_trials=search_trials,
    )
    try:
        store, policy = tracking_config(settings), gate_policy(settings)
        if engine == Engine.dask:
            assert data is not None
            result = _train_on_dask(console, data, scheduler_address(scheduler, settings), store, policy, options)
        else:
            dataset = load_training_data(data_dir=data, spec=spec)
            console.print(f"training on {escape(dataset.origin)} ({len(dataset.batch.leads):,} leads)", highlight=False)
            for note in dataset.notes:
                console.print(f"  note: {escape(note)}", highlight=False)
            with Steps(console) as step:
                result = train_and_log(dataset, store, policy, options, progress=step)
    except (
        EngineError,
        DataLoadError,
        SpecError,
        FeatureInputError,
        TrainingError,
        tracking.TrackingError,
        ModelFormatError,
    ) as exc:
        fail(str(exc))
    if metrics_out is not None:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        metrics_out.write_text(json.dumps(result.metrics, indent=2, default=str) + "\n")
    if as_json:
        print_json(training_json(result))
    else:
        print_training(console, result)
        if metrics_out is not None:
            console.print(f"metrics written to {escape(str(metrics_out))}", highlight=False)
    if result.registration is not None and not result.registration.promoted:
        raise typer.Exit(EXIT_GATE_REFUSED)


def _train_on_dask(console: Any, data: Path, scheduler: str | None, store: Any, policy: Any, options: Any) -> Any:
    """`train --engine dask`: the recipe on a Dask cluster, then the same tracking and registration as locally."""
    from engines.cluster import dask_client
    from engines.dask_training import train_dask
    from leadrank.report import Steps
    from training.tracking_run import log_and_register

    where = f"the Dask scheduler at {scheduler}" if scheduler else "a local Dask cluster"
    console.print(f"training on {escape(str(data))} (partitioned) with {escape(where)}", highlight=False)
    with Steps(console) as step:
        step(f"connecting to {where}" if scheduler else f"starting {where}")
        with dask_client(scheduler) as client:
            result, dataset = train_dask(client, data, options, progress=step)
            step("logging to MLflow" + (" and registering behind the promotion gate" if options.register else ""))
            log_and_register(result, dataset, store, policy, options)
    return result


def training_json(result: Any) -> dict[str, Any]:
    """What `train --json` prints: the run, the metrics (those of `--metrics-out`, the candidates side by side
    under `candidates`) and the registration with the gate's checks (`registration` is null with --no-register)."""
    reg = result.registration
    registration = None
    if reg is not None:
        registration = {
            "model_name": reg.model_name,
            "version": reg.version,
            "promoted": reg.promoted,
            "previous_champion": reg.previous_champion,
            "gate": {
                "summary": reg.decision.summary(),
                "checks": [
                    {
                        "name": check.name,
                        "passed": check.passed,
                        "blocking": check.blocking,
                        "value": check.value,
                        "threshold": check.threshold,
                        "message": check.message,
                    }
                    for check in reg.decision.checks
                ],
            },
        }
    return {
        "run_id": result.run_id,
        "registration": registration,
        "metrics": result.metrics,
        "warnings": list(result.warnings),
    }


def print_training(console: Any, result: Any) -> None:
    """The end-of-training summary: split, candidates side by side, oracle ratio, registration outcome."""

    from leadrank.report import print_frame

    m = result.metrics
    split = m["split"]
    for part in ("train", "validation", "test"):
        info = split[part]
        when = f"{info.get('from', '?')} .. {info.get('to', '?')}" if "from" in info else "no dates"
        console.print(f"  {part:<10} {info['rows']:>9,} leads  {info['positive_rate']:.1%} won  {when}")
    backtest = m.get("backtest")
    if backtest is not None:
        for number, fold in backtest["folds"].items():
            console.print(
                f"  backtest fold {number}: AUC {fold['roc_auc']:.3f}, ECE {fold['ece']:.3f} on {fold['rows_test']:,} "
                f"leads {fold.get('test_from') or ''} .. {fold.get('test_to') or ''}"
            )
        console.print(
            f"  backtest mean AUC {backtest['mean']['roc_auc']:.3f}; window: {escape(backtest['window_choice'])}"
        )
    print_frame(console, result.summary, title=f"Test period ({split['kind']} split): candidates side by side")
    console.print(
        f"  capacity for the test period: {m['capacity_hours']:,.0f} selling hours; LightGBM hands off "
        f"{m['test_leads_at_capacity']:,.0f} leads, {m['test_expected_closes_at_capacity']:,.0f} of them won "
        f"({m['test_close_rate_at_capacity']:.1%} close rate)"
    )
    if "test_true_closes_top10pct_vs_oracle" in m:
        console.print(
            f"  vs the oracle (true probabilities): top-10% {m['test_true_closes_top10pct_vs_oracle']:.1%}, "
            f"at capacity {m['test_true_closes_at_capacity_vs_oracle']:.1%} of its true expected closes"
        )
    search = m.get("lightgbm_search")
    if search is not None:
        console.print(
            f"  LightGBM parameter search: {search['trials']} trials in {search['seconds']:g} s (stopped by "
            f"{search['stopped_by']}); validation log loss {search['best_val_log_loss']:.5f}, default "
            f"{search['default_val_log_loss']:.5f}; chosen: "
            + ", ".join(f"{k}={v}" for k, v in m["lightgbm_params"].items())
        )
    for w in result.warnings:
        console.print(f"  [yellow]warning:[/] {escape(w)}", highlight=False)
    if "refit" in m:
        from training.tracking_run import fitted_on_text

        console.print(f"  served model refit on {escape(fitted_on_text(m))}", highlight=False)
    reg = result.registration
    if reg is not None:
        verdict = (
            "[green]promoted to champion[/]"
            if reg.promoted
            else "[yellow]kept as challenger: the promotion gate refused it[/]"
        )
        console.print(f"  model {escape(repr(reg.model_name))} version {reg.version}: {verdict}")
        for check in reg.decision.checks:
            mark = "ok " if check.passed else "FAIL"
            console.print(f"    {mark} {escape(check.message)}", highlight=False)
    if result.run_id:
        console.print(f"  MLflow run {result.run_id} (browse with `leadrank ui`)")
