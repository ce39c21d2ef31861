"""Leads in the HTTP request shape <-> the canonical `leads` and `events` tables: the one converter.

The request shape is one record a lead: `lead_id`, `source`, `created_at`, `as_of` (the time to score it at),
`attributes` (an object of lead attributes; flat columns are accepted too), `events` (a list of `{"type", "ts",
"asset"}`) and optionally `deal_value`. Timestamps are ISO 8601 text; with a zone they are converted to UTC.

`to_records` writes it (MLflow's input example, client code, tests and benchmarks); `from_records` reads it into a
`LeadBatch` (the MLflow pyfunc). The HTTP service parses validated requests straight into the features' arrays
(`serving.inputs`), and its tests check that it agrees with `from_records`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import AS_OF, LeadBatch

# Keys of a request record that are not lead attributes; an attribute of the same name would be ambiguous.
RESERVED_KEYS: Final = c.RESERVED_COLUMNS | {"events", "attributes"}
# Canonical lead columns that are never sent as attributes (known only after the outcome, or bookkeeping).
_NOT_SENT: Final = frozenset({c.OUTCOME, c.CLOSED_AT, c.SALES_HOURS, c.DEAL_VALUE, "row_order"})


def _iso(ts: Any) -> str | None:
    return None if pd.isna(ts) else pd.Timestamp(ts).isoformat() + "Z"


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numpy scalars as Python ones, missing as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value


def to_records(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    *,
    before_as_of: bool = True,
    deal_value: bool = False,
) -> list[dict[str, Any]]:
    """One request record per lead as it looked at its decision time (`as_of` = `decided_at`, or the leads'
    own `as_of`). `before_as_of` keeps only the events before that time (the service would ignore and report the
    others); `deal_value` adds each lead's deal value (for ranking by value)."""
    reference = AS_OF if AS_OF in leads.columns else c.DECIDED_AT
    as_of = pd.Series(leads[reference].to_numpy(), index=leads[c.LEAD_ID].to_numpy())
    ev = events[events[c.EVENT_LEAD_ID].isin(as_of.index)]
    if before_as_of:
        ev = ev[ev[c.TS].to_numpy() < as_of.reindex(ev[c.EVENT_LEAD_ID].to_numpy()).to_numpy()]
    assets = ev[c.ASSET] if c.ASSET in ev.columns else pd.Series(None, index=ev.index, dtype=object)
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for lead_id, t, ts, asset in zip(ev[c.EVENT_LEAD_ID], ev[c.EVENT_TYPE], ev[c.TS], assets, strict=True):
        item = {"type": str(t), "ts": _iso(ts)}
        if not pd.isna(asset):
            item["asset"] = str(asset)
        grouped.setdefault(lead_id, []).append(item)
    attributes = [col for col in leads.columns if col not in RESERVED_KEYS and col not in _NOT_SENT]
    values = {col: leads[col].tolist() for col in attributes}
    records = []
    for k, (lead_id, source, created, when) in enumerate(
        zip(leads[c.LEAD_ID], leads[c.SOURCE], leads[c.CREATED_AT], leads[reference], strict=True)
    ):
        record: dict[str, Any] = {
            "lead_id": str(lead_id),
            "source": None if pd.isna(source) else str(source),
            "created_at": _iso(created),
            "as_of": _iso(when),
            "attributes": {col: _plain(values[col][k]) for col in attributes},
            "events": grouped.get(lead_id, []),
        }
        if deal_value:
            record["deal_value"] = _plain(leads[c.DEAL_VALUE].iloc[k])
        records.append(record)
    return records


def flat_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Request records as one DataFrame with the attributes as columns (the MLflow pyfunc's input shape).
    Whole-number columns are floats: a lead may leave a number out, which an integer column could not hold."""
    rows = []
    for record in records:
        row = {key: value for key, value in record.items() if key != "attributes"}
        row.update(record.get("attributes") or {})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if pd.api.types.is_integer_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    if "events" in frame.columns:
        frame["events"] = pd.Series([list(e) for e in frame["events"]], index=frame.index, dtype=object)
    return frame


def _utc_naive(values: Any) -> pd.Series:
    ts = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return ts.dt.tz_localize(None).astype(c.TIMESTAMP_DTYPE)


def from_records(records: pd.DataFrame | Iterable[Mapping[str, Any]], now: pd.Timestamp | None = None) -> LeadBatch:
    """Request records (a DataFrame of them, or a list) as the canonical `LeadBatch`; leads without an `as_of`
    (and without a `decided_at`) are scored as of `now` (default: the current time, UTC)."""
    frame = records.copy() if isinstance(records, pd.DataFrame) else flat_frame(records)
    if "attributes" in frame.columns:
        nested = pd.DataFrame([dict(a or {}) for a in frame.pop("attributes")], index=frame.index)
        frame = frame.join(nested[[col for col in nested.columns if col not in frame.columns]])
    leads = frame.drop(columns=["events"], errors="ignore")
    if c.LEAD_ID not in leads.columns:
        raise ValueError(f"records: every lead needs a '{c.LEAD_ID}'")
    leads[c.LEAD_ID] = leads[c.LEAD_ID].astype(str)
    for col in (c.CREATED_AT, c.DECIDED_AT, AS_OF):
        if col in leads.columns:
            leads[col] = _utc_naive(leads[col])
    when = now if now is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)
    if AS_OF not in leads.columns and c.DECIDED_AT not in leads.columns:
        leads[AS_OF] = pd.Series(np.full(len(leads), when), dtype=c.TIMESTAMP_DTYPE, index=leads.index)
    elif AS_OF in leads.columns:
        leads[AS_OF] = leads[AS_OF].fillna(when)
    if c.CREATED_AT not in leads.columns:
        leads[c.CREATED_AT] = pd.Series(pd.NaT, index=leads.index, dtype=c.TIMESTAMP_DTYPE)
    if c.SOURCE not in leads.columns:
        leads[c.SOURCE] = None
    leads[c.SOURCE] = leads[c.SOURCE].astype("str")

    given: list[Any] = frame["events"].tolist() if "events" in frame.columns else [None] * len(frame)
    lists = [e if isinstance(e, list | tuple | np.ndarray) else [] for e in given]
    flat = [ev for e in lists for ev in e]
    if not flat:
        return LeadBatch(leads.reset_index(drop=True), c.empty_events())
    ev = pd.DataFrame.from_records(flat)
    events = pd.DataFrame(
        {
            c.EVENT_LEAD_ID: np.repeat(leads[c.LEAD_ID].to_numpy(), [len(e) for e in lists]),
            c.TS: _utc_naive(ev["ts"]).to_numpy(),
            c.EVENT_TYPE: ev["type"].astype(str).to_numpy(),
            c.ASSET: ev["asset"].to_numpy() if "asset" in ev else None,
        }
    )
    events = events.astype({c.EVENT_LEAD_ID: "str", c.EVENT_TYPE: "str", c.ASSET: "str"})
    return LeadBatch(leads.reset_index(drop=True), events)
