"""The ASGI layer in front of the API: bearer-token auth, request guards, and one error format for every 4xx.

Pure ASGI (no BaseHTTPMiddleware): it adds a few microseconds to a request. What it does, in order:

1. Health, metrics and docs paths pass untouched (`/livez`, `/readyz`, `/healthz`, `/metrics`, `/docs.json`,
   the docs page and its assets).
2. With tokens configured (`LEADRANK_API_TOKENS`), every other path needs `Authorization: Bearer <token>`,
   compared in constant time against every token; else 401.
3. POST bodies must be JSON (415 otherwise: a form-encoded body, the curl default, would be read by BentoML's
   multipart parser) and at most `MAX_BODY_BYTES` long (413).
4. BentoML answers a body that fails pydantic validation with its own 400 (`{"error", "detail": [{"loc",
   "msg", ...}]}`); those answers are rewritten into the API's format, `{"error", "problems": [{"path",
   "message"}]}` with JSON paths like `leads[0].events[2].ts`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

from serving.errors import MAX_PROBLEMS

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# "/ui" is the review page itself: it holds no data, asks for the token, and sends it on every API call.
OPEN_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json", "/", "/ui"})
OPEN_PREFIXES: Final = ("/static_content/", "/assets/")
# Far above a 10,000-lead request with a few dozen events each (about 25 MB), far below what hurts the server.
MAX_BODY_BYTES: Final = 256 * 1024 * 1024
_TIMESTAMP_FIELDS: Final = frozenset({"ts", "created_at", "as_of"})


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
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = f"unknown key {last!r}" if last is not None else "unknown key"
    elif kind in ("string_pattern_mismatch", "string_too_short") and last in _TIMESTAMP_FIELDS:
        message = "expected an ISO 8601 timestamp like 2026-09-28T14:05:00Z"
    elif kind == "json_invalid":
        message = f"the body is not valid JSON ({message.removeprefix('Invalid JSON: ')})"
    elif kind == "model_type" and not loc:
        message = "the body must be a JSON object"
    return {"path": json_path(loc), "message": message}


def normalise_error_body(status: int, payload: Any) -> dict[str, Any] | None:
    """BentoML's error bodies in the API's format; None when `payload` already has it (or is not an error)."""
    if isinstance(payload, dict) and "problems" in payload:
        return None
    if isinstance(payload, dict) and isinstance(payload.get("detail"), list):
        problems = [_problem(e) for e in payload["detail"] if isinstance(e, dict)]
        noun = "problem" if len(problems) == 1 else "problems"
        body: dict[str, Any] = {
            "error": f"invalid request: {len(problems)} {noun}",
            "problems": problems[:MAX_PROBLEMS],
        }
        if len(problems) > MAX_PROBLEMS:
            body["problems_not_shown"] = len(problems) - MAX_PROBLEMS
        return body
    # BentoML wraps other 4xx messages in a one-element list.
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        payload = payload[0]
    if isinstance(payload, dict) and "error" in payload:
        return {"error": str(payload["error"]), "problems": []}
    return {"error": f"HTTP {status}", "problems": []}


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


class ApiGuard:
    """ASGI middleware: auth, JSON-only bodies, a body size cap, and uniform error bodies (see module doc)."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str] | None = None, max_body: int = MAX_BODY_BYTES) -> None:
        if tokens is None:
            # The service adds this middleware by class, without arguments: it is built at the service's
            # start-up, in each worker, and reads the service's settings then.
            from serving.config import ServiceSettings

            tokens = ServiceSettings().token_list()
        self.app = app
        self.tokens = [t.encode() for t in tokens]
        self.max_body = max_body

    def _authorized(self, scope: Scope) -> bool:
        header = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value
                break
        scheme, _, presented = header.partition(b" ")
        if scheme.lower() != b"bearer" or not presented:
            return False
        presented = presented.strip()
        # Compare with every token, always: how long this takes must not tell which token was close.
        matches = [hmac.compare_digest(presented, token) for token in self.tokens]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.tokens and not self._authorized(scope):
            await send_json(
                send,
                401,
                {
                    "error": "missing or invalid bearer token",
                    "problems": [{"path": "headers.authorization", "message": "send 'Authorization: Bearer <token>'"}],
                },
                [(b"www-authenticate", b'Bearer realm="leadrank"')],
            )
            return
        if scope.get("method") == "POST":
            refusal = self._refuse_body(scope)
            if refusal is not None:
                status, body = refusal
                await send_json(send, status, body)
                return
        state = _RequestState()
        if scope.get("method") == "POST":
            receive = self._capped(receive, state)
        await self.app(scope, receive, _ErrorRewriter(send, state, self.max_body))

    def _refuse_body(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        content_type, length = "", None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        media = content_type.split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            return 415, {
                "error": f"the body must be JSON (Content-Type: application/json), got {media!r}",
                "problems": [{"path": "headers.content-type", "message": "use application/json"}],
            }
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, {
                "error": f"the body is larger than {self.max_body:,} bytes",
                "problems": [{"path": "body", "message": f"at most {self.max_body:,} bytes"}],
            }
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
            await send_json(
                self.send,
                413,
                {
                    "error": f"the body is larger than {self.max_body:,} bytes",
                    "problems": [{"path": "body", "message": f"at most {self.max_body:,} bytes"}],
                },
            )
            return
        if message["type"] == "http.response.start":
            status = int(message["status"])
            if status < 400 or not _is_json(message):
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
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            body = normalise_error_body(status, payload) if payload is not None else None
            data = json.dumps(body).encode() if body is not None else raw
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(data)).encode()))
            await self.send({**start, "headers": headers})
            await self.send({"type": "http.response.body", "body": data})
            return
        await self.send(message)


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bool(value.lower().startswith(b"application/json"))
    return False
