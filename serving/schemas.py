"""The HTTP API's request and response bodies (pydantic), with descriptions and examples for `/docs.json`.

Timestamps travel as ISO 8601 text and are parsed for a whole request at once (see `serving.inputs`), which is
both faster than parsing them one pydantic field at a time and lets a bad one be reported with its JSON path.
Examples are given as OpenAPI 3.0 `example` (BentoML's spec generator keeps that key and drops `examples`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from handoff import CapacitySpec, Rep
from serving.errors import ERROR_CODES, PROBLEM_CODES, ErrorCode, ProblemCode

# A timestamp must at least start like a calendar date: pandas would otherwise read "now" or "today".
TIMESTAMP_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}"
# Beyond 2**53 an integer cannot be held exactly as the float the model computes with.
MAX_EXACT_INT: Final = 2**53
MAX_TEXT: Final = 1000
MAX_ATTRIBUTES: Final = 200


def _example(value: Any) -> dict[str, Any]:
    return {"example": value}


def _attribute_value(value: Any) -> Any:
    """A lead attribute is text, a number, true/false or null; never NaN, Infinity or a nested value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INT:
            raise ValueError(f"number too large (more than {MAX_EXACT_INT:,} in size)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity are not allowed; leave the attribute out (or null) if unknown")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"text longer than {MAX_TEXT} characters")
        return value
    kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__
    raise ValueError(f"must be text, a number, true/false or null; got {kind}")


AttributeValue = Annotated[Any, AfterValidator(_attribute_value)]
Timestamp = Annotated[
    str,
    Field(
        min_length=10,
        max_length=64,
        pattern=TIMESTAMP_PATTERN,
        json_schema_extra={"format": "date-time", "example": "2026-09-28T14:05:00Z"},
    ),
]

LEAD_EXAMPLE: Final[dict[str, Any]] = {
    "lead_id": "L1",
    "source": "inbound_content",
    "created_at": "2026-09-01T09:30:00Z",
    "as_of": "2026-09-30T12:00:00Z",
    "attributes": {"industry": "software", "company_size": 120, "country": "DE", "job_level": "director"},
    "events": [
        {"type": "webinar_attended", "ts": "2026-09-10T16:00:00Z", "asset": "webinar-2"},
        {"type": "pricing_view", "ts": "2026-09-25T10:12:00Z", "asset": "pricing"},
        {"type": "demo_request", "ts": "2026-09-27T08:45:00Z"},
    ],
}


class _Strict(BaseModel):
    # Strict: "5" is not a number and 5 is not a lead id; unknown keys are mistakes, not data.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# A TypedDict rather than a model: a 10,000-lead request can hold hundreds of thousands of events, and
# pydantic validates plain dicts about three times faster than it builds model instances.
class Event(TypedDict):
    """One engagement touch of a lead."""

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        extra="forbid",
        strict=True,
        json_schema_extra={"example": {"type": "demo_request", "ts": "2026-09-27T08:45:00Z", "asset": None}},
    )

    type: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Event type, e.g. page_visit, webinar_attended, pricing_view, demo_request. Types "
            "the model does not know count as stage 'other' and are reported in `warnings`.",
            json_schema_extra=_example("demo_request"),
        ),
    ]
    ts: Annotated[
        Timestamp,
        Field(
            description="When it happened, ISO 8601; without an offset it is read as UTC. Events at or after "
            "the lead's `as_of` are ignored and reported in `warnings`."
        ),
    ]
    asset: NotRequired[
        Annotated[
            str | None,
            Field(
                max_length=MAX_TEXT,
                description="What was touched (page, whitepaper, webinar...), optional.",
                json_schema_extra=_example("pricing"),
            ),
        ]
    ]


class Lead(_Strict):
    """A lead as it is now: who it is, where it came from and what it did."""

    model_config = ConfigDict(json_schema_extra={"example": LEAD_EXAMPLE})

    lead_id: str = Field(
        min_length=1,
        max_length=200,
        description="Your id of the lead, unique within a request. The only personal-data-free key the "
        "prediction log keeps.",
        json_schema_extra=_example("L1"),
    )
    source: str = Field(
        min_length=1,
        max_length=200,
        description="Lead source, e.g. inbound_content, inbound_inquiry, telemarketing, cold_call, event, "
        "referral. A source never seen in training is scored as unknown and reported in `warnings`.",
        json_schema_extra=_example("inbound_content"),
    )
    created_at: Timestamp | None = Field(default=None, description="When the lead was created (ISO 8601), optional.")
    as_of: Timestamp | None = Field(
        default=None,
        description="The time to score the lead at (ISO 8601); default: now. Only events before it count.",
    )
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        max_length=MAX_ATTRIBUTES,
        description="Firmographic attributes the model was trained with, e.g. industry, company_size, "
        "country, job_level: text, numbers or null. Unknown names are ignored and reported in `warnings`; a "
        "value of the wrong type (text for a number) is a 400; a category never seen in training is scored "
        "as unknown and reported.",
        json_schema_extra=_example(LEAD_EXAMPLE["attributes"]),
    )
    events: list[Event] = Field(
        default_factory=list,
        description="Engagement events, any order. At most LEADRANK_MAX_EVENTS_PER_LEAD (default 5,000).",
        json_schema_extra=_example(LEAD_EXAMPLE["events"]),
    )
    deal_value: float | None = Field(
        default=None,
        ge=0,
        description="Quoted opportunity size; needed by /rank with objective 'value'.",
        json_schema_extra=_example(25000.0),
    )


