"""Reasons for people: the facts about a lead that moved its chance to close most, phrased as a sales rep would.

The model measures, for each group of features that describes one fact (an event type with its windows and flag,
a funnel stage, a recency, an attribute), the effect of that fact on the lead's probability: p_close minus
p_close without it (`model.LeadModel.predict`, `explain=True`). Engagement the lead showed is measured by taking
it away, so it only ever pushes a chance up: "asked for a demo" is never a reason against a lead. Engagement it
did not show is a shortfall ("has not asked for a demo") and only ever pushes down. Everything else (source,
attributes, timing) is measured against the average training lead. The 3 largest positive and the 3 largest
negative effects of each lead become its reasons, each with its effect in percentage points and the probability
without it. docs/reasons.md says what a reason means and what it does not.

The text of a group is built for all the leads that need it at once with numpy string operations, so the cost
is a few array operations per group, not a formatting call per lead. A request of a few leads is worded lead by
lead with plain Python strings instead: there, numpy's fixed cost per call would be most of the time. Both go
through the same wording functions (see `_Leads` and `_Lead`), so they cannot say different things. The HTTP API,
the ranked list and the report all word reasons here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.dtypes import StringDType

from features.engagement import FLAG_EVENT_TYPES, LeadColumns
from model import LeadModel, Prediction
from model.groups import FeatureGroup

TOP: Final = 3
# An effect smaller than this (probability, i.e. 0.05 percentage points) is noise, not a reason.
MIN_EFFECT: Final = 5e-4
# Up to this many leads, reasons are worded lead by lead in plain Python (see the module doc).
ONE_BY_ONE: Final = 16

_S: Final = StringDType()
_US_PER_DAY: Final = 86_400_000_000
_INT64_MAX: Final = np.iinfo(np.int64).max
# Up to this many events in a request, their types are looked up in a dict rather than an Arrow hash table.
_SMALL_EVENTS: Final = 256

# Event type -> (one event, several events with {n}, none). Types not listed get a generic wording.
EVENT_WORDS: Final[Mapping[str, tuple[str, str, str]]] = {
    "page_visit": ("visited a page", "visited {n} pages", "no page visits"),
    "email_click": ("clicked an e-mail", "clicked {n} e-mails", "no e-mail clicks"),
    "whitepaper_download": (
        "downloaded a whitepaper",
        "downloaded {n} whitepapers",
        "no whitepaper downloads",
    ),
    "case_study_read": ("read a case study", "read {n} case studies", "no case studies read"),
    "webinar_attended": ("attended a webinar", "attended {n} webinars", "no webinar attended"),
    "tech_doc_download": (
        "downloaded a technical document",
        "downloaded {n} technical documents",
        "no technical documents downloaded",
    ),
    "pricing_view": ("viewed pricing", "viewed pricing {n} times", "has not viewed pricing"),
    "demo_request": ("asked for a demo", "asked for a demo {n} times", "has not asked for a demo"),
    "trial_request": ("asked for a trial", "asked for a trial {n} times", "has not asked for a trial"),
    "meeting": ("had a meeting", "had {n} meetings", "no meetings yet"),
    "contract_download": (
        "downloaded the contract",
        "downloaded the contract {n} times",
        "has not downloaded the contract",
    ),
}
_RECENCY: Final[Mapping[str, tuple[str, str]]] = {
    # feature -> (what, wording when it never happened)
    "days_since_last_event": ("activity", "no activity yet"),
    "days_since_last_decision_event": ("decision-stage activity", "no decision-stage activity yet"),
}


@dataclass(frozen=True)
class ReasonInputs:
    """What the wording needs besides the contributions, one row per lead (same order)."""

    values: np.ndarray  # leads x model columns: feature values before "never" is filled in (NaN = never)
    categories: Mapping[str, np.ndarray]  # categorical column -> value per lead as text ("" when unknown)
    last_days: Mapping[str, np.ndarray]  # event type -> days since the lead's last such event (NaN: none)


class ReasonWriter:
    """Turns the model's per-group effects into reasons; built once per model."""

    def __init__(self, groups: Sequence[FeatureGroup], columns: Sequence[str]) -> None:
        self.groups = list(groups)
        self.columns = list(columns)
        membership = np.zeros((len(self.columns), len(self.groups)))
        for g, group in enumerate(self.groups):
            membership[list(group.columns), g] = 1.0
        self._membership = membership
        self._keys = np.array([g.key for g in self.groups], dtype=object)

    @property
    def event_types(self) -> list[str]:
        """Event types whose last occurrence the wording uses."""
        return [g.subject for g in self.groups if g.kind == "event"]

    def explain(
        self,
        contributions: np.ndarray,
        effects: np.ndarray,
        p_close: np.ndarray,
        inputs: ReasonInputs,
        top: int = TOP,
    ) -> list[list[dict[str, Any]]]:
        """Reasons per lead: up to `top` pushing up (largest effect first), then up to `top` pushing down."""
        n = effects.shape[0]
        if n == 0:
            return []
        k = min(top, effects.shape[1])
        order = np.argsort(-effects, axis=1, kind="stable")
        picked = np.concatenate([order[:, :k], order[:, ::-1][:, :k]], axis=1)
        effect = np.take_along_axis(effects, picked, axis=1)
        valid = np.concatenate([effect[:, :k] > MIN_EFFECT, effect[:, k:] < -MIN_EFFECT], axis=1)
        down = np.zeros(picked.shape, dtype=bool)
        down[:, k:] = True
        texts: list[list[str]]
        if n <= ONE_BY_ONE:
            texts = [
                [
                    self._text(_LEAD, self.groups[g], i, inputs, d) if ok else ""
                    for g, ok, d in zip(gs, oks, ds, strict=True)
                ]
                for i, (gs, oks, ds) in enumerate(zip(picked.tolist(), valid.tolist(), down.tolist(), strict=True))
            ]
        else:
            cells = np.full(picked.shape, "", dtype=_S)
            for g in np.unique(picked[valid]):
                for is_down in (False, True):
                    where = valid & (picked == g) & (down == is_down)
                    rows = np.flatnonzero(where.any(axis=1))
                    if len(rows):
                        words = self._text(_LEADS, self.groups[g], rows, inputs, is_down)
                        cells[where] = words[_rank_in(where, rows)]
            texts = cells.tolist()
        weight = np.take_along_axis(contributions @ self._membership, picked, axis=1)
        without = p_close[:, None] - effect
        directions = ["up"] * k + ["down"] * k
        # Plain lists once, then one dict per reason: indexing numpy arrays cell by cell costs more than the
        # whole vectorised part for a 10,000-lead request.
        table = zip(
            self._keys[picked].tolist(),
            texts,
            np.round(weight, 4).tolist(),
            np.round(100 * effect, 1).tolist(),
            np.round(without, 4).tolist(),
            valid.tolist(),
            strict=True,
        )
        return [
            [
                {"feature": key, "text": text, "direction": direction, "weight": w, "effect": e, "p_without": pw}
                for key, text, direction, w, e, pw, ok in zip(
                    keys, texts_i, directions, weights, effects_i, withouts, oks, strict=True
                )
                if ok
            ]
            for keys, texts_i, weights, effects_i, withouts, oks in table
        ]

    def _text(self, t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, down: bool) -> Any:
        return _WORDING[group.kind](t, group, at, inputs, self.columns, down)


