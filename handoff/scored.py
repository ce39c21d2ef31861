"""The scored-leads frame: the policy's input, validated once and turned into plain numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from features.contract import MIN_HOURS
from handoff.errors import ScoredLeadsError

LEAD_ID: Final = "lead_id"
P_CLOSE: Final = "p_close"
EXPECTED_HOURS: Final = "expected_hours"
EXPECTED_DAYS: Final = "expected_days_to_close"
DEAL_VALUE: Final = "deal_value"

Objective = Literal["closes", "value"]
OBJECTIVES: Final = ("closes", "value")


_EXAMPLES: Final = 3


@dataclass(frozen=True)
class ScoredArrays:
    """Validated columns of a scored-leads frame, positionally aligned with the frame's rows."""

    frame: pd.DataFrame
    ids: pd.Series
    p_close: NDArray[np.float64]
    hours: NDArray[np.float64]
    effort: NDArray[np.float64]
    deal_value: NDArray[np.float64] | None
    days: NDArray[np.float64] | None

    def __len__(self) -> int:
        return len(self.p_close)


def _examples(ids: pd.Series, bad: NDArray[np.bool_]) -> str:
    pos = np.flatnonzero(bad)
    shown = ", ".join(f"row {p} (lead_id {ids.iloc[p]!r})" for p in pos[:_EXAMPLES])
    more = f" and {len(pos) - _EXAMPLES} more" if len(pos) > _EXAMPLES else ""
    return f"{shown}{more}"


def _numeric(frame: pd.DataFrame, col: str, ids: pd.Series) -> NDArray[np.float64]:
    series = frame[col]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        if pd.api.types.is_bool_dtype(series.dtype):
            raise ScoredLeadsError(f"column {col!r} holds booleans; expected numbers")
        converted = pd.to_numeric(series, errors="coerce")
        unparsable = converted.isna().to_numpy() & series.notna().to_numpy()
        if unparsable.any():
            first = int(np.flatnonzero(unparsable)[0])
            raise ScoredLeadsError(
                f"column {col!r}: {series.iloc[first]!r} is not a number at {_examples(ids, unparsable)}"
            )
        series = converted
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _check(ids: pd.Series, col: str, bad: NDArray[np.bool_], problem: str) -> None:
    if bad.any():
        raise ScoredLeadsError(f"column {col!r} {problem} for {int(bad.sum())} lead(s): {_examples(ids, bad)}")


