"""The ASGI layer in front of the API: bearer-token auth, request guards, and one error format for every error.

Pure ASGI (no BaseHTTPMiddleware): it adds a few microseconds to a request. What it does, in order:

1. Health, metrics and docs paths pass untouched (`/livez`, `/readyz`, `/healthz`, `/metrics`, the docs page
   and its assets); `/docs.json` is rewritten into the API's own OpenAPI document (`serving.openapi`).
2. With tokens configured (`LEADRANK_API_TOKENS`), every other path needs `Authorization: Bearer <token>`,
   compared in constant time against every token; else 401. The client's name (never its token) is put in the
   request's ASGI state (`CLIENT_STATE`) for the service to log.
3. POST bodies must be JSON (415 otherwise: a form-encoded body, the curl default, would be read by BentoML's
   multipart parser) and at most `MAX_BODY_BYTES` long (413).
4. Batch requests (`is_batch`: a POST body over `BATCH_BODY_BYTES`, or of unknown length) are admitted up to
   `LEADRANK_BATCH_QUEUE` at once per worker, working or waiting; past that the answer is an immediate 503
   `overloaded` with `Retry-After`, before the body is read (docs/reliability.md says why 503, not 429).
5. Every error answer of the wrapped app gets the API's format, `{"error", "code", "problems": [{"path",
   "message", "code"}]}`: BentoML's pydantic 400s (`{"error", "detail": [{"loc", "msg", "type"}]}`) with JSON
   paths like `leads[0].events[2].ts`, and Starlette's plain-text 404 and 405 alike.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

from serving.config import DEFAULT_BATCH_QUEUE, ApiClient, parse_api_tokens
from serving.errors import ProblemCode, error_body

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DOCS_PATH: Final = "/docs.json"
# "/ui" is the review page itself: it holds no data, asks for the token, and sends it on every API call.
OPEN_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz", "/metrics", DOCS_PATH, "/schema.json", "/", "/ui"})
OPEN_PREFIXES: Final = ("/static_content/", "/assets/")
# Far above a 10,000-lead request with a few dozen events each (about 25 MB), far below what hurts the server.
MAX_BODY_BYTES: Final = 256 * 1024 * 1024
# A POST body over this many bytes (a few dozen leads) is a batch request: parsed and scored off the event loop,
# one at a time (serving/service.py), and admitted only while the worker's batch queue has room.
BATCH_BODY_BYTES: Final = 64 * 1024
# Key of the authenticated client's name in the request's ASGI state (`request.state`); None without auth.
CLIENT_STATE: Final = "leadrank_client"
_TIMESTAMP_FIELDS: Final = frozenset({"ts", "created_at", "as_of"})
# pydantic error types that mean "a value of the wrong JSON type" (besides every `*_type`).
_WRONG_TYPE: Final = frozenset({"is_instance_of", "none_required", "dict_attributes_type", "int_from_float"})


def bentoml_options() -> dict[str, Any]:
    """How BentoML's own middlewares treat the service (the benchmark's variants take the same).

    BentoML's per-request access log is off: the prediction log records every scored request, and formatting
    and writing a log line costs a large share of a single-lead request. OpenTelemetry spans are not made for
    the API routes either: BentoML's default sample rate is 0, so they were made and dropped, at about a tenth
    of a single-lead request's time. Both come back with BENTOML_CONFIG_OPTIONS (README, Configuration).
    """
    return {
        "traffic": {"timeout": 120},
        "logging": {"access": {"enabled": False}},
        "tracing": {"excluded_urls": ["/score", "/rank", "/model"]},
    }


def is_batch(scope: Scope) -> bool:
    """Whether the request is batch work: a POST whose body is over `BATCH_BODY_BYTES` or of unknown length."""
    if scope.get("method") != "POST":
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return not value.isdigit() or int(value) > BATCH_BODY_BYTES
    return True


def json_path(loc: Sequence[Any]) -> str:
    """`("leads", 0, "events", 2, "ts")` -> `leads[0].events[2].ts`; the empty location is the body."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _problem(error: dict[str, Any]) -> dict[str, str]:
    loc = list(error.get("loc") or [])
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    last = loc[-1] if loc else None
    code: ProblemCode = "invalid_value"
    if kind == "missing":
        message, code = "required", "missing_field"
    elif kind == "extra_forbidden":
        message, code = (f"unknown key {last!r}" if last is not None else "unknown key"), "unknown_field"
    elif kind in ("string_pattern_mismatch", "string_too_short") and last in _TIMESTAMP_FIELDS:
        message, code = "expected an ISO 8601 timestamp like 2026-09-28T14:05:00Z", "invalid_timestamp"
    elif kind == "json_invalid":
        message, code = f"the body is not valid JSON ({message.removeprefix('Invalid JSON: ')})", "not_json"
    elif kind == "model_type" and not loc:
        message, code = "the body must be a JSON object", "wrong_type"
    elif kind.endswith("_type") or kind in _WRONG_TYPE:
        code = "wrong_type"
    return {"path": json_path(loc), "message": message, "code": code}