Leads = Annotated[
    list[Lead],
    Field(
        min_length=1,
        description="The leads to score, at most LEADRANK_MAX_BATCH (default 10,000) per request.",
        json_schema_extra=_example([LEAD_EXAMPLE]),
    ),
]


WithReasons = Annotated[
    bool,
    Field(
        description="Whether to word each lead's reasons (the default). false answers the numbers alone, with "
        "empty reason lists: for callers that only store the score, at about half the work per lead.",
        json_schema_extra=_example(True),
    ),
]


class ScoreRequest(_Strict):
    """Body of POST /score."""

    model_config = ConfigDict(json_schema_extra={"example": {"leads": [LEAD_EXAMPLE]}})

    leads: Leads
    reasons: WithReasons = True


class TeamRep(Rep):
    """One sales rep: selling hours per period, an optional lead cap and the segments the rep covers."""

    model_config = ConfigDict(strict=True, json_schema_extra={"example": {"name": "Ana", "hours": 40, "max_leads": 12}})


class Capacity(CapacitySpec):
    """The sales team's capacity for one period (the handoff package's spec, read strictly: "10" is not 10)."""

    model_config = ConfigDict(strict=True, json_schema_extra={"example": {"hours": 120}})

    team: list[TeamRep] | None = Field(  # type: ignore[assignment]  # a narrower Rep: still a list of Rep
        default=None, min_length=1, description="The reps and their capacity (instead of hours or max_leads)."
    )


class RankRequest(_Strict):
    """Body of POST /rank."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"leads": [LEAD_EXAMPLE], "capacity": {"hours": 120}, "objective": "closes"}}
    )

    leads: Leads
    capacity: Capacity = Field(
        description='The sales team\'s capacity for one period: exactly one of {"hours": H}, '
        '{"max_leads": N} or {"team": [{"name", "hours", "max_leads" (optional), "segments" '
        '(optional, e.g. {"country": ["DE"]})}]}; optional "period" (day, week, month, quarter).',
        json_schema_extra=_example({"team": [{"name": "Ana", "hours": 40}, {"name": "Ben", "hours": 30}]}),
    )
    objective: Literal["closes", "value"] = Field(
        default="closes",
        description="Maximise expected closes, or expected deal value (needs `deal_value` on every lead).",
        json_schema_extra=_example("closes"),
    )
    horizon_days: float | None = Field(
        default=None,
        gt=0,
        description="Count only closes expected within this many days (uses expected_days_to_close).",
        json_schema_extra=_example(90.0),
    )
    reasons: WithReasons = True


# --- responses ----------------------------------------------------------------------------------------------


class Reason(BaseModel):
    """One of the facts about a lead that moved its chance to close most, in words, with its effect.

    Engagement the lead showed is measured by taking it away, so it only ever pushes the chance up; engagement it
    did not show is a shortfall and only ever pushes it down; source, attributes and timing are measured against
    the average lead of the training data (docs/reasons.md)."""

    feature: str = Field(
        description="What the reason is about: an event type, a funnel stage, a recency or an attribute.",
        json_schema_extra=_example("demo_request"),
    )
    text: str = Field(description="The reason for people.", json_schema_extra=_example("asked for a demo 3 days ago"))
    direction: Literal["up", "down"] = Field(
        description="Whether it pushes the chance to close up or down.", json_schema_extra=_example("up")
    )
    weight: float = Field(
        description="Its share of the score in log-odds (LightGBM's own per-prediction contribution, summed "
        "over the feature's windows); larger in size means more influence.",
        json_schema_extra=_example(0.84),
    )
    effect: float = Field(
        description="Its effect on the chance to close, in percentage points: p_close minus p_without, times "
        "100 (positive when direction is up).",
        json_schema_extra=_example(12.3),
    )
    p_without: float = Field(
        description="The chance to close without this fact: for engagement the lead showed, the model's "
        "probability for the same lead without it; otherwise with this fact's share of the score taken away.",
        json_schema_extra=_example(0.19),
    )


class RequestWarning(BaseModel):
    """Something in the request that was ignored or scored as unknown; the scores are still valid."""

    code: str = Field(description="Kind of warning.", json_schema_extra=_example("events_after_as_of"))
    message: str = Field(
        description="What happened.",
        json_schema_extra=_example("2 events at or after the lead's as_of were ignored"),
    )
    count: int = Field(description="How many values it concerns.", json_schema_extra=_example(2))
    paths: list[str] = Field(
        description="JSON paths of the first values concerned.",
        json_schema_extra=_example(["leads[0].events[3].ts", "leads[0].events[4].ts"]),
    )


class ScoredLead(BaseModel):
    """The model's view of one lead."""

    lead_id: str = Field(json_schema_extra=_example("L1"))
    p_close: float = Field(
        description="Calibrated probability that the lead closes (won).", json_schema_extra=_example(0.31)
    )
    expected_hours: float = Field(
        description="Expected selling hours if handed to sales.", json_schema_extra=_example(6.5)
    )
    expected_days_to_close: float | None = Field(
        description="Expected days to close if won; null when the model was trained without close dates.",
        json_schema_extra=_example(24.0),
    )
    reasons: list[Reason] = Field(
        description="Up to 3 reasons pushing the score up, then up to 3 pushing it down; empty when the request "
        'said "reasons": false.',
    )


