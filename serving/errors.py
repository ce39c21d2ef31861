"""Exceptions of the scoring service: the HTTP layer turns them into a JSON answer, the CLI into exit 2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

# A request with thousands of bad rows gets the first problems, not a megabyte of them.
MAX_PROBLEMS: Final = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (a JSON path like `leads[3].events[0].ts`) and what."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ServingError(Exception):
    """Base class of the service's errors; the message says what went wrong and what to do."""


class RequestError(ServingError):
    """A request that cannot be served as sent: 400 (bad value), 413 (over a limit) and the like."""

    def __init__(self, status: int, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems or [])

    def body(self) -> dict[str, Any]:
        shown = self.problems[:MAX_PROBLEMS]
        body: dict[str, Any] = {"error": self.message, "problems": [p.to_dict() for p in shown]}
        if len(self.problems) > len(shown):
            body["problems_not_shown"] = len(self.problems) - len(shown)
        return body


class ModelStoreError(ServingError):
    """The model cannot be found, imported from MLflow or loaded from the BentoML model store."""


class PredictionLogError(ServingError):
    """The prediction log cannot be opened or written; scoring without a record is refused (HTTP 503)."""


class OutcomesError(ServingError):
    """An outcomes file is missing, unreadable or malformed; the message names the file, row and column."""
