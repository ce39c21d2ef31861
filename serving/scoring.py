"""Scoring for the HTTP API: validated leads in, scores, reasons and the handoff out, as JSON-ready dicts.

The numbers come from the model's one `predict` (`model.LeadModel`), straight from the request's arrays; this
module words the reasons, runs the capacity policy and shapes the answer. It computes no probability itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from features import contract as c
from features.engagement import FeatureInputError
from features.parsing import str_array
from features.schema import FeatureSchema
from handoff import CapacitySpec, HandoffError, hand_off
from model import LeadModel, Prediction
from serving.errors import Problem, RequestError
from serving.inputs import Limits, PreparedLeads, prepare
from serving.reasons import Explainer

if TYPE_CHECKING:
    from serving.schemas import Lead


Objective = Literal["closes", "value"]


# --- the engine ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRows:
    """What the prediction log records for one request (one row per lead)."""

    request_id: str
    endpoint: str
    model_version: str
    lead_ids: Sequence[str]
    p_close: np.ndarray
    stage: Sequence[str | None] | None = None
    assigned_to: Sequence[str | None] | None = None


@dataclass(frozen=True)
class Answer:
    """A JSON-ready response body and the rows to log before it is sent."""

    body: dict[str, Any]
    log_rows: LogRows


class ScoringEngine:
    """Scores validated requests with one loaded model. Safe to share between threads (nothing changes after
    `__init__` but the model's idempotent caches)."""

    def __init__(self, model: LeadModel, model_version: str, limits: Limits) -> None:
        self.model = model
        self.model_version = model_version
        self.limits = limits
        self.schema: FeatureSchema = model.schema
        self.explainer = Explainer(model)

    def _predict(
        self, leads: Sequence[Lead], now_us: int, with_reasons: bool
    ) -> tuple[PreparedLeads, Prediction, list[list[Any]]]:
        prepared = prepare(leads, self.schema, self.limits, now_us)
        try:
            # Straight from the request's arrays: no DataFrames on the way (most of the time of one lead).
            if with_reasons:
                predictions, reasons = self.explainer(prepared.columns)
            else:
                predictions, reasons = self.model.predict(prepared.columns), [[] for _ in prepared.lead_ids]
        except FeatureInputError as exc:  # the checks above should leave nothing for the features to refuse
            raise RequestError(400, f"cannot compute features: {exc}", [Problem("leads", str(exc))]) from None
        return prepared, predictions, reasons

    def score(self, leads: Sequence[Lead], now_us: int, with_reasons: bool = True) -> Answer:
        """The /score answer; without reasons every lead's list is empty (the numbers are the same)."""
        prepared, pred, reasons = self._predict(leads, now_us, with_reasons)
        request_id = uuid.uuid4().hex
        body = {
            "request_id": request_id,
            "model_version": self.model_version,
            "leads": [
                {"lead_id": i, "p_close": p, "expected_hours": h, "expected_days_to_close": d, "reasons": r}
                for i, p, h, d, r in zip(
                    prepared.lead_ids,
                    pred.p_close.tolist(),
                    pred.expected_hours.tolist(),
                    pred.expected_days.tolist(),
                    reasons,
                    strict=True,
                )
            ],
            "warnings": prepared.warnings,
        }
        return Answer(body, LogRows(request_id, "score", self.model_version, prepared.lead_ids, pred.p_close))

    def rank(
        self,
        leads: Sequence[Lead],
        capacity: CapacitySpec,
        objective: Objective,
        horizon_days: float | None,
        now_us: int,
        with_reasons: bool = True,
    ) -> Answer:
        problems = self._capacity_problems(capacity)
        if problems:
            raise RequestError(400, "invalid capacity", problems)
        prepared, pred, reasons = self._predict(leads, now_us, with_reasons)
        scored = self._scored_frame(prepared, pred, capacity, objective, horizon_days)
        try:
            result = hand_off(scored, capacity, objective=objective, horizon_days=horizon_days)
        except HandoffError as exc:
            raise RequestError(400, f"cannot hand off: {exc}", [Problem("capacity", str(exc))]) from None
        frame = result.leads
        position = pd.Index(prepared.lead_ids).get_indexer(pd.Index(frame[c.LEAD_ID]))
        ordered_reasons = [reasons[k] for k in position.tolist()]
        stage = frame["stage"].tolist()
        assigned = frame["assigned_to"].astype(object).where(frame["assigned_to"].notna(), None).tolist()
        request_id = uuid.uuid4().hex
        summary = result.summary.to_dict()
        body = {
            "request_id": request_id,
            "model_version": self.model_version,
            "statement": summary["statement"],
            "summary": summary,
            "leads": [
                {
                    "rank": rank,
                    "lead_id": lead_id,
                    "stage": st,
                    "assigned_to": rep,
                    "p_close": p,
                    "expected_hours": h,
                    "expected_days_to_close": d,
                    "expected_value": v,
                    "closes_per_hour": cph,
                    "reasons": r,
                }
                for rank, lead_id, st, rep, p, h, d, v, cph, r in zip(
                    frame["rank"].tolist(),
                    frame[c.LEAD_ID].tolist(),
                    stage,
                    assigned,
                    frame["p_close"].tolist(),
                    frame["expected_hours"].tolist(),
                    frame["expected_days_to_close"].tolist(),
                    frame["expected_value"].tolist(),
                    frame["closes_per_hour"].tolist(),
                    ordered_reasons,
                    strict=True,
                )
            ],
            "warnings": prepared.warnings,
        }
        rows = LogRows(
            request_id,
            "rank",
            self.model_version,
            frame[c.LEAD_ID].tolist(),
            frame["p_close"].to_numpy(dtype=np.float64),
            stage,
            assigned,
        )
        return Answer(body, rows)

    def _capacity_problems(self, capacity: CapacitySpec) -> list[Problem]:
        known = set(self.schema.attribute_columns) | {c.SOURCE}
        return [
            Problem(
                f"capacity.team[{k}].segments.{column}",
                f"'{column}' is not a lead attribute of this model (known: {', '.join(sorted(known))})",
            )
            for k, rep in enumerate(capacity.team or [])
            for column in rep.segments
            if column not in known
        ]

    def _scored_frame(
        self,
        prepared: PreparedLeads,
        pred: Prediction,
        capacity: CapacitySpec,
        objective: Objective,
        horizon_days: float | None,
    ) -> pd.DataFrame:
        if objective == "value":
            missing = np.flatnonzero(np.isnan(prepared.deal_value))
            if len(missing):
                raise RequestError(
                    400,
                    f"objective 'value' needs a deal_value on every lead; {len(missing)} lead(s) have none",
                    [
                        Problem(f"leads[{i}].deal_value", "required for objective 'value'", "missing_field")
                        for i in missing
                    ],
                )
        if horizon_days is not None and np.isnan(pred.expected_days).all():
            raise RequestError(
                400,
                "horizon_days needs an estimate of days to close, which this model does not have (it was "
                "trained without close dates)",
                [Problem("horizon_days", "not supported by this model; leave it out")],
            )
        columns: dict[str, Any] = {
            c.LEAD_ID: pd.array(prepared.lead_ids, dtype="str"),
            "p_close": pred.p_close,
            "expected_hours": pred.expected_hours,
            "expected_days_to_close": pred.expected_days,
        }
        if not np.isnan(prepared.deal_value).all():
            columns[c.DEAL_VALUE] = prepared.deal_value
        for column in capacity.segment_columns():
            if column == c.SOURCE:
                columns[column] = _segment_text(str_array(prepared.sources))
            elif column in prepared.attributes:
                columns[column] = _segment_text(prepared.attribute_column(column))
            else:  # nobody sent it: no lead is in that segment
                columns[column] = pd.array([None] * len(prepared.lead_ids), dtype="str")
        return pd.DataFrame(columns)


def _segment_text(values: Any) -> Any:
    """An attribute column as the text segments are matched against: 50.0 reads "50", like the spec's 50."""
    if not (isinstance(values, np.ndarray) and values.dtype.kind == "f"):
        return values
    whole = np.isfinite(values) & (np.abs(values) < 2**53) & (values == np.round(values))
    text = np.where(whole, np.where(whole, values, 0).astype(np.int64).astype(str), values.astype(str)).astype(object)
    text[np.isnan(values)] = None
    return pd.array(text, dtype="str")
