"""The monitoring run in MLflow: the figures as metrics, the page and the JSON summary as artifacts, tagged with
the model version judged, in the experiment `<experiment>-monitoring` so training runs stay among themselves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from monitoring.checks import MonitorReport

if TYPE_CHECKING:
    from training.tracking import TrackingConfig

EXPERIMENT_SUFFIX = "-monitoring"


def log_monitoring_run(report: MonitorReport, tracking: TrackingConfig, page: Path | None = None) -> str:
    """Record `report` as an MLflow run; returns the run id."""
    import mlflow

    from training.tracking import configure_tracking, get_or_create_experiment, store_errors

    uri = configure_tracking(tracking)
    experiment = get_or_create_experiment(tracking, tracking.experiment + EXPERIMENT_SUFFIX)
    with (
        store_errors(uri),
        mlflow.start_run(experiment_id=experiment, run_name=f"monitor v{report.model_version}") as run,
    ):
        mlflow.set_tags(
            {
                "leadrank.kind": "monitoring",
                "leadrank.model_name": tracking.model_name,
                "leadrank.model_version": report.model_version,
                "leadrank.verdict": report.verdict,
                "leadrank.window": f"{report.since or ''}..{report.until or ''}",
                "leadrank.origin": report.origin,
            }
        )
        metrics = report.metrics()
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.log_dict(report.to_dict(), "monitor.json")
        if page is not None:
            mlflow.log_artifact(str(page))
        return str(run.info.run_id)
