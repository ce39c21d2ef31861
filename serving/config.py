"""The service's settings, read from `LEADRANK_*` environment variables at the service's start-up.

`leadrank.settings.Settings` (what the command line reads) extends this class with the training and registry
settings, so each variable is defined once. Nothing here runs at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADRANK_", extra="ignore")

    home: Path = Field(
        default=Path("."),
        description="Working directory for the local MLflow store (mlflow.db, mlruns/) and the prediction log.",
    )
    max_batch: int = Field(default=10_000, ge=1, description="Most leads in one HTTP request.")
    max_events_per_lead: int = Field(default=5_000, ge=1, description="Most events per lead in one request.")
    api_tokens: str = Field(default="", description="Comma-separated bearer tokens; empty: no auth.")
    prediction_db: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the prediction log. Unset: sqlite:///<home>/predictions.db.",
    )

    def resolved_prediction_db(self) -> str:
        return self.prediction_db or f"sqlite:///{(self.home / 'predictions.db').resolve()}"

    def token_list(self) -> list[str]:
        return [t.strip() for t in self.api_tokens.split(",") if t.strip()]
