"""The service's settings, read from `LEADRANK_*` environment variables at the service's start-up.

`leadrank.settings.Settings` (what the command line reads) extends this class with the training and registry
settings, so each variable is defined once. Nothing here runs at import time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A client's name goes into the prediction log and the server's log lines; a token never does.
CLIENT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_IDEMPOTENCY_TTL_HOURS: Final = 24.0
# Batch requests one worker holds at once (one working, the rest waiting): twice the benchmark's 32 clients.
DEFAULT_BATCH_QUEUE: Final = 64


@dataclass(frozen=True)
class ApiClient:
    """One configured caller: a name safe to log, and its bearer token (a secret: never logged or shown)."""

    name: str
    token: str

    def __repr__(self) -> str:  # a client printed by mistake must not show its token
        return f"ApiClient(name={self.name!r}, token=<hidden>)"


def parse_api_tokens(entries: Iterable[str]) -> list[ApiClient]:
    """`name:token` or plain `token` entries as clients; a plain token at position k is named `client-k`.

    Raises `ValueError` with a message that names entries by position and clients by name, never a token.
    """
    clients: list[ApiClient] = []
    k = 0
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        k += 1
        name, sep, token = entry.partition(":")
        if not sep:
            name, token = f"client-{k}", entry
        name, token = name.strip(), token.strip()
        if sep and not CLIENT_NAME.fullmatch(name):
            raise ValueError(
                f"entry {k}: the part before ':' is not a client name (letters, digits, '.', '_', '-', at most "
                "64, starting with a letter or digit); write entries as name:token or as a token without ':'"
            )
        if not token:
            raise ValueError(f"entry {k} (client {name!r}) has no token after ':'")
        if any(c.isspace() for c in token):
            raise ValueError(f"entry {k} (client {name!r}): a token cannot contain spaces")
        for other in clients:
            if other.name == name:
                raise ValueError(f"entry {k}: client name {name!r} is given twice")
            if other.token == token:
                raise ValueError(f"entry {k} (client {name!r}) has the same token as client {other.name!r}")
        clients.append(ApiClient(name, token))
    return clients


class ServiceSettings(BaseSettings):
    # Input values stay out of validation errors: LEADRANK_API_TOKENS holds secrets.
    model_config = SettingsConfigDict(env_prefix="LEADRANK_", extra="ignore", hide_input_in_errors=True)

    home: Path = Field(
        default=Path("."),
        description="Working directory for the local MLflow store (mlflow.db, mlruns/) and the prediction log.",
    )
    max_batch: int = Field(default=10_000, ge=1, description="Most leads in one HTTP request.")
    max_events_per_lead: int = Field(default=5_000, ge=1, description="Most events per lead in one request.")
    # SecretStr: a settings object printed or logged shows `**********` for the tokens.
    api_tokens: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated bearer tokens, each plain or as name:token (the name is what the "
        "prediction log records); empty: no auth.",
    )
    prediction_db: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the prediction log. Unset: sqlite:///<home>/predictions.db.",
    )
    batch_queue: int = Field(
        default=DEFAULT_BATCH_QUEUE,
        ge=1,
        description="Most batch requests (bodies over 64 KiB) one worker holds at once, the one being worked on "
        "and those waiting; past it they are answered 503 with Retry-After at once.",
    )
    idempotency_ttl_hours: float = Field(
        default=DEFAULT_IDEMPOTENCY_TTL_HOURS,
        gt=0,
        le=24 * 365,
        description="How long an Idempotency-Key is remembered (its answer replayed to a retry).",
    )

    @field_validator("api_tokens")
    @classmethod
    def _check_tokens(cls, value: SecretStr) -> SecretStr:
        parse_api_tokens(value.get_secret_value().split(","))
        return value

    def resolved_prediction_db(self) -> str:
        return self.prediction_db or f"sqlite:///{(self.home / 'predictions.db').resolve()}"

    def api_clients(self) -> list[ApiClient]:
        return parse_api_tokens(self.api_tokens.get_secret_value().split(","))

    def token_list(self) -> list[str]:
        return [client.token for client in self.api_clients()]
