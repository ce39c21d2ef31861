"""The BentoML service: POST /score, POST /rank, GET /model, and BentoML's /livez, /readyz, /metrics.

Thin on purpose: the model reference is declared on the class, the model is loaded once in `__init__`, and each
endpoint is a few lines around `serving.scoring` (features, model, reasons, handoff) and the prediction log.
Start it with `leadrank serve` (imports the MLflow champion into the BentoML store first), or build a bento
with `bentoml build` (see bentofile.yaml) and serve that. Configuration comes from `LEADRANK_*` variables.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
import bentoml
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.responses import Response

from marketing.page import router as review_page
from serving.config import ServiceSettings
from serving.errors import IdempotencyConflict, ModelStoreError, PredictionLogError, RequestError, error_body
from serving.inputs import Limits
from serving.middleware import CLIENT_STATE, ApiGuard, bentoml_options, is_batch
from serving.model_store import load_model, model_tag_from_env, stored_model
from serving.openapi import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY, REPLAYED_HEADER
from serving.predictions import IdempotentAnswer, PredictionLog
from serving.schemas import (
    LEAD_EXAMPLE,
    Capacity,
    ErrorBody,
    Lead,
    ModelInfo,
    RankRequest,
    RankResponse,
    ScoreRequest,
    ScoreResponse,
)
from serving.scoring import Answer, Objective, ScoringEngine

log = logging.getLogger(__name__)

GC_THRESHOLDS = (20_000, 10, 100)
# How long a thread runs before another one waiting for the GIL may take it (Python's default: 5 ms). The event
# loop shares the GIL with the batch lane's thread; every await of a single-lead request that finds the batch
# thread running waits this long, a few times per request.
GIL_SWITCH_SECONDS = 0.001

# BentoML's own API methods answer POST only; GET /model is a FastAPI route mounted on the service.
model_api = FastAPI(title="leadrank", docs_url=None, redoc_url=None, openapi_url=None)
# Marketing's review page (GET /ui) and its upload and export endpoints (marketing/page.py).
model_api.include_router(review_page)


class _QuietValidationErrors(logging.Filter):
    """BentoML logs every request body that fails validation as an error with a traceback; a client's bad
    request is not a server error: keep one line at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "rejected an invalid request body on %s [%s]"
        return True


def _quiet_validation_errors() -> None:
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _QuietValidationErrors) for f in target.filters):
        target.addFilter(_QuietValidationErrors())


def _model_tag(declared: str) -> str:
    """The model to load: the one pinned in the bento when serving a built bento, else the declared one.

    `bentoml build` resolves the declared tag (e.g. `lead-scorer:latest`) to a version and records it; serving
    the bento from a store that holds newer models must still load that version.
    """
    service: Any = LeadScorer
    bento = getattr(service, "bento", None)
    if bento is not None:
        for info in bento.info.services:
            if info.name == service.name and info.models:
                return str(info.models[0].tag)
    return declared


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(to_json(body, inf_nan_mode="null"), status_code=status, media_type="application/json")


def _not_ready() -> Response:
    return _json(
        503,
        error_body(
            503, "the service has no model loaded and is not ready (the server's log says why)", [], "not_ready"
        ),
    )


def _startup_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):  # a LEADRANK_* setting; inputs are hidden (tokens are secrets)
        return "invalid setting " + "; ".join(
            f"LEADRANK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


class _BatchLane:
    """Where batch requests (`serving.middleware.is_batch`) are parsed and scored: a thread, one request at a
    time. Single leads are parsed and scored on the event loop itself (a millisecond or two; a thread hop and a
    wait for the GIL would cost more), and never wait behind batch work: parsing and validating a 1,000-lead
    body takes tens of milliseconds, which on the event loop would stall every small request meanwhile. In the
    thread, the lead attributes' Python validator lets the event loop take the GIL every `GIL_SWITCH_SECONDS`.
    How many batch requests may wait is bounded by the middleware (`LEADRANK_BATCH_QUEUE`)."""

    def __init__(self) -> None:
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, inside the worker's event loop

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)


_batch_lane = _BatchLane()


async def _parse_request(cls: type[Any], request: Any, serde: Any) -> Any:
    """BentoML's parsing of an API method's JSON body (`IODescriptor.from_http_request`), with batch requests'
    bodies validated in the batch lane; the middleware has made sure the body is JSON."""
    if not is_batch(request.scope):
        return await serde.parse_request(request, cls)
    body = await request.body()
    return await _batch_lane.run(cls.model_validate_json, body or b"{}")