def _rank_in(where: np.ndarray, rows: np.ndarray) -> np.ndarray:
    # Position, among `rows`, of each True cell of `where` (row-major order, as boolean indexing yields them).
    return np.repeat(np.arange(len(rows)), where[rows].sum(axis=1))


# --- wording ------------------------------------------------------------------------------------------------
#
# Each wording function reads the leads `at` through a text toolkit `t`: `_LEADS` words many leads at once
# (`at` is an array of row positions, values are numpy arrays), `_LEAD` one lead (`at` is a row position,
# values are Python floats and strings). The two toolkits do the same arithmetic, so a lead gets the same
# words either way (tests/serving/test_inputs.py checks that on random leads).


class _Text:
    """What the wording functions need; see `_Leads` and `_Lead`."""

    value: Callable[[ReasonInputs, Any, int], Any]  # one model column's values (NaN: never / missing)
    counts: Callable[[ReasonInputs, Any, Sequence[int]], Any]  # several columns, NaN read as 0
    pick: Callable[[np.ndarray, Any], Any]  # an array with one value per lead, at the leads
    category: Callable[[np.ndarray, Any], Any]  # a category text per lead ("" unknown), at the leads
    fill: Callable[[Any, str], Any]  # the same text for every lead
    false: Callable[[Any], Any]  # False for every lead
    where: Callable[[Any, Any, Any], Any]
    isnan: Callable[[Any], Any]
    isfinite: Callable[[Any], Any]
    floor: Callable[[Any], Any]
    zero_nan: Callable[[Any], Any]
    int_text: Callable[[Any], Any]  # rounded to a whole number (NaN: 0), as text
    g_text: Callable[[Any], Any]  # "%g" (NaN: 0)
    join: Callable[..., Any]
    spoken: Callable[[Any], Any]  # underscores as spaces
    is_empty: Callable[[Any], Any]
    first_positive: Callable[[Any], tuple[Any, Any]]  # per lead, the first of `counts` above 0 (else the last)
    choose: Callable[[Sequence[str], Any], Any]  # options[index] per lead