class ScoreResponse(BaseModel):
    """Answer of POST /score, leads in request order."""

    request_id: str = Field(
        description="Id under which the scores are recorded in the prediction log.",
        json_schema_extra=_example("6f1c2a0e9b8d4c7fa1e2b3c4d5e6f708"),
    )
    model_version: str = Field(
        description="Registered MLflow version of the model that scored.", json_schema_extra=_example("3")
    )
    leads: list[ScoredLead]
    warnings: list[RequestWarning] = Field(description="What was ignored or scored as unknown.")


class RankedLead(ScoredLead):
    """One lead of the handoff, best first."""

    rank: int = Field(description="1 = first to work.", json_schema_extra=_example(1))
    stage: Literal["sales_ready", "marketing_qualified", "nurture"] = Field(
        description="sales_ready: handed to sales now; marketing_qualified: next in line (would be handed "
        "off with 50% more capacity); nurture: the rest.",
        json_schema_extra=_example("sales_ready"),
    )
    assigned_to: str | None = Field(
        description="Rep the lead goes to (team capacity only).", json_schema_extra=_example("Ana")
    )
    expected_value: float | None = Field(
        description="p_close x deal_value, when deal_value was given.", json_schema_extra=_example(7750.0)
    )
    closes_per_hour: float = Field(
        description="p_close per expected selling hour: the policy's measure of a lead's worth.",
        json_schema_extra=_example(0.048),
    )


class RepLoad(BaseModel):
    """What one rep of the team was handed."""

    name: str = Field(json_schema_extra=_example("Ana"))
    hours_available: float = Field(json_schema_extra=_example(40.0))
    hours_used: float = Field(json_schema_extra=_example(38.5))
    max_leads: int | None = Field(json_schema_extra=_example(None))
    leads: int = Field(json_schema_extra=_example(7))
    expected_closes: float = Field(json_schema_extra=_example(2.4))
    expected_value: float | None = Field(json_schema_extra=_example(None))


class RankSummary(BaseModel):
    """The numbers a sales lead needs about one handoff."""

    objective: Literal["closes", "value"] = Field(json_schema_extra=_example("closes"))
    capacity_kind: Literal["leads", "hours", "team"] = Field(json_schema_extra=_example("hours"))
    period: str = Field(json_schema_extra=_example("week"))
    horizon_days: float | None = Field(json_schema_extra=_example(None))
    leads_scored: int = Field(json_schema_extra=_example(250))
    leads_handed_off: int = Field(json_schema_extra=_example(18))
    leads_marketing_qualified: int = Field(json_schema_extra=_example(9))
    leads_nurture: int = Field(json_schema_extra=_example(223))
    lead_capacity: int | None = Field(description="Lead cap, if any.", json_schema_extra=_example(None))
    hours_available: float | None = Field(json_schema_extra=_example(120.0))
    hours_used: float = Field(json_schema_extra=_example(117.5))
    expected_closes: float = Field(json_schema_extra=_example(5.8))
    expected_closes_within_horizon: float | None = Field(json_schema_extra=_example(None))
    expected_value: float | None = Field(json_schema_extra=_example(None))
    expected_close_rate: float | None = Field(
        description="Expected closes / leads handed off.", json_schema_extra=_example(0.32)
    )
    expected_closes_per_hour: float | None = Field(json_schema_extra=_example(0.049))
    cutoff_p_close: float | None = Field(
        description="p_close of the last lead handed off in priority order.", json_schema_extra=_example(0.12)
    )
    min_p_close: float | None = Field(
        description="Lowest p_close among the leads handed off.", json_schema_extra=_example(0.11)
    )
    cutoff_closes_per_hour: float | None = Field(
        description="Lowest closes per selling hour among the leads handed off: today's bar for 'qualified'.",
        json_schema_extra=_example(0.031),
    )
    reps: list[RepLoad] | None = Field(description="Per rep, for a team capacity.")
    team_assignment: Literal["exact", "heuristic"] | None = Field(
        default=None,
        description=(
            "For a team: 'exact' when the handoff is provably the best possible (few leads in play), else "
            "'heuristic' (greedy plus local search)."
        ),
        json_schema_extra=_example(None),
    )
    statement: str = Field(
        description="One sentence saying what 'qualified' means with this capacity.",
        json_schema_extra=_example(
            "This week 'qualified' means the 18 leads that make the most of 120 selling hours (117 h used)..."
        ),
    )


