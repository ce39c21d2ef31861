"""Reasons for people: the features that pushed a lead's score up or down most, phrased as a sales rep would.

LightGBM gives, for every prediction, each feature's additive share of the score in log-odds. Several features
describe one fact about a lead (demo requests counted over 7, 30, 90 days and all time, plus the "asked for a
demo" flag), so the shares are first summed per fact (a *group*: an event type, a funnel stage, a recency, an
attribute); SHAP-style contributions add up, so a group's share is exact. The 3 largest positive and the 3
largest negative groups of each lead become its reasons.

The text of a group is built for all the leads that need it at once with numpy string operations, so the cost
is a few array operations per group, not a formatting call per lead. A request of a few leads is worded lead by
lead with plain Python strings instead: there, numpy's fixed cost per call would be most of the time. Both go
through the same wording functions (see `_Leads` and `_Lead`), so they cannot say different things.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.dtypes import StringDType

from features.schema import CATEGORICAL, FeatureSchema

TOP: Final = 3
# A share smaller than this (log-odds) is noise, not a reason.
MIN_WEIGHT: Final = 1e-3
# Recency beyond this many days reads better as "no activity for N days" than "last activity N days ago".
QUIET_DAYS: Final = 30
# Up to this many leads, reasons are worded lead by lead in plain Python (see the module doc).
ONE_BY_ONE: Final = 16

_S: Final = StringDType()

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
# Flag features and the event type they stand for.
FLAGS: Final[Mapping[str, str]] = {
    "demo_requested": "demo_request",
    "trial_requested": "trial_request",
    "webinar_attended": "webinar_attended",
}
_RECENCY: Final[Mapping[str, tuple[str, str]]] = {
    # feature -> (what, wording when it never happened)
    "days_since_last_event": ("activity", "no activity yet"),
    "days_since_last_decision_event": ("decision-stage activity", "no decision-stage activity yet"),
}


@dataclass(frozen=True)
class Group:
    """Features that describe one fact about a lead, and how to put that fact in words."""

    key: str
    kind: str  # event, stage, recency, first_touch, age, assets, flag, categorical, numeric, other
    columns: tuple[int, ...]  # positions in the model's columns
    subject: str = ""  # event type, stage name, attribute column or feature name


@dataclass(frozen=True)
class ReasonInputs:
    """What the wording needs besides the contributions, one row per lead (same order)."""

    values: np.ndarray  # leads x model columns: feature values before "never" is filled in (NaN = never)
    categories: Mapping[str, np.ndarray]  # categorical column -> value per lead as text ("" when unknown)
    last_days: Mapping[str, np.ndarray]  # event type -> days since the lead's last such event (NaN: none)


class ReasonWriter:
    """Turns per-prediction contributions into reasons; built once per model."""

    def __init__(self, columns: Sequence[str], schema: FeatureSchema) -> None:
        self.columns = list(columns)
        self.groups = _groups(self.columns, schema)
        membership = np.zeros((len(self.columns), len(self.groups)))
        for g, group in enumerate(self.groups):
            membership[list(group.columns), g] = 1.0
        self._membership = membership
        self._keys = np.array([g.key for g in self.groups], dtype=object)

    @property
    def event_types(self) -> list[str]:
        """Event types whose last occurrence the wording uses."""
        return [g.subject for g in self.groups if g.kind == "event"]

    def explain(self, contributions: np.ndarray, inputs: ReasonInputs, top: int = TOP) -> list[list[dict[str, Any]]]:
        """Reasons per lead: up to `top` pushing up (largest first), then up to `top` pushing down."""
        n = contributions.shape[0]
        if n == 0:
            return []
        shares = contributions @ self._membership  # leads x groups
        k = min(top, shares.shape[1])
        order = np.argsort(-shares, axis=1, kind="stable")
        up = order[:, :k]
        down = order[:, ::-1][:, :k]
        picked = np.concatenate([up, down], axis=1)
        weight = np.take_along_axis(shares, picked, axis=1)
        valid = np.concatenate([weight[:, :k] > MIN_WEIGHT, weight[:, k:] < -MIN_WEIGHT], axis=1)
        texts: list[list[str]]
        if n <= ONE_BY_ONE:
            texts = [
                [self._text(_LEAD, self.groups[g], i, inputs) if ok else "" for g, ok in zip(gs, oks, strict=True)]
                for i, (gs, oks) in enumerate(zip(picked.tolist(), valid.tolist(), strict=True))
            ]
        else:
            cells = np.full(picked.shape, "", dtype=_S)
            for g in np.unique(picked[valid]):
                where = valid & (picked == g)
                rows = np.flatnonzero(where.any(axis=1))
                cells[where] = self._text(_LEADS, self.groups[g], rows, inputs)[_rank_in(where, rows)]
            texts = cells.tolist()
        directions = ["up"] * k + ["down"] * k
        # Plain lists once, then one dict per reason: indexing numpy arrays cell by cell costs more than the
        # whole vectorised part for a 10,000-lead request.
        table = zip(self._keys[picked].tolist(), texts, np.round(weight, 4).tolist(), valid.tolist(), strict=True)
        return [
            [
                {"feature": key, "text": text, "direction": direction, "weight": w}
                for key, text, direction, w, ok in zip(keys, texts_i, directions, weights, oks, strict=True)
                if ok
            ]
            for keys, texts_i, weights, oks in table
        ]

    def _text(self, t: _Text, group: Group, at: Any, inputs: ReasonInputs) -> Any:
        return _WORDING[group.kind](t, group, at, inputs, self.columns)


def _rank_in(where: np.ndarray, rows: np.ndarray) -> np.ndarray:
    # Position, among `rows`, of each True cell of `where` (row-major order, as boolean indexing yields them).
    return np.repeat(np.arange(len(rows)), where[rows].sum(axis=1))


# --- groups -------------------------------------------------------------------------------------------------


def _groups(columns: list[str], schema: FeatureSchema) -> list[Group]:
    """Group the model's columns by the fact they describe; a column that fits nowhere is its own group."""
    position = {name: i for i, name in enumerate(columns)}
    suffixes = [f"{w}d" for w in schema.windows] + ["all"]
    taken: set[int] = set()
    groups: list[Group] = []

    def add(key: str, kind: str, names: Sequence[str], subject: str = "") -> None:
        cols = tuple(position[name] for name in names if name in position and position[name] not in taken)
        if cols:
            taken.update(cols)
            groups.append(Group(key, kind, cols, subject or key))

    # The schema lists windowed counts per event type in stage-map order, one column per window and "all".
    event_types = list(schema.stage_map)
    per_type = len(suffixes)
    names = list(schema.feature_names)
    for t, event_type in enumerate(event_types):
        block = names[t * per_type : (t + 1) * per_type]
        if len(block) == per_type and all(
            name.startswith("n_") and name.endswith(f"_{s}") for name, s in zip(block, suffixes, strict=True)
        ):
            flags = [flag for flag, flagged in FLAGS.items() if flagged == event_type]
            add(event_type, "event", [*block, *flags], event_type)
    for stage in ("early", "middle", "decision", "other"):
        add(f"stage_{stage}", "stage", [f"n_stage_{stage}_{s}" for s in suffixes], stage)
    for name in _RECENCY:
        add(name, "recency", [name])
    add("days_since_first_event", "first_touch", ["days_since_first_event"])
    add("lead_age_days", "age", ["lead_age_days"])
    add("n_distinct_assets", "assets", ["n_distinct_assets"])
    for flag in FLAGS:
        add(flag, "flag", [flag])
    for spec in schema.attributes:
        kind = "categorical" if spec.kind == CATEGORICAL else "numeric"
        add(spec.column, kind, [spec.feature], spec.column)
    for i, name in enumerate(columns):
        if i not in taken:
            add(name, "other", [name])
    return groups


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


