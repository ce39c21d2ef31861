"""One settings object for the whole product, read from `LEADRANK_*` environment variables.

Nothing here runs at import time: build a `Settings()` where it is needed and pass it in.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from serving.config import ServiceSettings


class Settings(ServiceSettings):
    """The service's settings plus the training, tracking and promotion-gate ones."""

    model_config = SettingsConfigDict(env_prefix="LEADRANK_", extra="ignore")

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI. Unset: MLFLOW_TRACKING_URI if set, else sqlite:///<home>/mlflow.db.",
    )
    model_name: str = Field(default="lead-scorer", description="Registered model name in MLflow.")
    experiment: str = Field(default="leadrank", description="MLflow experiment name.")
    min_closed_leads: int = Field(default=1000, ge=0, description="Promotion gate: closed leads in the data.")
    min_wins: int = Field(default=100, ge=0, description="Promotion gate: won leads in the data.")
    max_auc_drop: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="Promotion gate: largest ROC AUC drop below the champion (absolute).",
    )
    max_ece: float = Field(default=0.05, ge=0, le=1, description="Promotion gate: largest calibration error (ECE).")
    max_closes_at_capacity_drop: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="Promotion gate: largest relative drop of expected closes at capacity below the champion.",
    )

    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address for --engine dask (e.g. tcp://scheduler:8786). Unset: a local cluster.",
    )

    def resolved_tracking_uri(self, environ: dict[str, str] | None = None) -> str:
        import os

        env = os.environ if environ is None else environ
        if self.tracking_uri:
            return self.tracking_uri
        if env.get("MLFLOW_TRACKING_URI"):
            return env["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"