class RankResponse(BaseModel):
    """Answer of POST /rank: every lead with its stage, sales-ready first in priority order."""

    request_id: str = Field(json_schema_extra=_example("6f1c2a0e9b8d4c7fa1e2b3c4d5e6f708"))
    model_version: str = Field(json_schema_extra=_example("3"))
    statement: str = Field(
        description="The handoff in one sentence (same as summary.statement).",
        json_schema_extra=_example("This week 'qualified' means the 18 leads that make the most of ..."),
    )
    summary: RankSummary
    leads: list[RankedLead]
    warnings: list[RequestWarning]


class ModelInfo(BaseModel):
    """What GET /model tells about the model being served."""

    model_name: str = Field(description="Registered model name in MLflow.", json_schema_extra=_example("lead-scorer"))
    mlflow_version: str | None = Field(description="Registered MLflow model version.", json_schema_extra=_example("3"))
    mlflow_run_id: str | None = Field(json_schema_extra=_example("f34a81dbe5fe4eda8fd009ddddace62d"))
    bento_tag: str = Field(
        description="Tag of the model in the BentoML store.",
        json_schema_extra=_example("lead-scorer:v3-f34a81dbe5fe"),
    )
    trained_at: str | None = Field(
        description="When the training run started (UTC).", json_schema_extra=_example("2026-11-27T08:12:03Z")
    )
    registered_at: str | None = Field(json_schema_extra=_example("2026-11-27T08:13:59Z"))
    data_fingerprint: dict[str, Any] = Field(
        description="What the model was trained on: sizes, dates, positive rate, content hash.",
        json_schema_extra=_example({"leads": 6000, "closed_leads": 5494, "content_hash": "f701cf5e49dd8a34"}),
    )
    test_metrics: dict[str, Any] = Field(
        description="Scores on the held-out newest period.",
        json_schema_extra=_example({"test_roc_auc": 0.79, "test_ece": 0.023}),
    )
    calibration: str | None = Field(json_schema_extra=_example("sigmoid"))
    feature_schema: dict[str, Any] = Field(
        description="The features the model reads: names, dtypes, categories, attribute columns, stage map."
    )
    limits: dict[str, int] = Field(
        description="Request limits of this server.",
        json_schema_extra=_example({"max_batch": 10000, "max_events_per_lead": 5000}),
    )


class ProblemBody(BaseModel):
    """One thing wrong with a request."""

    path: str = Field(
        description="Where: a JSON path in the body (`leads[0].events[2].ts`), `headers.<name>` or `body`.",
        json_schema_extra=_example("leads[0].events[2].ts"),
    )
    message: str = Field(
        description="What, for people (may be reworded between versions).",
        json_schema_extra=_example("cannot read this as an ISO 8601 timestamp (e.g. 2026-09-28T14:05:00Z)"),
    )
    code: ProblemCode = Field(
        description="What, for programs (stable): " + ", ".join(PROBLEM_CODES) + ".",
        json_schema_extra=_example("invalid_timestamp"),
    )


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: str = Field(
        description="What went wrong, for people.", json_schema_extra=_example("invalid request: 1 problem")
    )
    code: ErrorCode = Field(
        description="The kind of error, for programs (stable): " + ", ".join(ERROR_CODES) + ".",
        json_schema_extra=_example("invalid_request"),
    )
    problems: list[ProblemBody] = Field(
        description="Every problem found (the first 50), each with its JSON path; empty when the error is about "
        "the request as a whole.",
        json_schema_extra=_example(
            [
                {
                    "path": "leads[0].events[2].ts",
                    "message": "cannot read this as an ISO 8601 timestamp (e.g. 2026-09-28T14:05:00Z)",
                    "code": "invalid_timestamp",
                }
            ]
        ),
    )
    problems_not_shown: int | None = Field(
        default=None, ge=1, description="How many more problems there were beyond the first 50 (absent if none)."
    )
