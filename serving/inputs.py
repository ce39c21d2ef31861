"""From a validated request body to the model's input: checks that need the whole request or the model's
schema, the arrays the model reads (`LeadColumns`), and the warnings that go back with the scores.

pydantic has already checked types and shapes field by field. What is left needs the request as a whole
(limits, duplicate ids, events after `as_of`) or the model (attribute names and types, categories seen in
training), and is done column by column: the leads' values are pulled out once into arrays and every check is
an array operation, so a 10,000-lead request costs a few array passes, not 10,000 Python-level checks. Every
problem names its JSON path (`leads[3].events[0].ts`).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import contract as c
from features.engagement import LeadColumns
from features.parsing import NAT_US, iso_microseconds, str_array
from features.records import RESERVED_KEYS
from features.schema import NUMERIC, FeatureSchema
from serving.errors import Problem, RequestError

if TYPE_CHECKING:
    from serving.schemas import Lead

# A warning lists the JSON paths of at most this many of the values it is about.
MAX_PATHS: Final = 5
# Type codes of attribute values (the request schema allows no other types).
_NONE, _BOOL, _INT, _FLOAT, _TEXT, _OTHER = range(6)
_KIND: Final = {type(None): _NONE, bool: _BOOL, int: _INT, float: _FLOAT, str: _TEXT}
# Types a numeric (text) attribute takes as they are: no value needs a closer look.
_NUMBERS: Final = frozenset({type(None), int, float})
_TEXTS: Final = frozenset({type(None), str})

_lead_id = operator.attrgetter("lead_id")
_source = operator.attrgetter("source")
_created = operator.attrgetter("created_at")
_as_of = operator.attrgetter("as_of")
_attributes = operator.attrgetter("attributes")
_events = operator.attrgetter("events")
_deal_value = operator.attrgetter("deal_value")
# pandas keeps `str` columns as Arrow large_string: building them so spares a cast per column.
_TEXT_TYPE: Final = pa.large_string()
# Up to this many values, membership is a Python set lookup: Arrow builds a hash table of the allowed values on
# every call, which costs more than the lookups for a single lead.
_SMALL: Final = 128
_EVENT_STRUCT: Final = pa.struct([("type", _TEXT_TYPE), ("ts", _TEXT_TYPE), ("asset", _TEXT_TYPE)])


@dataclass(frozen=True)
class Limits:
    """Request limits (from `Settings.max_batch` and `Settings.max_events_per_lead`)."""

    max_batch: int
    max_events_per_lead: int


@dataclass
class PreparedLeads:
    """A request's leads in the model's shape, plus what scoring and reasons need besides the features.

    `columns` is what the model reads (`LeadModel.predict`): plain arrays, no DataFrames, because for one lead
    building DataFrames costs as much as the features.
    """

    columns: LeadColumns
    ids: pa.Array  # lead ids, Arrow text
    sources: pa.Array  # Arrow text per lead
    lead_ids: list[str]
    deal_value: np.ndarray  # float64, NaN where not given
    attributes: dict[str, Any]  # known attribute columns (float64 array or Arrow text), one value per lead
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def attribute_column(self, column: str) -> Any:
        """An attribute as a DataFrame column: float64 for numbers, a pandas `str` array for text."""
        values = self.attributes[column]
        return str_array(values) if isinstance(values, pa.Array) else values


def prepare(leads: Sequence[Lead], schema: FeatureSchema, limits: Limits, now_us: int) -> PreparedLeads:
    """Check `leads` against the limits and the model's schema and build the model's input arrays.

    Raises `RequestError` (413 for a limit, 400 otherwise) listing every problem with its JSON path. `now_us`
    (microseconds since the epoch, UTC) is the `as_of` of leads that give none.
    """
    n = len(leads)
    if n > limits.max_batch:
        raise RequestError(
            413,
            f"too many leads: {n:,} in one request; the limit is {limits.max_batch:,} (LEADRANK_MAX_BATCH)",
            [Problem("leads", f"{n:,} leads, at most {limits.max_batch:,} allowed", "too_large")],
        )
    event_lists = list(map(_events, leads))
    counts = np.fromiter(map(len, event_lists), dtype=np.int64, count=n)
    too_many = np.flatnonzero(counts > limits.max_events_per_lead)
    if len(too_many):
        raise RequestError(
            413,
            f"too many events: {len(too_many)} lead(s) have more than {limits.max_events_per_lead:,} events "
            "(LEADRANK_MAX_EVENTS_PER_LEAD)",
            [
                Problem(
                    f"leads[{i}].events",
                    f"{counts[i]:,} events, at most {limits.max_events_per_lead:,} allowed",
                    "too_large",
                )
                for i in too_many
            ],
        )

    problems: list[Problem] = []
    warnings: list[dict[str, Any]] = []
    ids = pa.array(list(map(_lead_id, leads)), type=_TEXT_TYPE, size=n)
    problems += _duplicate_ids(ids)

    flat = list(chain.from_iterable(event_lists))
    offsets = np.concatenate(([0], np.cumsum(counts)))
    event_lead = np.repeat(np.arange(n, dtype=np.int64), counts)
    # Events are plain dicts (see schemas.Event): Arrow turns all of them into columns in one C pass.
    events = pa.array(flat, type=_EVENT_STRUCT)
    (as_of, bad_as_of), (created, bad_created), (ts, bad_ts) = iso_microseconds(
        [_text_array(map(_as_of, leads), n), _text_array(map(_created, leads), n), events.field("ts")]
    )
    problems += _bad_times(bad_as_of, lambda i: f"leads[{i}].as_of")
    problems += _bad_times(bad_created, lambda i: f"leads[{i}].created_at")
    problems += _bad_times(bad_ts, lambda k: _event_path(k, event_lead, offsets) + ".ts")
    as_of = np.where(as_of == NAT_US, now_us, as_of)

    attributes, attr_problems, attr_warnings = _attributes_of(list(map(_attributes, leads)), schema)
    problems += attr_problems
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise RequestError(400, f"invalid request: {len(problems)} {noun}", problems)
    warnings += attr_warnings

    sources = pa.array(list(map(_source, leads)), type=_TEXT_TYPE, size=n)
    source_spec = schema.attribute(c.SOURCE)
    if source_spec is not None and source_spec.kind != NUMERIC:
        warnings += _unseen(
            sources, schema.categories.get(source_spec.feature, ()), "source", lambda i: f"leads[{i}].source"
        )

    types = events.field("type")
    unknown = ~_is_in(types, tuple(schema.stage_map))
    if unknown.any():
        warnings.append(
            _warning(
                "unknown_event_type",
                f"{_count(int(unknown.sum()), 'event')} of types the model does not know counted in stage "
                f"'other': {_top_values(types.filter(unknown))}",
                unknown,
                lambda k: _event_path(k, event_lead, offsets) + ".type",
            )
        )
    late = ts >= as_of[event_lead]
    if late.any():
        warnings.append(
            _warning(
                "events_after_as_of",
                f"{_count(int(late.sum()), 'event')} at or after the lead's as_of ignored",
                late,
                lambda k: _event_path(k, event_lead, offsets) + ".ts",
            )
        )
    backwards = (created != NAT_US) & (created > as_of)
    if backwards.any():
        warnings.append(
            _warning(
                "created_after_as_of",
                f"{_count(int(backwards.sum()), 'lead')} created after its as_of (lead age is negative)",
                backwards,
                lambda i: f"leads[{i}].created_at",
            )
        )

    columns = LeadColumns(
        as_of_us=as_of,
        created_us=created,
        attributes={c.SOURCE: sources, **attributes},
        event_lead=event_lead,
        event_ts_us=ts,
        event_types=types,
        event_assets=events.field("asset"),
    )
    deal = np.array(list(map(_deal_value, leads)), dtype=np.float64)  # None becomes NaN
    return PreparedLeads(
        columns=columns,
        ids=ids,
        sources=sources,
        lead_ids=ids.to_pylist(),
        deal_value=deal,
        attributes=attributes,
        warnings=warnings,
    )


# --- pieces -------------------------------------------------------------------------------------------------


def _event_path(k: int, event_lead: np.ndarray, offsets: np.ndarray) -> str:
    lead = int(event_lead[k])
    return f"leads[{lead}].events[{k - int(offsets[lead])}]"


def _text_array(values: Iterable[str | None], n: int) -> pa.Array:
    return pa.array(list(values), type=_TEXT_TYPE, size=n)


def _bad_times(bad: np.ndarray, path: Any) -> list[Problem]:
    if not bad.any():
        return []
    return [
        Problem(
            path(int(k)), "cannot read this as an ISO 8601 timestamp (e.g. 2026-09-28T14:05:00Z)", "invalid_timestamp"
        )
        for k in np.flatnonzero(bad)
    ]


def _duplicate_ids(ids: pa.Array) -> list[Problem]:
    if len(ids) <= 1 or pc.count_distinct(ids).as_py() == len(ids):
        return []
    encoded = ids.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.full(len(encoded.dictionary), len(ids), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(ids), dtype=np.int64))
    repeats = np.flatnonzero(first[codes] != np.arange(len(ids)))
    return [
        Problem(
            f"leads[{i}].lead_id",
            f"duplicate lead id {ids[i].as_py()!r} (first at leads[{first[codes[i]]}])",
            "duplicate_id",
        )
        for i in repeats
    ]


def _attributes_of(
    dicts: list[dict[str, Any]], schema: FeatureSchema
) -> tuple[dict[str, Any], list[Problem], list[dict[str, Any]]]:
    """The schema's attribute columns (one value per lead: float64 array or Arrow text), problems, and
    warnings."""
    problems: list[Problem] = []
    warnings: list[dict[str, Any]] = []
    columns: dict[str, Any] = {}
    keys: set[str] = set().union(*dicts) if dicts else set()
    if not keys:
        return columns, problems, warnings
    known = set(schema.attribute_columns) - {c.SOURCE}
    n = len(dicts)
    for key in sorted(keys):
        if key in RESERVED_KEYS or key not in known:
            has = np.fromiter(map(operator.methodcaller("__contains__", key), dicts), dtype=bool, count=n)
            if key in RESERVED_KEYS:
                problems += [
                    Problem(f"leads[{i}].attributes.{key}", f"'{key}' is a field of the lead, not an attribute")
                    for i in np.flatnonzero(has)
                ]
            else:
                warnings.append(
                    _warning(
                        "unknown_attribute",
                        f"attribute '{key}' is not used by this model and was ignored (model attributes: "
                        f"{', '.join(sorted(known)) or 'none'})",
                        has,
                        lambda i, key=key: f"leads[{i}].attributes.{key}",
                    )
                )
            continue
        values = list(map(operator.methodcaller("get", key), dicts))
        spec = schema.attribute(key)
        assert spec is not None
        numeric = spec.kind == NUMERIC
        bad = None
        # The request schema lets only five types through; mostly a column holds one or two of them.
        if set(map(type, values)) <= (_NUMBERS if numeric else _TEXTS):  # nothing to check value by value
            columns[key] = np.array(values, dtype=np.float64) if numeric else pa.array(values, _TEXT_TYPE)
        else:
            # Type codes, one C-level pass.
            kinds = np.fromiter(map(_KIND.__getitem__, map(type, values)), dtype=np.int8, count=n)
            bad = kinds == _BOOL
            if numeric:
                numbers, unreadable = _numeric(values, kinds)
                bad |= unreadable
                columns[key] = numbers
            else:
                columns[key] = _text(values)
        if not numeric:
            warnings += _unseen(
                columns[key],
                schema.categories.get(spec.feature, ()),
                key,
                lambda i, key=key: f"leads[{i}].attributes.{key}",
            )
        if bad is not None:
            problems += [
                Problem(
                    f"leads[{i}].attributes.{key}", schema.check_value(key, values[i]) or "invalid value", "wrong_type"
                )
                for i in np.flatnonzero(bad)
            ]
    return columns, problems, warnings


def _numeric(values: list[Any], kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float values of a numeric attribute (numbers, or text holding a number) and a mask of unusable ones."""
    bad = np.zeros(len(values), dtype=bool)
    is_text = kinds == _TEXT
    if not is_text.any():
        return np.array(values, dtype=np.float64), bad  # None becomes NaN, booleans are flagged by the caller
    out = np.full(len(values), np.nan)
    where = np.flatnonzero((kinds == _INT) | (kinds == _FLOAT))
    out[where] = np.array([values[i] for i in where], dtype=np.float64)
    where = np.flatnonzero(is_text)
    text = pd.Series([values[i] for i in where], dtype="str").str.strip()
    parsed = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    out[where] = parsed
    bad[where] = ~np.isfinite(parsed)
    return out, bad


