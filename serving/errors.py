"""Exceptions of the scoring service: the HTTP layer turns them into a JSON answer, the CLI into exit 2.

Every error answer of the API has one shape, `{"error", "code", "problems": [{"path", "message", "code"}]}`:
`message`s are for people and may be reworded; `code`s are for programs and stay as they are. The codes are
listed here once; the OpenAPI document and docs/api.md list the same ones (a test holds them together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

# A request with thousands of bad rows gets the first problems, not a megabyte of them.
MAX_PROBLEMS: Final = 50

# What is wrong with one value of a request (`problems[].code`).
ProblemCode = Literal[
    "missing_field",  # a required field or header is absent
    "unknown_field",  # a key the schema does not have
    "wrong_type",  # text for a number, a list for an object, ...
    "invalid_value",  # the right type, but out of range, empty, too long, not allowed, or contradicting another
    "invalid_timestamp",  # text that does not read as an ISO 8601 timestamp
    "duplicate_id",  # a lead id given twice in one request
    "too_large",  # more leads, events or bytes than the server's limits
    "not_json",  # the body is not JSON, or not sent as application/json
    "unauthorized",  # no bearer token, or not one of the configured ones
    "idempotency_key_reused",  # an Idempotency-Key already used for a different request
]
# What kind of error the whole answer is (top-level `code`); one per HTTP status the API answers.
ErrorCode = Literal[
    "invalid_request",  # 400
    "unauthorized",  # 401
    "not_found",  # 404
    "method_not_allowed",  # 405
    "idempotency_key_reused",  # 422
    "too_large",  # 413
    "not_json",  # 415
    "log_unavailable",  # 503: the prediction log cannot be written
    "not_ready",  # 503: the model is not loaded (yet)
    "overloaded",  # 503: the worker's batch queue is full; retry after Retry-After seconds
    "internal_error",  # 500: a bug; the API is built and tested never to answer it
]
PROBLEM_CODES: Final[tuple[str, ...]] = get_args(ProblemCode)
ERROR_CODES: Final[tuple[str, ...]] = get_args(ErrorCode)

_CODE_OF_STATUS: Final[dict[int, str]] = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "not_json",
    422: "idempotency_key_reused",
    503: "log_unavailable",
}


def code_of_status(status: int) -> str:
    """The top-level error code of an answer with HTTP status `status`."""
    if status in _CODE_OF_STATUS:
        return _CODE_OF_STATUS[status]
    return "internal_error" if status >= 500 else "invalid_request"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (a JSON path like `leads[3].events[0].ts`), what, and its code."""

    path: str
    message: str
    code: ProblemCode = "invalid_value"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "code": self.code}


def error_body(status: int, message: str, problems: list[dict[str, str]], code: str | None = None) -> dict[str, Any]:
    """The API's error body: at most `MAX_PROBLEMS` problems, and how many more there were."""
    body: dict[str, Any] = {
        "error": message,
        "code": code or code_of_status(status),
        "problems": problems[:MAX_PROBLEMS],
    }
    if len(problems) > MAX_PROBLEMS:
        body["problems_not_shown"] = len(problems) - MAX_PROBLEMS
    return body


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
        return error_body(self.status, self.message, [p.to_dict() for p in self.problems])


class ModelStoreError(ServingError):
    """The model cannot be found, imported from MLflow or loaded from the BentoML model store."""


class PredictionLogError(ServingError):
    """The prediction log cannot be opened or written; scoring without a record is refused (HTTP 503)."""


class IdempotencyConflict(ServingError):
    """Another request with the same client and Idempotency-Key was recorded first (see `PredictionLog.record`)."""


class OutcomesError(ServingError):
    """An outcomes file is missing, unreadable or malformed; the message names the file, row and column."""