def _zero_nan(values: np.ndarray) -> np.ndarray:
    # np.nan_to_num checks its input at Python level; on one lead that costs more than the arithmetic.
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), 0.0, values)


def _join(*parts: Any) -> np.ndarray:
    out = np.asarray(parts[0], dtype=_S)
    for part in parts[1:]:
        out = np.strings.add(out, np.asarray(part, dtype=_S))
    return out


def _first_positive(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    has = counts > 0
    first = np.where(has.any(axis=1), has.argmax(axis=1), counts.shape[1] - 1)
    return first, counts[np.arange(len(counts)), first]


class _Leads(_Text):
    """Many leads at once: numpy arrays (text as StringDType)."""

    value = staticmethod(lambda inputs, rows, column: np.asarray(inputs.values[rows, column], dtype=np.float64))
    counts = staticmethod(lambda inputs, rows, columns: _zero_nan(inputs.values[rows][:, list(columns)]))
    pick = staticmethod(lambda values, rows: values[rows])
    category = staticmethod(lambda values, rows: np.asarray(values[rows], dtype=_S))
    fill = staticmethod(lambda rows, text: np.full(len(rows), text, dtype=_S))
    false = staticmethod(lambda rows: np.zeros(len(rows), dtype=bool))
    where = staticmethod(np.where)
    isnan = staticmethod(np.isnan)
    isfinite = staticmethod(np.isfinite)
    floor = staticmethod(np.floor)
    zero_nan = staticmethod(_zero_nan)
    int_text = staticmethod(lambda values: np.asarray(np.round(_zero_nan(values)).astype(np.int64).astype(_S)))
    g_text = staticmethod(lambda values: np.strings.mod(np.asarray("%g", dtype=_S), _zero_nan(values)))
    join = staticmethod(_join)
    spoken = staticmethod(lambda text: np.strings.replace(text, "_", " "))
    is_empty = staticmethod(lambda text: np.strings.str_len(text) == 0)
    first_positive = staticmethod(_first_positive)
    choose = staticmethod(lambda options, index: np.array(options, dtype=_S)[index])


def _zero_nan_one(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _first_positive_one(counts: list[float]) -> tuple[int, float]:
    first = next((j for j, count in enumerate(counts) if count > 0), len(counts) - 1)
    return first, counts[first]


class _Lead(_Text):
    """One lead: Python floats and strings. Python's round() rounds half to even, like numpy's."""

    value = staticmethod(lambda inputs, row, column: float(inputs.values[row, column]))
    counts = staticmethod(lambda inputs, row, columns: [_zero_nan_one(float(inputs.values[row, c])) for c in columns])
    pick = staticmethod(lambda values, row: float(values[row]))
    category = staticmethod(lambda values, row: str(values[row]))
    fill = staticmethod(lambda row, text: text)
    false = staticmethod(lambda row: False)
    where = staticmethod(lambda condition, yes, no: yes if condition else no)
    isnan = staticmethod(math.isnan)
    isfinite = staticmethod(math.isfinite)
    floor = staticmethod(lambda value: float(math.floor(value)))
    zero_nan = staticmethod(_zero_nan_one)
    int_text = staticmethod(lambda value: str(round(_zero_nan_one(value))))
    g_text = staticmethod(lambda value: f"{_zero_nan_one(value):g}")
    join = staticmethod(lambda *parts: "".join(parts))
    spoken = staticmethod(lambda text: text.replace("_", " "))
    is_empty = staticmethod(lambda text: len(text) == 0)
    first_positive = staticmethod(_first_positive_one)
    choose = staticmethod(lambda options, index: options[index])


_LEADS: Final = _Leads()
_LEAD: Final = _Lead()


def _ago(t: _Text, days: Any) -> Any:
    """ "today", "1 day ago", "12 days ago"."""
    whole = t.floor(t.zero_nan(days))
    return t.where(whole < 1, "today", t.where(whole < 2, "1 day ago", t.join(t.int_text(whole), " days ago")))


def _event(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    event_type = group.subject
    one, many, none = EVENT_WORDS.get(
        event_type, (f"one '{event_type}' event", f"{{n}} '{event_type}' events", f"no '{event_type}' events")
    )
    total_col = next((c for c in group.columns if columns[c].endswith("_all")), group.columns[0])
    count = t.zero_nan(t.value(inputs, at, total_col))
    last = inputs.last_days.get(event_type)
    if last is not None:
        days = t.pick(last, at)
        ago, known = _ago(t, days), t.isfinite(days)
    else:
        ago, known = t.fill(at, ""), t.false(at)
    before, after = many.split("{n}")
    several = t.join(before, t.int_text(count), after)
    several = t.where(known, t.join(several, ", last ", ago), several)
    single = t.where(known, t.join(one, " ", ago), t.fill(at, one))
    return t.where(count < 0.5, none, t.where(count < 1.5, single, several))


def _stage(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    stage = group.subject
    # The group's columns are the windows from the narrowest to "all": word each lead by its narrowest
    # window with any touch, or the all-time count if nothing is recent.
    first, count = t.first_positive(t.counts(inputs, at, group.columns))
    windows = [columns[c].rsplit("_", 1)[-1] for c in group.columns]
    labels = [" in total" if w == "all" else f" in the last {w.removesuffix('d')} days" for w in windows]
    text = t.join(t.int_text(count), f" {stage}-stage touch", t.where(count >= 1.5, "es", ""), t.choose(labels, first))
    return t.where(count < 0.5, f"no {stage}-stage touches yet", text)


def _recency(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    what, never = _RECENCY[group.subject]
    days = t.value(inputs, at, group.columns[0])
    if down:  # a shortfall: nothing that recent
        quiet = t.join(f"no {what} in the last ", t.int_text(t.floor(t.zero_nan(days))), " days")
        return t.where(t.isnan(days), never, t.where(days < 1, f"no {what} today", quiet))
    return t.where(t.isnan(days), never, t.join(f"last {what} ", _ago(t, days)))


def _first_touch(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    days = t.value(inputs, at, group.columns[0])
    first = t.join("first activity only " if down else "first activity ", _ago(t, days))
    return t.where(t.isnan(days), "no activity yet", first)


def _age(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    days = t.value(inputs, at, group.columns[0])
    return t.where(t.isnan(days), "lead creation date unknown", t.join("lead created ", _ago(t, days)))


def _assets(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    count = t.zero_nan(t.value(inputs, at, group.columns[0]))
    several = t.join("engaged with ", t.int_text(count), " different pieces of content")
    return t.where(
        count < 0.5,
        "has not engaged with any content",
        t.where(count < 1.5, "engaged with one piece of content", several),
    )


def _flag(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    one, _, none = EVENT_WORDS.get(FLAG_EVENT_TYPES.get(group.subject, ""), (group.subject, "", f"no {group.subject}"))
    return t.where(t.zero_nan(t.value(inputs, at, group.columns[0])) > 0.5, one, none)


def _categorical(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    label = group.subject.replace("_", " ")
    values = inputs.categories.get(group.subject)
    if values is None:
        return t.fill(at, f"{label} unknown")
    text = t.category(values, at)
    return t.where(t.is_empty(text), f"{label} unknown", t.join(f"{label}: ", t.spoken(text)))


def _numeric(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    label = group.subject.replace("_", " ")
    values = t.value(inputs, at, group.columns[0])
    unit = " employees" if group.subject == "company_size" else ""
    return t.where(t.isnan(values), f"{label} unknown", t.join(f"{label}: ", t.g_text(values), unit))


def _other(t: _Text, group: FeatureGroup, at: Any, inputs: ReasonInputs, columns: list[str], down: bool) -> Any:
    values = t.value(inputs, at, group.columns[0])
    return t.where(t.isnan(values), f"{group.subject}: none", t.join(f"{group.subject}: ", t.g_text(values)))


_WORDING: Final[Mapping[str, Callable[[_Text, FeatureGroup, Any, ReasonInputs, list[str], bool], Any]]] = {
    "event": _event,
    "stage": _stage,
    "recency": _recency,
    "first_touch": _first_touch,
    "age": _age,
    "assets": _assets,
    "flag": _flag,
    "categorical": _categorical,
    "numeric": _numeric,
    "other": _other,
}


class Explainer:
    """A model's predictions with their reasons: what the HTTP service, the ranked list and the report all use, so
    a lead reads the same everywhere."""

    def __init__(self, model: LeadModel) -> None:
        self.model = model
        self.writer = ReasonWriter(model.groups, model.columns)
        self.last_events = LastEvents(self.writer.event_types)

    def __call__(self, columns: LeadColumns) -> tuple[Prediction, list[list[dict[str, Any]]]]:
        prediction = self.model.predict(columns, explain=True)
        assert prediction.contributions is not None and prediction.effects is not None  # explain=True
        assert prediction.values is not None
        inputs = ReasonInputs(prediction.values, prediction.categories, self.last_events(columns))
        return prediction, self.writer.explain(prediction.contributions, prediction.effects, prediction.p_close, inputs)


class LastEvents:
    """Days since each lead's last event of each of `event_types` (before its as_of); NaN when there is none."""

    def __init__(self, event_types: Sequence[str]) -> None:
        self.event_types = list(event_types)
        self._slot = {event_type: k for k, event_type in enumerate(self.event_types)}
        self._value_set = pa.array(self.event_types, type=pa.large_string())

    def __call__(self, columns: LeadColumns) -> dict[str, np.ndarray]:
        n, t = len(columns.as_of_us), len(self.event_types)
        if t == 0:
            return {}
        types = columns.event_types
        if len(types) <= _SMALL_EVENTS:
            # A dict lookup per event: Arrow's index_in builds a hash table of the types on every call.
            slot = np.array([self._slot.get(x, -1) for x in types.to_pylist()], dtype=np.int64)
        else:
            found = pc.index_in(types, value_set=self._value_set.cast(types.type)).fill_null(-1)
            slot = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
        lead = columns.event_lead
        age = columns.as_of_us[lead] - columns.event_ts_us
        keep = (slot >= 0) & (age > 0)
        youngest = np.full(n * t, _INT64_MAX, dtype=np.int64)
        np.minimum.at(youngest, lead[keep] * t + slot[keep], age[keep])
        days = np.where(youngest == _INT64_MAX, np.nan, youngest / _US_PER_DAY).reshape(n, t)
        return {event_type: days[:, k] for k, event_type in enumerate(self.event_types)}