def _text(values: list[Any]) -> pa.Array:
    """A categorical attribute holding more than text as Arrow text; numbers are spelled as pandas spells them
    (3 -> "3")."""
    return pa.array(pd.Series(values, dtype="str").array)


def _is_in(values: pa.Array, allowed: Sequence[str]) -> np.ndarray:
    """Whether each value is one of `allowed` (missing values are not)."""
    allowed = tuple(allowed)
    if len(values) <= _SMALL:
        members = _as_set(allowed)
        return np.array([v in members for v in values.to_pylist()], dtype=bool)
    found = pc.is_in(values, value_set=_as_arrow(allowed))
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


@lru_cache(maxsize=256)
def _as_set(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(values)


@lru_cache(maxsize=256)
def _as_arrow(values: tuple[str, ...]) -> pa.Array:
    return pa.array(values, type=_TEXT_TYPE)


def _unseen(values: pa.Array, categories: Sequence[str], name: str, path: Any) -> list[dict[str, Any]]:
    if len(values) <= _SMALL:
        members = _as_set(tuple(categories))
        unseen = np.array([v is not None and v not in members for v in values.to_pylist()], dtype=bool)
    else:
        valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        unseen = ~_is_in(values, categories) & valid
    if not unseen.any():
        return []
    return [
        _warning(
            "unseen_category",
            f"{name}: values not seen in training scored as unknown: {_top_values(values.filter(unseen))}",
            unseen,
            path,
        )
    ]


def _top_values(values: pa.Array, k: int = 5) -> str:
    counts = sorted(
        ((item["values"], item["counts"]) for item in pc.value_counts(values).to_pylist()),
        key=lambda vc: (-vc[1], str(vc[0])),
    )
    shown = ", ".join(f"{v!r} ({n})" for v, n in counts[:k])
    return shown + (f" and {len(counts) - k} more" if len(counts) > k else "")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _warning(code: str, message: str, mask: np.ndarray, path: Any) -> dict[str, Any]:
    where = np.flatnonzero(mask)
    return {
        "code": code,
        "message": message,
        "count": len(where),
        "paths": [path(int(k)) for k in where[:MAX_PATHS]],
    }