def normalise_error_body(status: int, payload: Any) -> dict[str, Any] | None:
    """An error body of the wrapped app in the API's format; None when it has that format already."""
    if isinstance(payload, dict) and "problems" in payload and "code" in payload:
        return None
    if isinstance(payload, dict) and isinstance(payload.get("detail"), list):
        problems = [_problem(e) for e in payload["detail"] if isinstance(e, dict)]
        noun = "problem" if len(problems) == 1 else "problems"
        return error_body(status, f"invalid request: {len(problems)} {noun}", problems)
    # BentoML wraps other messages in a one-element list.
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        payload = payload[0]
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return error_body(status, payload["error"], [])
    if isinstance(payload, dict) and isinstance(payload.get("detail"), str):  # FastAPI's HTTPException
        return error_body(status, payload["detail"], [])
    return error_body(status, _STATUS_TEXT.get(status, f"HTTP {status}"), [])


_STATUS_TEXT: Final = {
    404: "not found: the API has POST /score, POST /rank and GET /model (see /docs.json)",
    405: "method not allowed on this path (see /docs.json)",
    500: "internal error",
}


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _unauthorized() -> dict[str, Any]:
    return error_body(
        401,
        "missing or invalid bearer token",
        [
            {
                "path": "headers.authorization",
                "message": "send 'Authorization: Bearer <token>'",
                "code": "unauthorized",
            }
        ],
    )


def _overloaded(queue: int) -> dict[str, Any]:
    return error_body(
        503,
        f"the server is at capacity ({queue} batch requests in progress or waiting); retry after the number of "
        "seconds in the Retry-After header",
        [],
        "overloaded",
    )


def _too_large(max_body: int) -> dict[str, Any]:
    return error_body(
        413,
        f"the body is larger than {max_body:,} bytes",
        [{"path": "body", "message": f"at most {max_body:,} bytes", "code": "too_large"}],
    )


