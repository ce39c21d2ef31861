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
from functools import lru_cache
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.internals import create_dataframe_from_blocks

from features import contract as c
from features.contract import AS_OF, LeadBatch
from features.parsing import iso_microseconds, str_array

# Keys of a request record that are not lead attributes; an attribute of the same name would be ambiguous.
RESERVED_KEYS: Final = c.RESERVED_COLUMNS | {"events", "attributes"}
# Canonical lead columns that are never sent as attributes (known only after the outcome, or bookkeeping).
_TEXT: Final = pa.large_string()
_EVENT_STRUCT: Final = pa.struct([("type", _TEXT), ("ts", _TEXT), ("asset", _TEXT)])
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


def _text_or_none(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _array(values: Any) -> Any:
    """A column's values as a 1-D numpy or pandas array (a list gets pandas' type inference)."""
    if isinstance(values, pd.Series):
        return values.array if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) else values.to_numpy()
    if isinstance(values, np.ndarray):
        return values
    return pd.Series(values).array


def _text_column(values: Any) -> Any:
    """A column of text as pandas `str` values, missing kept missing."""
    if isinstance(values, pd.Series) and values.dtype == "str":
        return values.array
    return pd.array([_text_or_none(x) for x in values], dtype="str")


def _stamp_text(values: list[Any]) -> pa.Array:
    """Timestamps as Arrow text: ISO 8601 strings as they are, datetimes spelled in ISO 8601, missing as null."""
    try:
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        texts = [
            None if _plain(v) is None else v if isinstance(v, str) else pd.Timestamp(v).isoformat() for v in values
        ]
        return pa.array(texts, type=pa.large_string())


def from_records(records: pd.DataFrame | Iterable[Mapping[str, Any]], now: pd.Timestamp | None = None) -> LeadBatch:
    """Request records (a DataFrame of them, or a list) as the canonical `LeadBatch`; leads without an `as_of`
    (and without a `decided_at`) are scored as of `now` (default: the current time, UTC)."""
    frame = records if isinstance(records, pd.DataFrame) else flat_frame(records)
    n = len(frame)
    # Columns stay as they came (no round trip through Python lists for the attributes).
    data: dict[str, Any] = {str(col): series for col, series in frame.items()}
    if "attributes" in data:
        nested = [dict(a or {}) for a in data.pop("attributes")]
        for key in dict.fromkeys(k for a in nested for k in a):
            if key not in data:
                data[key] = [a.get(key) for a in nested]
    if c.LEAD_ID not in data:
        raise ValueError(f"records: every lead needs a '{c.LEAD_ID}'")
    given = data.pop("events", [None] * n)
    given = given.tolist() if isinstance(given, pd.Series) else given
    lists = [e if isinstance(e, list | tuple | np.ndarray) else [] for e in given]
    flat = [ev for e in lists for ev in e]

    # Every timestamp of the request in one parse, then split back into its columns.
    time_columns = [col for col in (c.CREATED_AT, c.DECIDED_AT, AS_OF) if col in data]
    texts = [_stamp_text(data[col]) for col in time_columns] + [_stamp_text([ev.get("ts") for ev in flat])]
    parsed = iso_microseconds(texts)
    for (_, bad), text, col in zip(parsed, texts, [*time_columns, "events[].ts"], strict=True):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"records: {col} {text[k].as_py()!r} (value {k}) is not an ISO 8601 timestamp")
    for (us, _), col in zip(parsed, time_columns, strict=False):
        data[col] = us.view(c.TIMESTAMP_DTYPE)
    event_ts = parsed[-1][0].view(c.TIMESTAMP_DTYPE)

    when = np.datetime64(now if now is not None else pd.Timestamp.now(tz="UTC").tz_localize(None), "us")
    if AS_OF not in data and c.DECIDED_AT not in data:
        data[AS_OF] = np.full(n, when)
    elif AS_OF in data:
        as_of = np.asarray(data[AS_OF])
        data[AS_OF] = np.where(np.isnat(as_of), when, as_of)
    if c.CREATED_AT not in data:
        data[c.CREATED_AT] = np.full(n, np.datetime64("NaT", "us"))
    ids = _text_column(data.pop(c.LEAD_ID))
    leads = _frame(
        {
            c.LEAD_ID: ids,
            c.SOURCE: _text_column(data.pop(c.SOURCE, [None] * n)),
            **{col: _array(values) for col, values in data.items()},
        },
        n,
    )
    if not flat:
        return LeadBatch(leads, c.empty_events())
    # The events are plain dicts: Arrow turns all of them into columns in one C pass.
    try:
        table = pa.array(flat, type=_EVENT_STRUCT)
        types, assets = str_array(table.field("type")), str_array(table.field("asset"))
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # not text: spelled as text
        types = pd.array([str(ev.get("type")) for ev in flat], dtype="str")
        assets = pd.array([_text_or_none(ev.get("asset")) for ev in flat], dtype="str")
    events = _frame(
        {
            c.EVENT_LEAD_ID: ids.take(np.repeat(np.arange(n), [len(e) for e in lists])),
            c.TS: event_ts,
            c.EVENT_TYPE: types,
            c.ASSET: assets,
        },
        len(flat),
    )
    return LeadBatch(leads, events)


def _frame(columns: Mapping[str, Any], n: int) -> pd.DataFrame:
    """A DataFrame of 1-D numpy or pandas arrays, one block a column: for a lead or two, the plain constructor
    costs more than the features."""
    blocks = [
        (values.reshape(1, -1) if isinstance(values, np.ndarray) else values, np.array([k]))
        for k, values in enumerate(columns.values())
    ]
    return create_dataframe_from_blocks(blocks, index=pd.RangeIndex(n), columns=_columns(tuple(columns)))


@lru_cache(maxsize=64)
def _columns(names: tuple[str, ...]) -> pd.Index:
    # Building an Index of text infers its type value by value: the same few column lists come back every call.
    # Plain Python strings, not pandas' Arrow-backed text: every column lookup reads a label, and reading one out
    # of Arrow costs microseconds (8% of the pyfunc's own time for one lead, measured).
    return pd.Index(names, dtype=object)
