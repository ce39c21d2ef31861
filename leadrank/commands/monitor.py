"""`leadrank monitor`: does the champion still hold? A thin wrapper over `monitoring`.

Exit code 0 whatever the verdict (it is printed, written to the page and the JSON, and logged to MLflow), also
when the window holds nothing to judge; 2 for bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from leadrank.cli_support import ModelVersionOption, fail, load_settings, print_json


def monitor(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Judge a canonical data folder (leads.*, events.*) instead of the prediction log.",
            show_default=False,
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="Judge a CRM export through its dataset spec (TOML).", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Window start (ISO date): leads decided / scored from then.", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Window end (ISO date, exclusive).", show_default=False),
    ] = None,
    model_version: ModelVersionOption = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the monitoring page (HTML).")] = Path(
        "leadrank-out/monitor.html"
    ),
    log_run: Annotated[
        bool, typer.Option("--log/--no-log", help="Log the figures to MLflow as a monitoring run.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout, nothing else.")] = False,
) -> None:
    """Watch the champion: drift of its inputs and score, and realised against predicted once outcomes are in.

    Without --data/--spec it reads the prediction log (LEADRANK_PREDICTION_DB) joined with the outcomes imported
    by `leadrank outcomes import`; the log keeps no features, so feature drift needs --data or --spec.
    """
    from rich.console import Console

    from features.engagement import FeatureInputError
    from features.io import DataLoadError
    from features.spec import SpecError
    from leadrank.commands.rank import RankError, load_champion
    from leadrank.config import tracking_config
    from monitoring import MonitoringError, judge, parse_time, window_from_data, window_from_log
    from monitoring.page import render_page
    from monitoring.tracking import log_monitoring_run
    from serving.errors import ServingError
    from training.pipeline import TrainingError, load_training_data
    from training.tracking import TrackingError

    if data is not None and spec is not None:
        fail("give at most one of --data DIR or --spec FILE.toml (neither: the prediction log)")
    settings = load_settings()
    console = Console(stderr=True) if as_json else Console()
    tracking = tracking_config(settings)
    try:
        start, end = parse_time(since, "--since"), parse_time(until, "--until")
        if start is not None and end is not None and end <= start:
            fail(f"--until {until} must be after --since {since}")
        model, version = load_champion(tracking, model_version)
        if data is not None or spec is not None:
            dataset = load_training_data(data_dir=data, spec=spec)
            window = window_from_data(model, dataset.batch, start, end, origin=dataset.origin)
        else:
            from serving.predictions import read_log

            predictions, outcomes = read_log(settings.resolved_prediction_db())
            window = window_from_log(predictions, outcomes, version, start, end)
        test_auc = (model.metadata.get("test_metrics") or {}).get("test_roc_auc")
        report = judge(window, model.reference, version, test_auc if isinstance(test_auc, float) else None)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_page(report), encoding="utf-8")
        run_id = log_monitoring_run(report, tracking, out) if log_run else None
    except (
        MonitoringError,
        RankError,
        DataLoadError,
        SpecError,
        FeatureInputError,
        TrainingError,
        ServingError,
        TrackingError,
    ) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    if as_json:
        print_json({**report.to_dict(), "page": str(out), "mlflow_run_id": run_id})
        return
    colour = {"ok": "green", "watch": "yellow", "act": "red"}.get(report.verdict, "white")
    console.print(f"[bold {colour}]{escape(report.verdict)}[/]: {escape(report.headline)}", highlight=False)
    for check in report.checks:
        console.print(f"  {check.verdict:<5} {escape(check.title)}: {escape(check.reason)}", highlight=False)
        if check.verdict in ("watch", "act"):
            console.print(f"        -> {escape(check.action)}", highlight=False)
    for note in report.notes:
        console.print(f"  note: {escape(note)}", highlight=False)
    console.print(f"page written to {escape(str(out))}", highlight=False)
    if run_id:
        console.print(f"MLflow monitoring run {run_id}", highlight=False)