class ApiGuard:
    """ASGI middleware: auth, JSON-only bodies, a body size cap, uniform error bodies and the OpenAPI document
    (see module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Sequence[str] | None = None,
        max_body: int = MAX_BODY_BYTES,
        batch_queue: int = DEFAULT_BATCH_QUEUE,
    ) -> None:
        if tokens is None:
            # The service adds this middleware by class, without arguments: it is built at the service's
            # start-up, in each worker, and reads the service's settings then.
            from serving.config import ServiceSettings

            settings = ServiceSettings()
            clients, batch_queue = settings.api_clients(), settings.batch_queue
        else:
            clients = parse_api_tokens(tokens)
        self.app = app
        self.clients: list[ApiClient] = clients
        self.tokens = [client.token.encode() for client in clients]
        self.max_body = max_body
        self.batch_queue = batch_queue
        self.batches = 0  # batch requests admitted and not yet answered
        # Recent seconds from admission to answer of a batch request (moving average): about how long until a
        # place in the queue comes free, so what a refused client is told to wait.
        self.batch_seconds = 1.0
        self._document: bytes | None = None

    def _client(self, scope: Scope) -> str | None:
        """The name of the client whose token the request carries; None if it carries none of them."""
        header = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value
                break
        scheme, _, presented = header.partition(b" ")
        if scheme.lower() != b"bearer" or not presented:
            return None
        presented = presented.strip()
        # Compare with every token, always: how long this takes must not tell which token was close.
        matches = [hmac.compare_digest(presented, token) for token in self.tokens]
        return next((client.name for client, hit in zip(self.clients, matches, strict=True) if hit), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == DOCS_PATH and scope.get("method") in ("GET", "HEAD"):
            await self._serve_document(scope, receive, send)
            return
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.tokens:
            client = self._client(scope)
            if client is None:
                await send_json(send, 401, _unauthorized(), [(b"www-authenticate", b'Bearer realm="leadrank"')])
                return
            scope["state"] = {**scope.get("state", {}), CLIENT_STATE: client}
        if scope.get("method") == "POST":
            refusal = self._refuse_body(scope)
            if refusal is not None:
                status, body = refusal
                await send_json(send, status, body)
                return
        state = _RequestState()
        if scope.get("method") == "POST":
            receive = self._capped(receive, state)
        if not is_batch(scope):
            await self.app(scope, receive, _ErrorRewriter(send, state, self.max_body))
            return
        if self.batches >= self.batch_queue:
            retry_after = str(max(1, min(120, math.ceil(self.batch_seconds)))).encode()
            await send_json(send, 503, _overloaded(self.batch_queue), [(b"retry-after", retry_after)])
            return
        self.batches += 1
        started = time.monotonic()
        try:
            await self.app(scope, receive, _ErrorRewriter(send, state, self.max_body))
        finally:
            self.batches -= 1
            self.batch_seconds += 0.2 * (time.monotonic() - started - self.batch_seconds)

    async def _serve_document(self, scope: Scope, receive: Receive, send: Send) -> None:
        """BentoML's generated OpenAPI document, made the API's own (`serving.openapi.api_document`)."""
        if self._document is None:
            capture = _Capture()
            await self.app(scope, receive, capture)
            if capture.status != 200:
                await send_json(send, 503, error_body(503, "the OpenAPI document is not available", [], "not_ready"))
                return
            from serving.openapi import api_document

            document = api_document(json.loads(capture.body), auth=bool(self.tokens))
            self._document = json.dumps(document).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._document)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else self._document})

    def _refuse_body(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        content_type, length = "", None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        media = content_type.split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            return 415, error_body(
                415,
                f"the body must be JSON (Content-Type: application/json), got {media!r}",
                [{"path": "headers.content-type", "message": "use application/json", "code": "not_json"}],
            )
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, _too_large(self.max_body)
        return None

    def _capped(self, receive: Receive, state: _RequestState) -> Receive:
        seen = 0
        limit = self.max_body

        async def capped() -> Message:
            nonlocal seen
            if state.too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # A chunked body without Content-Length ran over: end it here; the answer becomes a 413.
                    state.too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        return capped


class _RequestState:
    too_large = False


class _Capture:
    """An ASGI `send` that keeps the response (for the small OpenAPI document only)."""

    def __init__(self) -> None:
        self.status = 0
        self.chunks: list[bytes] = []

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))


class _ErrorRewriter:
    """Buffers an error response of the wrapped app and rewrites its body into the API's error format."""

    def __init__(self, send: Send, state: _RequestState, max_body: int) -> None:
        self.send = send
        self.state = state
        self.max_body = max_body
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.replaced = False

    async def __call__(self, message: Message) -> None:
        if self.replaced:
            return
        if message["type"] == "http.response.start" and self.state.too_large:
            self.replaced = True
            await send_json(self.send, 413, _too_large(self.max_body))
            return
        if message["type"] == "http.response.start":
            status = int(message["status"])
            if status < 400:
                await self.send(message)
                return
            self.start = message
            return
        if message["type"] == "http.response.body" and self.start is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, self.start = self.start, None
            raw = b"".join(self.chunks)
            status = int(start["status"])
            payload = None
            if _is_json(start):
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = None
            body = normalise_error_body(status, payload)
            data = json.dumps(body).encode() if body is not None else raw
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")
            ]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            await self.send({**start, "headers": headers})
            await self.send({"type": "http.response.body", "body": data})
            return
        await self.send(message)


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bool(value.lower().startswith(b"application/json"))
    return False