@dataclass(frozen=True)
class _Key:
    """A request's Idempotency-Key: whose, which, and the fingerprint a retry must match."""

    client: str
    key: str
    request_hash: str
    endpoint: str


def _idempotency_key(ctx: bentoml.Context, endpoint: str, payload: Any) -> _Key | Response | None:
    """The request's Idempotency-Key, None without one, or the 400 answer to a malformed one."""
    request = ctx.request
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and all("!" <= ch <= "~" for ch in key)):
        return _json(
            400,
            error_body(
                400,
                "invalid Idempotency-Key header",
                [
                    {
                        "path": f"headers.{IDEMPOTENCY_HEADER.lower()}",
                        "message": f"1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters without spaces, e.g. a UUID",
                        "code": "invalid_value",
                    }
                ],
            ),
        )
    client = request.scope.get("state", {}).get(CLIENT_STATE) or ""
    # The validated request, not its bytes: a retry may reformat the JSON, but not change what it asks.
    request_hash = hashlib.sha256(to_json([endpoint, payload])).hexdigest()
    return _Key(client, key, request_hash, endpoint)


@bentoml.service(name="leadrank", **bentoml_options())
@bentoml.asgi_app(model_api, path="/")
class LeadScorer:
    """Capacity-aware lead scoring: the chance each lead closes, the selling hours it costs, the days to close,
    and which leads the sales team should get."""

    model_ref = bentoml.models.BentoModel(model_tag_from_env())

    def __init__(self) -> None:
        _quiet_validation_errors()
        # A request allocates about one Python object per event and per reason, nearly all free of cycles; with
        # the default thresholds (700, 10, 10) the cyclic collector keeps re-walking a large request mid-flight,
        # and a 10,000-lead /rank (1.3 million objects) set off a full collection every few requests (0.2 s
        # each, measured). Full collections now come ten times less often, and skip what is loaded below.
        gc.set_threshold(*GC_THRESHOLDS)
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        self._ready = False
        try:
            self._start()
        except (ModelStoreError, PredictionLogError, ValidationError) as exc:
            # Raising here would make BentoML log three tracebacks and restart the worker in a loop, with
            # requests hanging meanwhile. Instead the worker stays up, never ready: /readyz answers 503, and so
            # do /score, /rank and /model, at once. One line says why.
            log.error("leadrank cannot serve, and will not become ready: %s", _startup_problem(exc))
            return
        self._ready = True

    def _start(self) -> None:
        settings = ServiceSettings()
        loaded = load_model(stored_model(_model_tag(str(type(self).model_ref.tag))))
        limits = Limits(max_batch=settings.max_batch, max_events_per_lead=settings.max_events_per_lead)
        self.engine = ScoringEngine(loaded.model, loaded.model_version, limits)
        self.info = ModelInfo(
            **loaded.info,
            limits={"max_batch": limits.max_batch, "max_events_per_lead": limits.max_events_per_lead},
        )
        self.log = PredictionLog(
            settings.resolved_prediction_db(), idempotency_ttl=timedelta(hours=settings.idempotency_ttl_hours)
        )
        self.log.purge_expired()
        # One request through the whole path, unlogged, so the first real one does not pay for lazy set-up. No
        # attributes: the example's could contradict the types of a model trained on another CRM's export.
        try:
            self.engine.score([Lead.model_validate({**LEAD_EXAMPLE, "attributes": {}})], time.time_ns() // 1000)
        except RequestError as exc:  # the model still scores what fits its schema
            log.warning("warm-up request refused (%s); the first request will be slower", exc.message)
        gc.collect()
        gc.freeze()  # the model, the libraries and BentoML stay for the process's life: no collection re-walks them
        log.info(
            "serving %s (MLflow version %s), prediction log %s", loaded.tag, loaded.model_version, self.log.shown_url
        )

    def __is_ready__(self) -> bool:
        return self._ready

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, leads: list[Lead], ctx: bentoml.Context, reasons: bool = True) -> Response:
        """Score leads: the calibrated chance each one closes, its expected selling hours and days to close,
        and the three reasons pushing its score up and the three pushing it down (`"reasons": false` leaves them
        out). Leads come back in request order; every scored lead is recorded in the prediction log before the
        answer is sent. A retry with the same Idempotency-Key gets the same answer and is not logged again."""
        # What a retry must repeat; the default leaves the fingerprint as it was before the option existed.
        payload = leads if reasons else [leads, reasons]
        return await self._handle(
            ctx, "score", leads, payload, lambda now_us: self.engine.score(leads, now_us, reasons)
        )

    @bentoml.api(route="/rank", input_spec=RankRequest, output_spec=RankResponse)
    async def rank(
        self,
        leads: list[Lead],
        capacity: Capacity,
        ctx: bentoml.Context,
        objective: Objective = "closes",
        horizon_days: float | None = None,
        reasons: bool = True,
    ) -> Response:
        """Score leads and hand sales exactly the ones that fit the team's capacity: every lead with its rank,
        stage (sales_ready, marketing_qualified, nurture), assigned rep and reasons (`"reasons": false` leaves
        them out), plus the cut-off and a one-sentence statement of what 'qualified' means with this capacity."""
        payload = [leads, capacity, objective, horizon_days] + ([] if reasons else [reasons])
        return await self._handle(
            ctx,
            "rank",
            leads,
            payload,
            lambda now_us: self.engine.rank(leads, capacity, objective, horizon_days, now_us, reasons),
        )

    @model_api.get(
        "/model",
        response_model=ModelInfo,
        summary="The model being served",
        description="Model name, MLflow version, BentoML tag, training date, data fingerprint, test metrics "
        "and the feature schema.",
        responses={401: {"model": ErrorBody, "description": "Missing or invalid bearer token."}},
    )
    def model(self) -> ModelInfo | Response:
        if not self._ready:
            return _not_ready()
        return self.info

    async def _handle(
        self, ctx: bentoml.Context, endpoint: str, leads: list[Lead], payload: Any, work: Callable[[int], Answer]
    ) -> Response:
        if not self._ready:
            response = _not_ready()
        else:
            key = _idempotency_key(ctx, endpoint, payload)
            response = key if isinstance(key, Response) else await self._serve(ctx, leads, key, work)
        # BentoML sends the status of `ctx.response` for an API method that takes the context.
        ctx.response.status_code = response.status_code
        return response

    async def _serve(
        self, ctx: bentoml.Context, leads: list[Lead], key: _Key | None, work: Callable[[int], Answer]
    ) -> Response:
        client = ctx.request.scope.get("state", {}).get(CLIENT_STATE)
        if not is_batch(ctx.request.scope):
            return self._answer(work, client, key)
        response: Response = await _batch_lane.run(self._answer, work, client, key)
        return response

    def _answer(self, work: Callable[[int], Answer], client: str | None, key: _Key | None) -> Response:
        try:
            if key is not None and (replayed := self._replay(key)) is not None:
                return replayed
            scored_at = datetime.now(UTC)
            try:
                answer = work(time.time_ns() // 1000)
            except RequestError as exc:
                return _json(exc.status, exc.body())
            data = to_json(answer.body, inf_nan_mode="null")
            stored = None
            if key is not None:
                stored = IdempotentAnswer(
                    key.client, key.key, key.request_hash, answer.log_rows.request_id, key.endpoint, data
                )
            try:
                self.log.record(answer.log_rows, scored_at, client=client, idempotent=stored)
            except IdempotencyConflict:
                # The same request, retried while this one was scored, was recorded first: answer as it did.
                assert key is not None
                replayed = self._replay(key)
                if replayed is None:  # recorded and expired in between: only with an absurdly short expiry
                    raise PredictionLogError("the Idempotency-Key's record vanished; retry the request") from None
                return replayed
        except PredictionLogError as exc:
            log.error("%s", exc)
            return _json(503, error_body(503, str(exc), []))
        return Response(data, status_code=200, media_type="application/json")

    def _replay(self, key: _Key) -> Response | None:
        """The stored answer to an earlier request with `key`; a 422 if that request was a different one."""
        stored = self.log.stored_answer(key.client, key.key)
        if stored is None:
            return None
        if stored.request_hash != key.request_hash or stored.endpoint != key.endpoint:
            return _json(
                422,
                error_body(
                    422,
                    f"this Idempotency-Key was used for a different request (request_id {stored.request_id} on "
                    f"/{stored.endpoint}); send a new key with a new request",
                    [
                        {
                            "path": f"headers.{IDEMPOTENCY_HEADER.lower()}",
                            "message": "already used for a different request",
                            "code": "idempotency_key_reused",
                        }
                    ],
                ),
            )
        return Response(
            stored.answer, status_code=200, media_type="application/json", headers={REPLAYED_HEADER: "true"}
        )


# mypy sees the decorated class, not the BentoML Service object the decorator returns.
_service: Any = LeadScorer
_service.add_asgi_middleware(ApiGuard)
# BentoML parses a request body on the event loop, in the input spec's `from_http_request` (the class it derives
# from ScoreRequest and RankRequest); the derived classes parse batch bodies in the batch lane instead.
for _api in ("score", "rank"):
    _service.apis[_api].input_spec.from_http_request = classmethod(_parse_request)