def _event(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
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


def _stage(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    stage = group.subject
    # The group's columns are the windows from the narrowest to "all": word each lead by its narrowest
    # window with any touch, or the all-time count if nothing is recent.
    first, count = t.first_positive(t.counts(inputs, at, group.columns))
    windows = [columns[c].rsplit("_", 1)[-1] for c in group.columns]
    labels = [" in total" if w == "all" else f" in the last {w.removesuffix('d')} days" for w in windows]
    text = t.join(t.int_text(count), f" {stage}-stage touch", t.where(count >= 1.5, "es", ""), t.choose(labels, first))
    return t.where(count < 0.5, f"no {stage}-stage touches yet", text)


def _recency(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    what, never = _RECENCY[group.subject]
    days = t.value(inputs, at, group.columns[0])
    quiet = t.join(f"no {what} for ", t.int_text(t.floor(t.zero_nan(days))), " days")
    recent = t.join(f"last {what} ", _ago(t, days))
    return t.where(t.isnan(days), never, t.where(days >= QUIET_DAYS, quiet, recent))


def _first_touch(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    days = t.value(inputs, at, group.columns[0])
    return t.where(t.isnan(days), "no activity yet", t.join("first activity ", _ago(t, days)))


def _age(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    days = t.value(inputs, at, group.columns[0])
    return t.where(t.isnan(days), "lead creation date unknown", t.join("lead created ", _ago(t, days)))


def _assets(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    count = t.zero_nan(t.value(inputs, at, group.columns[0]))
    several = t.join("engaged with ", t.int_text(count), " different pieces of content")
    return t.where(
        count < 0.5,
        "has not engaged with any content",
        t.where(count < 1.5, "engaged with one piece of content", several),
    )


def _flag(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    one, _, none = EVENT_WORDS.get(FLAGS.get(group.subject, ""), (group.subject, "", f"no {group.subject}"))
    return t.where(t.zero_nan(t.value(inputs, at, group.columns[0])) > 0.5, one, none)


def _categorical(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    label = group.subject.replace("_", " ")
    values = inputs.categories.get(group.subject)
    if values is None:
        return t.fill(at, f"{label} unknown")
    text = t.category(values, at)
    return t.where(t.is_empty(text), f"{label} unknown", t.join(f"{label}: ", t.spoken(text)))


def _numeric(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    label = group.subject.replace("_", " ")
    values = t.value(inputs, at, group.columns[0])
    unit = " employees" if group.subject == "company_size" else ""
    return t.where(t.isnan(values), f"{label} unknown", t.join(f"{label}: ", t.g_text(values), unit))


def _other(t: _Text, group: Group, at: Any, inputs: ReasonInputs, columns: list[str]) -> Any:
    values = t.value(inputs, at, group.columns[0])
    return t.where(t.isnan(values), f"{group.subject}: none", t.join(f"{group.subject}: ", t.g_text(values)))


_WORDING: Final[Mapping[str, Callable[[_Text, Group, Any, ReasonInputs, list[str]], Any]]] = {
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