def validate_scored(
    scored: pd.DataFrame,
    *,
    objective: Objective = "closes",
    horizon_days: float | None = None,
    segment_columns: list[str] | tuple[str, ...] = (),
    min_hours: float = MIN_HOURS,
) -> ScoredArrays:
    """Check a scored-leads frame and return its columns as float arrays.

    Raises `ScoredLeadsError` naming the column, the problem and the first offending rows.
    """
    if not isinstance(scored, pd.DataFrame):
        raise ScoredLeadsError(f"scored leads must be a pandas DataFrame, got {type(scored).__name__}")
    if objective not in OBJECTIVES:
        raise ScoredLeadsError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
    if horizon_days is not None and not (np.isfinite(horizon_days) and horizon_days > 0):
        raise ScoredLeadsError(f"horizon_days must be a positive number of days; got {horizon_days!r}")
    if not (np.isfinite(min_hours) and min_hours > 0):
        raise ScoredLeadsError(f"min_hours must be a positive number of hours; got {min_hours!r}")
    if scored.columns.duplicated().any():
        dup = sorted({str(c) for c in scored.columns[scored.columns.duplicated()]})
        raise ScoredLeadsError(f"scored leads have duplicate column(s): {', '.join(dup)}")

    required = [LEAD_ID, P_CLOSE, EXPECTED_HOURS]
    if objective == "value":
        required.append(DEAL_VALUE)
    if horizon_days is not None:
        required.append(EXPECTED_DAYS)
    missing = [c for c in required if c not in scored.columns]
    if missing:
        why = {DEAL_VALUE: " (needed for objective 'value')", EXPECTED_DAYS: " (needed for a horizon)"}
        detail = ", ".join(f"{c!r}{why.get(c, '')}" for c in missing)
        raise ScoredLeadsError(f"scored leads lack column(s) {detail}")
    missing_seg = [c for c in segment_columns if c not in scored.columns]
    if missing_seg:
        raise ScoredLeadsError(
            f"the team's segments refer to column(s) {', '.join(map(repr, missing_seg))}, "
            "which the scored leads do not have"
        )

    frame = scored.reset_index(drop=True)
    ids = frame[LEAD_ID]
    na_id = ids.isna().to_numpy()
    if na_id.any():
        rows = ", ".join(str(p) for p in np.flatnonzero(na_id)[:_EXAMPLES])
        raise ScoredLeadsError(f"column 'lead_id' is empty for {int(na_id.sum())} lead(s): row(s) {rows}")
    # One hash pass over the ids; the slower per-row duplicate flags are only computed to word an error.
    codes, uniques = pd.factorize(ids)
    if len(uniques) < len(ids):
        dup_rows = np.asarray((np.bincount(codes, minlength=len(uniques)) > 1)[codes], dtype=bool)
        raise ScoredLeadsError(f"column 'lead_id' has duplicate ids: {_examples(ids, dup_rows)}")

    p = _numeric(frame, P_CLOSE, ids)
    _check(ids, P_CLOSE, ~np.isfinite(p), "is missing or not finite")
    _check(ids, P_CLOSE, (p < 0) | (p > 1), "is outside [0, 1]")
    hours = _numeric(frame, EXPECTED_HOURS, ids)
    _check(ids, EXPECTED_HOURS, ~np.isfinite(hours), "is missing or not finite")
    _check(ids, EXPECTED_HOURS, hours < 0, "is negative")

    deal: NDArray[np.float64] | None = None
    if DEAL_VALUE in frame.columns:
        deal = _numeric(frame, DEAL_VALUE, ids)
        if objective == "value":
            _check(ids, DEAL_VALUE, ~np.isfinite(deal), "is missing or not finite")
        _check(ids, DEAL_VALUE, deal < 0, "is negative")
        _check(ids, DEAL_VALUE, np.isinf(deal), "is infinite")
    days: NDArray[np.float64] | None = None
    if EXPECTED_DAYS in frame.columns:
        days = _numeric(frame, EXPECTED_DAYS, ids)
        if horizon_days is not None:
            _check(ids, EXPECTED_DAYS, ~np.isfinite(days), "is missing or not finite")
        _check(ids, EXPECTED_DAYS, days < 0, "is negative")

    effort = np.maximum(hours, min_hours)
    return ScoredArrays(frame=frame, ids=ids, p_close=p, hours=hours, effort=effort, deal_value=deal, days=days)


def objective_value(data: ScoredArrays, objective: Objective, horizon_days: float | None = None) -> NDArray[np.float64]:
    """What a lead is worth to the policy: `p_close` or `p_close * deal_value`, times P(close in horizon).

    With a horizon, time to close is modelled as exponential with mean `expected_days_to_close`, so the chance
    that a lead which closes does so within the horizon is `1 - exp(-horizon_days / expected_days_to_close)`
    (1 when the expected days are 0).
    """
    value = data.p_close.copy()
    if objective == "value":
        assert data.deal_value is not None  # validate_scored guarantees it
        value = value * data.deal_value
    if horizon_days is not None:
        assert data.days is not None
        value = value * within_horizon(data.days, horizon_days)
    return value


def within_horizon(days: NDArray[np.float64], horizon_days: float) -> NDArray[np.float64]:
    """P(a lead that closes does so within `horizon_days`) under an exponential time-to-close model."""
    with np.errstate(divide="ignore"):
        rate = np.where(days > 0, horizon_days / np.where(days > 0, days, 1.0), np.inf)
    return np.asarray(-np.expm1(-rate), dtype=np.float64)
