"""Reasons for people: the features that pushed a lead's score up or down most, phrased as a sales rep would.

LightGBM gives, for every prediction, each feature's additive share of the score in log-odds. Several features
describe one fact about a lead (demo requests counted over 7, 30, 90 days and all time, plus the "asked for a
demo" flag), so the shares are first summed per fact (a *group*: an event type, a funnel stage, a recency, an
attribute); SHAP-style contributions add up, so a group's share is exact. The 3 largest positive and the 3
largest negative groups of each lead become its reasons.

The text of a group is built for all the leads that need it at once with numpy string operations, so the cost
is a few array operations per group, not a formatting call per lead.
"""

from __future__ import annotations

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
        texts = np.full(picked.shape, "", dtype=_S)
        for g in np.unique(picked[valid]):
            where = valid & (picked == g)
            rows = np.flatnonzero(where.any(axis=1))
            texts[where] = self._text(self.groups[g], rows, inputs)[_rank_in(where, rows)]
        directions = ["up"] * k + ["down"] * k
        # Plain lists once, then one dict per reason: indexing numpy arrays cell by cell costs more than the
        # whole vectorised part for a 10,000-lead request.
        table = zip(
            self._keys[picked].tolist(), texts.tolist(), np.round(weight, 4).tolist(), valid.tolist(), strict=True
        )
        return [
            [
                {"feature": key, "text": text, "direction": direction, "weight": w}
                for key, text, direction, w, ok in zip(keys, texts_i, directions, weights, oks, strict=True)
                if ok
            ]
            for keys, texts_i, weights, oks in table
        ]

    def _text(self, group: Group, rows: np.ndarray, inputs: ReasonInputs) -> np.ndarray:
        return _WORDING[group.kind](group, rows, inputs, self.columns)


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


def _zero_nan(values: np.ndarray) -> np.ndarray:
    # np.nan_to_num checks its input at Python level; on one lead that costs more than the arithmetic.
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), 0.0, values)


def _int_text(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.round(_zero_nan(values)).astype(np.int64).astype(_S))


def _join(*parts: Any) -> np.ndarray:
    out = np.asarray(parts[0], dtype=_S)
    for part in parts[1:]:
        out = np.strings.add(out, np.asarray(part, dtype=_S))
    return out


def _ago(days: np.ndarray) -> np.ndarray:
    """ "today", "1 day ago", "12 days ago"."""
    whole = np.floor(_zero_nan(days))
    return np.where(whole < 1, "today", np.where(whole < 2, "1 day ago", _join(_int_text(whole), " days ago")))


def _value(group: Group, rows: np.ndarray, inputs: ReasonInputs) -> np.ndarray:
    return np.asarray(inputs.values[rows][:, group.columns[0]], dtype=np.float64)


def _event(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    event_type = group.subject
    one, many, none = EVENT_WORDS.get(
        event_type, (f"one '{event_type}' event", f"{{n}} '{event_type}' events", f"no '{event_type}' events")
    )
    total_col = next((c for c in group.columns if columns[c].endswith("_all")), group.columns[0])
    count = _zero_nan(inputs.values[rows][:, total_col])
    last = inputs.last_days.get(event_type)
    ago = _ago(last[rows]) if last is not None else np.full(len(rows), "", dtype=_S)
    known = np.isfinite(last[rows]) if last is not None else np.zeros(len(rows), dtype=bool)
    before, after = many.split("{n}")
    several = _join(before, _int_text(count), after)
    several = np.where(known, _join(several, ", last ", ago), several)
    single = np.where(known, _join(one, " ", ago), np.asarray(one, dtype=_S))
    return np.where(count < 0.5, none, np.where(count < 1.5, single, several))


def _stage(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    stage = group.subject
    # The group's columns are the windows from the narrowest to "all": word each lead by its narrowest
    # window with any touch, or the all-time count if nothing is recent.
    values = _zero_nan(inputs.values[rows][:, list(group.columns)])
    has = values > 0
    first = np.where(has.any(axis=1), has.argmax(axis=1), values.shape[1] - 1)
    count = values[np.arange(len(rows)), first]
    windows = [columns[c].rsplit("_", 1)[-1] for c in group.columns]
    labels = np.array(
        [" in total" if w == "all" else f" in the last {w.removesuffix('d')} days" for w in windows], dtype=_S
    )
    text = _join(_int_text(count), f" {stage}-stage touch", np.where(count >= 1.5, "es", ""), labels[first])
    return np.where(count < 0.5, f"no {stage}-stage touches yet", text)


def _recency(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    what, never = _RECENCY[group.subject]
    days = _value(group, rows, inputs)
    quiet = _join(f"no {what} for ", _int_text(np.floor(_zero_nan(days))), " days")
    recent = _join(f"last {what} ", _ago(days))
    return np.where(np.isnan(days), never, np.where(days >= QUIET_DAYS, quiet, recent))


def _first_touch(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    days = _value(group, rows, inputs)
    return np.where(np.isnan(days), "no activity yet", _join("first activity ", _ago(days)))


def _age(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    days = _value(group, rows, inputs)
    return np.where(np.isnan(days), "lead creation date unknown", _join("lead created ", _ago(days)))


def _assets(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    count = _zero_nan(_value(group, rows, inputs))
    several = _join("engaged with ", _int_text(count), " different pieces of content")
    return np.where(
        count < 0.5,
        "has not engaged with any content",
        np.where(count < 1.5, "engaged with one piece of content", several),
    )


def _flag(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    one, _, none = EVENT_WORDS.get(FLAGS.get(group.subject, ""), (group.subject, "", f"no {group.subject}"))
    return np.where(_zero_nan(_value(group, rows, inputs)) > 0.5, one, none)


def _categorical(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    label = group.subject.replace("_", " ")
    values = inputs.categories.get(group.subject)
    if values is None:
        return np.full(len(rows), f"{label} unknown", dtype=_S)
    text = np.asarray(values[rows], dtype=_S)
    spoken = np.strings.replace(text, "_", " ")
    return np.where(np.strings.str_len(text) == 0, f"{label} unknown", _join(f"{label}: ", spoken))


def _numeric(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    label = group.subject.replace("_", " ")
    values = _value(group, rows, inputs)
    shown = np.strings.mod(np.asarray("%g", dtype=_S), _zero_nan(values))
    unit = " employees" if group.subject == "company_size" else ""
    return np.where(np.isnan(values), f"{label} unknown", _join(f"{label}: ", shown, unit))


def _other(group: Group, rows: np.ndarray, inputs: ReasonInputs, columns: list[str]) -> np.ndarray:
    values = _value(group, rows, inputs)
    shown = np.strings.mod(np.asarray("%g", dtype=_S), _zero_nan(values))
    return np.where(np.isnan(values), f"{group.subject}: none", _join(f"{group.subject}: ", shown))


_WORDING: Final[Mapping[str, Callable[[Group, np.ndarray, ReasonInputs, list[str]], np.ndarray]]] = {
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
