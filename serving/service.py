"""The BentoML service: POST /score, POST /rank, GET /model, and BentoML's /livez, /readyz, /metrics.

Thin on purpose: the model reference is declared on the class, the model is loaded once in `__init__`, and each
endpoint is a few lines around `serving.scoring` (features, model, reasons, handoff) and the prediction log.
Start it with `leadrank serve` (imports the MLflow champion into the BentoML store first), or build a bento
with `bentoml build` (see bentofile.yaml) and serve that. Configuration comes from `LEADRANK_*` variables.
"""

from __future__ import annotations

import gc
import logging
import operator
import time
from collections.abc import Callable
from datetime import UTC, datetime
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
from serving.errors import PredictionLogError, RequestError
from serving.inputs import Limits
from serving.middleware import ApiGuard, bentoml_options
from serving.model_store import load_model, model_tag_from_env, stored_model
from serving.predictions import PredictionLog
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

# Requests up to this size are scored on the event loop itself (see `LeadScorer._serve`).
INLINE_LEADS = 16
INLINE_EVENTS = 2000
GC_THRESHOLDS = (20_000, 10, 100)
_events = operator.attrgetter("events")

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
        settings = ServiceSettings()
        loaded = load_model(stored_model(_model_tag(str(type(self).model_ref.tag))))
        limits = Limits(max_batch=settings.max_batch, max_events_per_lead=settings.max_events_per_lead)
        self.engine = ScoringEngine(loaded.model, loaded.model_version, limits)
        self.info = ModelInfo(
            **loaded.info,
            limits={"max_batch": limits.max_batch, "max_events_per_lead": limits.max_events_per_lead},
        )
        self.log = PredictionLog(settings.resolved_prediction_db())
        # One request through the whole path, unlogged, so the first real one does not pay for lazy set-up.
        self.engine.score([Lead.model_validate(LEAD_EXAMPLE)], time.time_ns() // 1000)
        gc.collect()
        gc.freeze()  # the model, the libraries and BentoML stay for the process's life: no collection re-walks them
        self._big_requests: anyio.CapacityLimiter | None = None
        self._ready = True
        log.info(
            "serving %s (MLflow version %s), prediction log %s", loaded.tag, loaded.model_version, self.log.shown_url
        )

    def __is_ready__(self) -> bool:
        return getattr(self, "_ready", False)

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, leads: list[Lead]) -> Response:
        """Score leads: the calibrated chance each one closes, its expected selling hours and days to close,
        and the three reasons pushing its score up and the three pushing it down. Leads come back in request
        order; every scored lead is recorded in the prediction log before the answer is sent."""
        return await self._serve(leads, lambda now_us: self.engine.score(leads, now_us))

    @bentoml.api(route="/rank", input_spec=RankRequest, output_spec=RankResponse)
    async def rank(
        self,
        leads: list[Lead],
        capacity: Capacity,
        objective: Objective = "closes",
        horizon_days: float | None = None,
    ) -> Response:
        """Score leads and hand sales exactly the ones that fit the team's capacity: every lead with its rank,
        stage (sales_ready, marketing_qualified, nurture), assigned rep and reasons, plus the cut-off and a
        one-sentence statement of what 'qualified' means with this capacity."""
        return await self._serve(
            leads, lambda now_us: self.engine.rank(leads, capacity, objective, horizon_days, now_us)
        )

    @model_api.get(
        "/model",
        response_model=ModelInfo,
        summary="The model being served",
        description="Model name, MLflow version, BentoML tag, training date, data fingerprint, test metrics "
        "and the feature schema.",
        responses={401: {"model": ErrorBody, "description": "Missing or invalid bearer token."}},
    )
    def model(self) -> ModelInfo:
        return self.info

    async def _serve(self, leads: list[Lead], work: Callable[[int], Answer]) -> Response:
        # A few leads take a millisecond or two: handing them to a thread would cost more than the work
        # (and, under load, a wait for the GIL). Bigger requests go to a thread, one at a time, so health
        # checks and small requests keep being answered meanwhile.
        if len(leads) <= INLINE_LEADS and sum(map(len, map(_events, leads))) <= INLINE_EVENTS:
            return self._answer(work)
        if self._big_requests is None:
            self._big_requests = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(self._answer, work, limiter=self._big_requests)

    def _answer(self, work: Callable[[int], Answer]) -> Response:
        scored_at = datetime.now(UTC)
        try:
            answer = work(time.time_ns() // 1000)
        except RequestError as exc:
            return _json(exc.status, exc.body())
        try:
            self.log.record(answer.log_rows, scored_at)
        except PredictionLogError as exc:
            log.error("%s", exc)
            return _json(503, {"error": str(exc), "problems": []})
        return _json(200, answer.body)


# mypy sees the decorated class, not the BentoML Service object the decorator returns.
_service: Any = LeadScorer
_service.add_asgi_middleware(ApiGuard)
