"""Map a foreign CRM export onto the canonical contract with a TOML dataset spec.

A spec names, for one exported table (CSV, Excel or Parquet), which column is the lead id, the target and which
of its values mean won and lost, the creation, decision, close and scoring times (or that rows are already
chronological), the lead source, the attribute columns, the leaky or personal columns to drop and the extra
spellings of "missing"; and for an optional activity table, which activity type means which engagement.
`load_dataset` reads the files, checks every statement of the spec against the data and returns a `LeadBatch` in
the canonical shape plus what later stages need to know about it (how it can be split in time, which attributes
are categorical or numeric, the stage map of the activity types, likely leaks).

Every problem found is collected and reported together in one `SpecError`, each naming the spec key and the
column, so that a user fixes the spec in one pass instead of one traceback at a time. Holes in the times are not
problems: a won or lost row without the time training splits by is left out and counted, an open row without one
is kept (it is scored as of the ranking time).

Unlike the canonical loader, a spec dataset does not require `closed_at` for closed leads: most exports carry no
close date (or no time at all), so `closed_at` is NaT unless the spec names a close-time column.
"""

from __future__ import annotations

import difflib
import logging
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from features.contract import (
    AS_OF,
    ASSET,
    CLOSED_AT,
    CREATED_AT,
    DEAL_VALUE,
    DECIDED_AT,
    EVENT_LEAD_ID,
    EVENT_TYPE,
    LEAD_ID,
    LOST,
    OUTCOME,
    RESERVED_COLUMNS,
    SALES_HOURS,
    SOURCE,
    TIMESTAMP_DTYPE,
    TS,
    WON,
    LeadBatch,
    empty_events,
)
from features.parsing import as_text, decode_bytes, parse_numbers, parse_timestamps
from features.schema import STAGES

__all__ = [
    "DatasetSpec",
    "EventsSpec",
    "LeadsSpec",
    "OpenLeads",
    "Ordering",
    "SpecDataset",
    "SpecError",
    "load_dataset",
    "load_open_leads",
    "load_open_leads_of_spec",
    "load_spec",
]

logger = logging.getLogger(__name__)

Ordering = Literal["time", "row", "none"]

ROW_ORDER: Final = "row_order"
UNKNOWN_SOURCE: Final = "unknown"

# Spellings accepted for the target, compared after strip + lower-case. "1.0"/"0.0" because a float column
# written by a spreadsheet or by pandas (once it held a blank) comes out that way.
_WON_FORMS: Final = frozenset({"1", "1.0", "true", "yes", "won"})
_LOST_FORMS: Final = frozenset({"0", "0.0", "false", "no", "lost"})

# Output columns an attribute must not shadow: an attribute named like one would silently take its role.
_RESERVED: Final = RESERVED_COLUMNS | {ROW_ORDER}

_PARQUET_SUFFIXES: Final = (".parquet", ".pq")
_EXCEL_SUFFIXES: Final = (".xlsx", ".xlsm")
_CSV_SUFFIXES: Final = (".csv", ".tsv", ".txt")
_COMPRESSION_SUFFIXES: Final = (".gz", ".bz2", ".zip", ".xz", ".zst")

# A categorical attribute with at least this share of distinct values is more likely an identifier or personal
# data (email, phone, name) than a feature; it is kept, but the user is told.
_ID_LIKE_SHARE: Final = 0.5
_ID_LIKE_MIN_ROWS: Final = 50

ColumnName = Annotated[str, Field(min_length=1)]
# CSV encodings an export is likely to be in: UTF-8 (with or without the byte-order mark Excel writes) and the
# Windows / ISO Western European code pages of older CRMs and of Excel's "CSV" on Windows.
Encoding = Literal["utf-8", "utf-8-sig", "cp1252", "latin-1"]


class SpecError(ValueError):
    """A dataset spec (or the data it describes) has problems; `problems` lists each one on its own."""

    def __init__(self, problems: Sequence[str], where: str | Path | None = None) -> None:
        self.problems = list(problems)
        self.where = None if where is None else str(where)
        n = len(self.problems)
        head = f"{self.where}: " if self.where else ""
        head += f"{n} problem{'s' if n != 1 else ''} in the dataset spec:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeadsSpec(_Strict):
    """The `[leads]` table: how the exported lead table maps onto the canonical `leads` columns."""

    path: ColumnName = Field(description="CSV, Excel (.xlsx) or Parquet file, relative to the spec file.")
    sep: str | None = Field(default=None, min_length=1, description="CSV field separator (default ',').")
    encoding: Encoding | None = Field(default=None, description="CSV text encoding (default utf-8).")
    sheet: ColumnName | None = Field(default=None, description="Excel sheet name (default: the first sheet).")
    id: ColumnName | None = Field(default=None, description="Lead id column; absent: the 1-based row number.")
    target: ColumnName | None = Field(default=None, description="Won/lost column; empty cells are open leads.")
    won: list[str] | None = Field(default=None, min_length=1, description="Target values meaning won.")
    lost: list[str] | None = Field(default=None, min_length=1, description="Target values meaning lost.")
    created_at: ColumnName | None = Field(default=None, description="Creation time column.")
    decided_at: ColumnName | None = Field(default=None, description="Decision (handoff) time column.")
    closed_at: ColumnName | None = Field(default=None, description="Close time column of won and lost leads.")
    as_of: ColumnName | None = Field(default=None, description="Time an open lead is scored at.")
    order: Literal["row"] | None = Field(default=None, description='"row": rows are in chronological order.')
    source: ColumnName | None = Field(default=None, description="Lead source column; absent: 'unknown'.")
    categorical: list[ColumnName] | None = Field(default=None, description="Categorical attributes.")
    numeric: list[ColumnName] | None = Field(default=None, description="Numeric attributes.")
    exclude: list[ColumnName] = Field(default_factory=list, description="Columns never used.")
    missing: list[str] = Field(default_factory=list, description="Extra strings that mean missing.")
    effort: ColumnName | None = Field(default=None, description="Selling hours spent on the lead.")
    value: ColumnName | None = Field(default=None, description="Deal value.")

    def roles(self) -> list[tuple[str, str]]:
        """(spec key, column) for every column the spec names, in the order of the keys."""
        single = [
            ("id", self.id),
            ("target", self.target),
            ("created_at", self.created_at),
            ("decided_at", self.decided_at),
            ("closed_at", self.closed_at),
            ("as_of", self.as_of),
            ("source", self.source),
            ("effort", self.effort),
            ("value", self.value),
        ]
        out = [(key, col) for key, col in single if col is not None]
        for key, cols in (
            ("categorical", self.categorical),
            ("numeric", self.numeric),
            ("exclude", self.exclude),
        ):
            out.extend((key, col) for col in cols or ())
        return out


class EventsSpec(_Strict):
    """The optional `[events]` table: one row a touch (page visit, email click, call...) of a lead."""

    path: ColumnName = Field(description="CSV, Excel (.xlsx) or Parquet file, relative to the spec file.")
    sep: str | None = Field(default=None, min_length=1, description="CSV field separator (default ',').")
    encoding: Encoding | None = Field(default=None, description="CSV text encoding (default utf-8).")
    sheet: ColumnName | None = Field(default=None, description="Excel sheet name (default: the first sheet).")
    lead_id: ColumnName = Field(default=EVENT_LEAD_ID, description="Column holding the lead id.")
    ts: ColumnName = Field(default=TS, description="Timestamp column.")
    type: ColumnName = Field(default=EVENT_TYPE, description="Event type column.")
    asset: ColumnName | None = Field(default=None, description="Optional asset column (document, page...).")
    missing: list[str] = Field(default_factory=list, description="Extra strings that mean missing.")
    types: dict[str, str] | None = Field(
        default=None, description="Export activity type -> canonical event type or funnel stage."
    )

    def roles(self) -> list[tuple[str, str]]:
        out = [("lead_id", self.lead_id), ("ts", self.ts), ("type", self.type)]
        if self.asset is not None:
            out.append(("asset", self.asset))
        return out


class DatasetSpec(_Strict):
    """A parsed dataset spec. Relative paths resolve against `base_dir` (the spec file's folder)."""

    leads: LeadsSpec
    events: EventsSpec | None = None

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def with_base_dir(self, base_dir: str | Path) -> DatasetSpec:
        """A copy whose relative paths resolve against `base_dir`."""
        copy = self.model_copy()
        copy._base_dir = Path(base_dir)
        return copy

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self._base_dir / p


@dataclass(frozen=True)
class SpecDataset:
    """A foreign export mapped onto the canonical contract, with what later stages need to know about it.

    `ordering` says how training may split in time: "time" (by `created_at`), "row" (by the `row_order` column
    in `batch.leads`; `created_at` is NaT) or "none" (no time at all: a stratified random split).
    `categorical` and `numeric` are the attribute columns of `batch.leads`, in file order.
    """

    batch: LeadBatch
    ordering: Ordering
    categorical: list[str]
    numeric: list[str]
    has_effort: bool
    has_value: bool
    notes: list[str] = field(default_factory=list)
    # Worth acting on before training: attributes that look like leaks (named, with their AUC).
    warnings: list[str] = field(default_factory=list)
    # The stage map to build engagement features with: the canonical one plus the export's activity types
    # that `[events.types]` maps onto a funnel stage; None when there are none.
    stage_map: dict[str, str] | None = None
    left_out: int = 0  # won/lost rows without the time training splits by: not in `batch`
    open_without_time: int = 0  # open rows without a decision time


# ----------------------------------------------------------------------------------------------------
# Parsing the spec file


def load_spec(path: str | Path) -> DatasetSpec:
    """Read and validate a TOML dataset spec; raise `SpecError` listing every problem in the file itself.

    Problems that need the data (unknown columns, bad values) are found by `load_dataset`.
    """
    spec, problems = _parse_spec(Path(path))
    if problems or spec is None:
        raise SpecError(problems, path)
    return spec


def _parse_spec(spec_path: Path) -> tuple[DatasetSpec | None, list[str]]:
    """The spec and the problems found in it.

    When the only problems are bad keys or values, the spec is still returned without them, so that
    `load_dataset` can go on to report the problems in the data in the same error.
    """
    try:
        raw_bytes = spec_path.read_bytes()
    except FileNotFoundError:
        return None, [f"spec file not found: {spec_path}"]
    except IsADirectoryError:
        return None, [f"spec path is a directory, not a TOML file: {spec_path}"]
    except OSError as exc:
        return None, [f"cannot read spec file: {exc}"]
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, [f"spec file is not UTF-8 text (byte {exc.start})"]
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line N, column M)".
        return None, [f"TOML syntax error: {exc}"]
    problems: list[str] = []
    spec: DatasetSpec | None
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_validation_problems(exc, raw))
        spec = _without_bad_keys(raw, exc)
    if spec is None:
        return None, problems
    problems.extend(_static_problems(spec))
    return spec.with_base_dir(spec_path.resolve().parent), problems


def _without_bad_keys(raw: dict[str, Any], exc: ValidationError) -> DatasetSpec | None:
    """The spec validated again with every offending key left out; None when that is still not a spec."""
    cleaned = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) == 1:
            cleaned.pop(str(loc[0]), None)
        elif isinstance(cleaned.get(str(loc[0])), dict):
            cleaned[str(loc[0])].pop(str(loc[1]), None)
    try:
        return DatasetSpec.model_validate(cleaned)
    except ValidationError:
        return None


_TABLE_MODELS: Final[dict[str, type[BaseModel]]] = {"leads": LeadsSpec, "events": EventsSpec}


def _validation_problems(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for err in exc.errors():
        loc = err["loc"]
        table = str(loc[0]) if loc else ""
        rest = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc[1:]))
        where = f"[{table}] {rest}" if rest else f"[{table}]"
        kind = err["type"]
        if kind == "extra_forbidden":
            if len(loc) == 1:
                hint = _suggest(table, _TABLE_MODELS)
                problems.append(f"unknown table or top-level key '{table}'{hint}; expected [leads] and [events]")
            else:
                model = _TABLE_MODELS.get(table)
                hint = _suggest(str(loc[-1]), model.model_fields if model else ())
                problems.append(f"unknown key {where}{hint}")
        elif kind == "missing":
            if len(loc) == 1:
                problems.append(f"missing table [{table}] (it names the lead file and its columns)")
            else:
                problems.append(f"{where}: required key is missing")
        elif kind == "model_type" and len(loc) == 1:
            problems.append(f"[{table}] must be a table, got {type(raw.get(table)).__name__}")
        elif kind == "literal_error" and loc[-1] == "order":
            problems.append(f'{where}: the only accepted value is "row" (got {err["input"]!r})')
        else:
            problems.append(f"{where}: {err['msg']} (got {err['input']!r})")
    return problems


def _suggest(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when `name` is close to one of `choices`; a case difference counts as close."""
    options = [str(c) for c in choices]
    by_lower = {c.lower(): c for c in options}
    if name.lower() in by_lower and by_lower[name.lower()] != name:
        return f" (did you mean '{by_lower[name.lower()]}'?)"
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.6)
    # difflib misses abbreviations ("sep" for "separator"): a shared prefix of 3+ characters is a hint too.
    low = name.lower()
    close += [
        c
        for c in options
        if c not in close and len(c) >= 3 and len(low) >= 3 and (low.startswith(c.lower()) or c.lower().startswith(low))
    ]
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def _static_problems(spec: DatasetSpec) -> list[str]:
    """Problems visible in the spec alone, without reading any data."""
    problems: list[str] = []
    leads = spec.leads
    for key in ("created_at", "decided_at"):
        col = getattr(leads, key)
        if col is not None and leads.order is not None:
            problems.append(
                f"[leads] {key} / order: give either a time column ({key} = '{col}') or "
                'order = "row" for chronological rows, not both'
            )
    problems.extend(_outcome_map_problems(leads))
    problems.extend(_duplicate_roles("leads", leads.roles()))
    problems.extend(_sheet_problems("leads", leads.path, leads.sheet))
    if spec.events is not None:
        problems.extend(_duplicate_roles("events", spec.events.roles()))
        problems.extend(_sheet_problems("events", spec.events.path, spec.events.sheet))
        problems.extend(_event_type_problems(spec.events))
        if leads.id is None:
            problems.append(
                "[leads] id: required when an [events] table is given, so that events can be joined to leads"
            )
    return problems


def _outcome_map_problems(leads: LeadsSpec) -> list[str]:
    problems: list[str] = []
    if leads.won is None and leads.lost is None:
        return problems
    if leads.target is None:
        problems.append(
            "[leads] won / lost: they say which values of the target column mean won and lost; name that "
            "column with target = '...'"
        )
    if (leads.won is None) != (leads.lost is None):
        given, absent = ("won", "lost") if leads.won is not None else ("lost", "won")
        problems.append(
            f"[leads] {absent}: required with {given}: list the values of the target column that mean {absent} "
            "(every other value is an open lead)"
        )
    won = {v.strip().lower() for v in leads.won or ()}
    for value in leads.lost or ():
        if value.strip().lower() in won:
            problems.append(f"[leads] won / lost: value {value!r} is listed under both (values match in any case)")
    for key, values in (("won", leads.won), ("lost", leads.lost)):
        if any(not v.strip() for v in values or ()):
            problems.append(f"[leads] {key}: an empty value cannot mean {key} (an empty cell is an open lead)")
    return problems


def _sheet_problems(table: str, path: str, sheet: str | None) -> list[str]:
    if sheet is None or _file_kind(Path(path)) == "excel":
        return []
    return [f"[{table}] sheet: only Excel (.xlsx) files have sheets, and '{Path(path).name}' is not one"]


def _event_type_problems(es: EventsSpec) -> list[str]:
    """`[events.types]`: every export type maps onto a canonical event type or a funnel stage, once."""
    from features.engagement import DEFAULT_STAGE_MAP

    problems: list[str] = []
    seen: dict[str, str] = {}
    for export_type, target in (es.types or {}).items():
        key = export_type.strip().lower()
        if not key:
            problems.append("[events.types]: an empty activity type cannot be mapped")
            continue
        if key in seen:
            problems.append(
                f"[events.types] '{export_type}': listed twice with '{seen[key]}' (types match in any case)"
            )
        seen[key] = export_type
        if target not in DEFAULT_STAGE_MAP and target not in STAGES:
            hint = _suggest(target, [*DEFAULT_STAGE_MAP, *STAGES])
            problems.append(
                f"[events.types] '{export_type}': {target!r} is neither a canonical event type nor a funnel stage"
                f"{hint}; event types: {', '.join(DEFAULT_STAGE_MAP)}; stages: {', '.join(STAGES)}"
            )
    return problems


def _duplicate_roles(table: str, roles: list[tuple[str, str]]) -> list[str]:
    keys_by_column: dict[str, list[str]] = {}
    for key, col in roles:
        keys_by_column.setdefault(col, []).append(key)
    problems = []
    for col, keys in keys_by_column.items():
        if len(keys) == 1:
            continue
        distinct = list(dict.fromkeys(keys))
        if len(distinct) == 1:
            problems.append(f"[{table}] {keys[0]}: column '{col}' is listed {len(keys)} times")
        else:
            problems.append(
                f"[{table}] {' / '.join(distinct)}: column '{col}' is listed under each of these keys; give it one role"
            )
    return problems


# ----------------------------------------------------------------------------------------------------
# Loading the data


def load_dataset(spec_or_path: DatasetSpec | str | Path) -> SpecDataset:
    """Read the export a spec describes and map it onto the canonical contract.

    Raises `SpecError` listing every problem found: in the spec, the files, the columns and the values.
    """
    spec, where, problems = _spec_and_problems(spec_or_path)
    return _load(spec, where, problems, for_ranking=False)


def _spec_and_problems(spec_or_path: DatasetSpec | str | Path) -> tuple[DatasetSpec, Path | None, list[str]]:
    if isinstance(spec_or_path, DatasetSpec):
        return spec_or_path, None, _static_problems(spec_or_path)
    where = Path(spec_or_path)
    parsed, problems = _parse_spec(where)
    if parsed is None:
        raise SpecError(problems, where)
    return parsed, where, problems


def _load(spec: DatasetSpec, where: Path | None, problems: list[str], *, for_ranking: bool) -> SpecDataset:
    notes: list[str] = []
    ls = spec.leads

    text_roles = [
        c for c in (ls.id, ls.target, ls.created_at, ls.decided_at, ls.closed_at, ls.as_of, ls.source) if c is not None
    ]
    text_roles += list(ls.categorical or ())
    leads_raw = _read_table(
        "leads",
        spec.resolve(ls.path),
        _ReadOptions(ls.sep, ls.encoding, ls.sheet, ls.missing),
        text_roles,
        problems,
        notes,
    )

    events_raw = None
    if spec.events is not None:
        es = spec.events
        events_raw = _read_table(
            "events",
            spec.resolve(es.path),
            _ReadOptions(es.sep, es.encoding, es.sheet, es.missing),
            [es.lead_id, es.type],
            problems,
            notes,
        )

    built: _BuiltLeads | None = None
    if leads_raw is not None:
        built = _build_leads(ls, leads_raw, problems, notes, target_optional=for_ranking)
    built_events: _BuiltEvents | None = None
    if spec.events is not None and events_raw is not None:
        built_events = _build_events(spec.events, events_raw, problems, notes)

    if problems or built is None:
        raise SpecError(problems, where)

    stage_map: dict[str, str] | None = None
    if built_events is None:
        events = empty_events()
    else:
        events = built_events.events
        if built_events.stage_map:
            from features.engagement import DEFAULT_STAGE_MAP

            stage_map = {**DEFAULT_STAGE_MAP, **built_events.stage_map}
        known = events[EVENT_LEAD_ID].isin(built.leads[LEAD_ID])
        if not known.all():
            of_left_out = events[EVENT_LEAD_ID].isin(built.left_out_ids)
            unknown = int((~known & ~of_left_out).sum())
            if unknown:
                notes.append(f"events dropped because their lead id is not in the leads file: {unknown}")
            if of_left_out.any():
                notes.append(f"events of the won/lost rows left out, dropped with them: {int(of_left_out.sum())}")
            events = events.loc[known].reset_index(drop=True)
        if built.ordering != "time":
            notes.append(
                "events are given but leads have no time column: the decision time is unknown, so event "
                "features cannot be cut at a point in time"
            )
        else:
            at = "decided_at" if ls.decided_at is not None else "created_at"
            notes.append(f"a lead's features are taken at its {at}: only events before it count as history")

    ordering = built.ordering
    if ordering == "row":
        notes.append("no time column: rows are taken as chronological; training splits by row_order")
    elif ordering == "none":
        notes.append("no time information: later stages fall back to a stratified random split")

    warnings: list[str] = []
    if not for_ranking:
        from features.leakage import likely_leaks

        warnings = likely_leaks(built.leads, built.categorical, built.numeric)
    for note in notes:
        logger.info("dataset spec: %s", note)
    for warning in warnings:
        logger.warning("dataset spec: %s", warning)
    logger.info("loaded %d leads and %d events from the dataset spec", len(built.leads), len(events))
    return SpecDataset(
        batch=LeadBatch(leads=built.leads, events=events),
        ordering=ordering,
        categorical=built.categorical,
        numeric=built.numeric,
        has_effort=ls.effort is not None,
        has_value=ls.value is not None,
        notes=notes,
        warnings=warnings,
        stage_map=stage_map,
        left_out=built.left_out,
        open_without_time=built.open_without_time,
    )


def _file_kind(path: Path) -> Literal["csv", "parquet", "excel"] | None:
    name = path.name.lower()
    if name.endswith(_EXCEL_SUFFIXES):
        return "excel"
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


@dataclass(frozen=True)
class _ReadOptions:
    sep: str | None
    encoding: str | None
    sheet: str | None
    missing: list[str]


def _read_table(
    table: str,
    path: Path,
    opts: _ReadOptions,
    text_columns: list[str],
    problems: list[str],
    notes: list[str],
) -> pd.DataFrame | None:
    """Read one exported table with the missing markers turned into NA; None (and a problem) on failure."""
    where = f"[{table}] path"
    if not path.exists():
        problems.append(f"{where}: file not found: {path}")
        return None
    if path.is_dir():
        problems.append(f"{where}: is a directory, not a file: {path}")
        return None
    kind = _file_kind(path)
    if kind is None:
        problems.append(f"{where}: unsupported file type '{path.name}': use .csv (or .tsv, .txt), .xlsx or .parquet")
        return None
    if kind != "csv":
        for key in ("sep", "encoding"):
            if getattr(opts, key) is not None:
                notes.append(f"[{table}] {key} is ignored for the {kind.title()} file {path.name}")
    sep = opts.sep
    try:
        if kind == "parquet":
            df, undecodable = decode_bytes(pd.read_parquet(path))
            for column, positions in undecodable.items():
                bad = np.zeros(len(df), dtype=bool)
                bad[positions] = True
                problems.append(
                    f"{where}: {path.name}: column '{column}' holds bytes that are not UTF-8 text, {_rows(bad)}"
                )
            if undecodable:
                return None
            df.columns = [str(c) for c in df.columns]
            df = _mark_missing(df, opts.missing)
        elif kind == "excel":
            df_or_none = _read_excel(table, path, opts, text_columns, problems)
            if df_or_none is None:
                return None
            df = df_or_none
        else:
            default_sep = "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
            # Text roles are read as text so that ids like "007" and codes keep their spelling; all else is
            # left to pandas' type inference, with the extra missing markers already NA so that they cannot
            # make a numeric column look like text.
            sep = sep or default_sep
            fast = len(sep) == 1  # a longer sep is a regex, which only the python parser reads
            df = pd.read_csv(
                path,
                sep=sep,
                engine="c" if fast else "python",
                encoding=opts.encoding or "utf-8",
                dtype=dict.fromkeys(text_columns, "str"),
                na_values=opts.missing,
                keep_default_na=True,
                # The C parser then types a column from all its values, not chunk by chunk (no mixed types).
                low_memory=not fast,
            )
            df.columns = [str(c) for c in df.columns]
            if len(df.columns) == 1:
                hint = _sep_hint(df.columns[0], sep)
                if hint:
                    problems.append(f"[{table}] sep: the file has a single column named {df.columns[0]!r}; {hint}")
                    return None
    except UnicodeDecodeError as exc:
        encoding = opts.encoding or "utf-8"
        problems.append(
            f"[{table}] encoding: {path.name} is not {encoding} text (byte {exc.start}); an export saved by Excel "
            'or an older CRM on Windows is usually encoding = "cp1252" (or "latin-1")'
        )
        return None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.append(f"{where}: cannot read {path.name} as {kind.upper()}: {first_line}")
        return None
    if df.empty:
        problems.append(f"{where}: {path.name} has no data rows")
        return None
    return df.reset_index(drop=True)


def _read_excel(
    table: str, path: Path, opts: _ReadOptions, text_columns: list[str], problems: list[str]
) -> pd.DataFrame | None:
    """One sheet of an .xlsx workbook (the first unless `sheet` names one), read like a CSV file."""
    with pd.ExcelFile(path, engine="openpyxl") as book:
        names = [str(n) for n in book.sheet_names]
        if opts.sheet is not None and opts.sheet not in names:
            problems.append(
                f"[{table}] sheet: no sheet '{opts.sheet}' in {path.name}{_suggest(opts.sheet, names)}; "
                f"its sheets: {', '.join(repr(n) for n in names)}"
            )
            return None
        df = pd.read_excel(
            book,
            sheet_name=opts.sheet if opts.sheet is not None else 0,
            dtype=dict.fromkeys(text_columns, "str"),
            na_values=opts.missing,
            keep_default_na=True,
        )
    df.columns = [str(c) for c in df.columns]
    # Excel keeps trailing empty columns of a formatted range as "Unnamed: N" with no values: not columns.
    unnamed = [c for c in df.columns if c.startswith("Unnamed: ") and df[c].isna().all()]
    return df.drop(columns=unnamed)


def _sep_hint(header: str, sep: str) -> str:
    for candidate, toml in ((";", ";"), ("\t", "\\t"), (",", ","), ("|", "|")):
        if candidate != sep and candidate in header:
            return f"is the separator right? the header contains '{toml}': try sep = \"{toml}\""
    return ""


def _mark_missing(df: pd.DataFrame, missing: list[str]) -> pd.DataFrame:
    """Turn the extra missing markers into NA in the text columns of a frame read without them (Parquet)."""
    if not missing:
        return df
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            out[col] = s.where(~s.isin(missing))
    return out


@dataclass(frozen=True)
class _BuiltLeads:
    leads: pd.DataFrame
    ordering: Ordering
    categorical: list[str]
    numeric: list[str]
    left_out: int  # closed rows without the time the split needs, not in `leads`
    left_out_ids: pd.Series  # their ids
    open_without_time: int  # open rows without a decision time (ranked as of the ranking time)


def _build_leads(
    ls: LeadsSpec, raw: pd.DataFrame, problems: list[str], notes: list[str], *, target_optional: bool = False
) -> _BuiltLeads | None:
    n_before = len(problems)
    columns = list(raw.columns)
    file_name = Path(ls.path).name
    present = set(columns)
    if target_optional and ls.target is not None and ls.target not in present:
        notes.append(f"target column '{ls.target}' is not in {file_name}: every row is an open lead")
        ls = ls.model_copy(update={"target": None, "won": None, "lost": None})
    for key, col in ls.roles():
        if col not in present:
            problems.append(f"[leads] {key}: column '{col}' not found in {file_name}{_suggest(col, columns)}")

    def column(name: str | None) -> pd.Series | None:
        return raw[name] if name is not None and name in present else None

    n = len(raw)
    out: dict[str, pd.Series] = {}
    out[LEAD_ID] = _lead_ids(ls.id, column(ls.id), n, problems)
    created = _times("created_at", ls.created_at, column(ls.created_at), n, problems)
    decided = (
        created if ls.decided_at is None else _times("decided_at", ls.decided_at, column(ls.decided_at), n, problems)
    )
    out[CREATED_AT] = created
    out[DECIDED_AT] = decided.copy()

    source = column(ls.source)
    out[SOURCE] = (
        pd.Series([UNKNOWN_SOURCE] * n, dtype="str") if source is None else as_text(source).fillna(UNKNOWN_SOURCE)
    )

    target = column(ls.target)
    if ls.target is None:
        out[OUTCOME] = pd.Series([None] * n, dtype="str")
        notes.append("no target column: every lead is open (usable for scoring, not for training)")
    elif target is not None:
        out[OUTCOME] = _parse_target(ls, target, problems, notes, all_open_ok=target_optional)
        won, lost = int((out[OUTCOME] == WON).sum()), int((out[OUTCOME] == LOST).sum())
        notes.append(f"target '{ls.target}': {won} won, {lost} lost, {n - won - lost} open")
    closed = out[OUTCOME].notna().to_numpy() if OUTCOME in out else np.zeros(n, dtype=bool)
    if ls.closed_at is not None:
        closed_at = _times("closed_at", ls.closed_at, column(ls.closed_at), n, problems)
        stray = int((closed_at.notna().to_numpy() & ~closed).sum())
        if stray:
            notes.append(f"closed_at '{ls.closed_at}': {stray} open rows have a close time; it is ignored")
        missing = int((closed_at.isna().to_numpy() & closed).sum())
        if missing:
            notes.append(f"closed_at '{ls.closed_at}': {missing} won/lost rows have no close time (days unknown)")
        out[CLOSED_AT] = closed_at.where(closed)
    else:
        # Without a close date nothing says how long a deal took: days to close stay unknown.
        out[CLOSED_AT] = pd.Series(pd.NaT, index=pd.RangeIndex(n), dtype=TIMESTAMP_DTYPE)
    if ls.as_of is not None:
        out[AS_OF] = _times("as_of", ls.as_of, column(ls.as_of), n, problems)

    for key, name, canonical in (("effort", ls.effort, SALES_HOURS), ("value", ls.value, DEAL_VALUE)):
        s = column(name)
        if name is None or s is None:
            continue
        values = _numeric_column(key, name, s, problems)
        if values is None:
            continue
        negative = (values < 0).to_numpy()
        if negative.any():
            problems.append(f"[leads] {key}: column '{name}' is negative at {_rows(negative)}")
        out[canonical] = values.astype("float64")

    if ls.order == "row":
        out[ROW_ORDER] = pd.Series(np.arange(n, dtype="int64"))

    attributes = _attributes(ls, raw, problems, notes)
    out.update(attributes.values)

    if len(problems) > n_before:
        return None
    canonical_order = (
        LEAD_ID,
        CREATED_AT,
        DECIDED_AT,
        SOURCE,
        OUTCOME,
        CLOSED_AT,
        AS_OF,
        SALES_HOURS,
        DEAL_VALUE,
        ROW_ORDER,
    )
    ordered = [c for c in canonical_order if c in out] + list(attributes.values)
    leads = pd.DataFrame({c: out[c].reset_index(drop=True) for c in ordered})
    timed = ls.created_at is not None or ls.decided_at is not None
    ordering: Ordering = "time" if timed else ("row" if ls.order == "row" else "none")

    left_out = open_without_time = 0
    left_out_ids = pd.Series([], dtype="str")
    if timed:
        time_key = "decided_at" if ls.decided_at is not None else "created_at"
        time_col = ls.decided_at if ls.decided_at is not None else ls.created_at
        no_time = leads[DECIDED_AT].isna().to_numpy()
        if ls.created_at is not None and ls.decided_at is not None:
            no_created = int(leads[CREATED_AT].isna().sum())
            if no_created:
                notes.append(f"created_at '{ls.created_at}': empty in {no_created} rows, treated as unknown")
        left_out_ids = leads.loc[no_time & closed, LEAD_ID]
        left_out = len(left_out_ids)
        open_without_time = int((no_time & ~closed).sum())
        if left_out:
            # Training orders closed leads by their decision time; a row without one cannot be placed.
            notes.append(f"{time_key} '{time_col}': {left_out} won/lost rows have no time and are left out of training")
            leads = leads.loc[~(no_time & closed)].reset_index(drop=True)
        if open_without_time:
            notes.append(
                f"{time_key} '{time_col}': {open_without_time} open rows have no time; when ranked they are "
                "scored as of the ranking time"
            )
    return _BuiltLeads(
        leads=leads,
        ordering=ordering,
        categorical=attributes.categorical,
        numeric=attributes.numeric,
        left_out=left_out,
        left_out_ids=left_out_ids,
        open_without_time=open_without_time,
    )


def _lead_ids(name: str | None, s: pd.Series | None, n: int, problems: list[str]) -> pd.Series:
    if name is None or s is None:
        # No id column: the row number, 1-based like the row numbers in error messages.
        return pd.Series(np.arange(1, n + 1).astype(str), dtype="str")
    ids = as_text(s).str.strip()
    empty = (ids.isna() | (ids == "")).to_numpy()
    if empty.any():
        problems.append(f"[leads] id: column '{name}' is empty at {_rows(empty)}")
    dup = ids.duplicated(keep=False).to_numpy() & ~empty
    if dup.any():
        problems.append(
            f"[leads] id: column '{name}' has duplicate ids: {_examples(ids[dup])}; every lead needs its own id"
        )
    return ids


def _times(key: str, name: str | None, s: pd.Series | None, n: int, problems: list[str]) -> pd.Series:
    """A time column (empty cells NaT: an export has holes, counted by the caller); unreadable values are
    problems."""
    if name is None or s is None:
        return pd.Series(pd.NaT, index=pd.RangeIndex(n), dtype=TIMESTAMP_DTYPE)
    try:
        times, bad, _ = parse_timestamps(s, lenient=True)
    except (OverflowError, ValueError) as exc:
        problems.append(f"[leads] {key}: column '{name}' holds times out of range: {exc}")
        return pd.Series(pd.NaT, index=pd.RangeIndex(n), dtype=TIMESTAMP_DTYPE)
    if bad.any():
        problems.append(
            f"[leads] {key}: column '{name}' has values that are not dates/times at {_rows(bad)}: {_examples(s[bad])}"
        )
    return times.reset_index(drop=True)


@dataclass(frozen=True)
class _Attributes:
    values: dict[str, pd.Series]  # in file column order
    categorical: list[str]
    numeric: list[str]


def _attributes(ls: LeadsSpec, raw: pd.DataFrame, problems: list[str], notes: list[str]) -> _Attributes:
    """Resolve the attribute columns: explicit lists win, every other unused column is inferred."""
    used = {col for key, col in ls.roles() if key not in ("categorical", "numeric")}
    explicit_cat = set(ls.categorical or ())
    explicit_num = set(ls.numeric or ())
    values: dict[str, pd.Series] = {}
    categorical: list[str] = []
    numeric: list[str] = []
    inferred_cat: list[str] = []
    inferred_num: list[str] = []
    empty: list[str] = []
    for col in raw.columns:
        s = raw[col]
        if col in used:
            continue
        if col in explicit_num and col not in explicit_cat:  # in both: already reported as listed twice
            number = _numeric_column("numeric", col, s, problems)
            if number is not None:
                values[col] = number
                numeric.append(col)
        elif col in explicit_cat:
            values[col] = as_text(s)
            categorical.append(col)
        elif s.isna().all():
            empty.append(col)
        elif pd.api.types.is_datetime64_any_dtype(s):
            notes.append(
                f"column '{col}' holds timestamps and is not used as an attribute: "
                "name it in created_at or list it under exclude"
            )
        elif (number := _as_number_if_all(s)) is not None:
            values[col] = number
            numeric.append(col)
            inferred_num.append(col)
        else:
            values[col] = as_text(s)
            categorical.append(col)
            inferred_cat.append(col)

    for col in values:
        if col in _RESERVED:
            key = "categorical" if col in categorical else "numeric"
            how = "remove it there" if col in explicit_cat | explicit_num else "list it under exclude"
            problems.append(
                f"[leads] {key}: column '{col}' has the name of a canonical leads column and would take "
                f"its role; map it with the matching key or {how}"
            )
    if inferred_cat or inferred_num:
        notes.append(
            f"inferred from the data: categorical {', '.join(inferred_cat) or '(none)'}; "
            f"numeric {', '.join(inferred_num) or '(none)'}"
        )
    if empty:
        notes.append("columns with no values at all, not used: " + ", ".join(empty))
    n = len(raw)
    for col in categorical:
        distinct = int(values[col].nunique())
        if n >= _ID_LIKE_MIN_ROWS and distinct >= _ID_LIKE_SHARE * n:
            notes.append(
                f"categorical column '{col}' has {distinct} distinct values in {n} rows: an identifier or "
                "personal data? consider listing it under exclude"
            )
    return _Attributes(values=values, categorical=categorical, numeric=numeric)


@dataclass(frozen=True)
class _BuiltEvents:
    events: pd.DataFrame
    stage_map: dict[str, str]  # export types mapped onto a funnel stage (kept under their own name)


def _build_events(es: EventsSpec, raw: pd.DataFrame, problems: list[str], notes: list[str]) -> _BuiltEvents | None:
    n_before = len(problems)
    columns = list(raw.columns)
    for key, col in es.roles():
        if col not in raw.columns:
            problems.append(f"[events] {key}: column '{col}' not found in {Path(es.path).name}{_suggest(col, columns)}")
    if len(problems) > n_before:
        return None
    lead_ids = as_text(raw[es.lead_id]).str.strip()
    empty = lead_ids.isna() | (lead_ids == "")
    if empty.any():
        problems.append(f"[events] lead_id: column '{es.lead_id}' is empty at {_rows(empty)}")
    ts, bad, ts_empty = parse_timestamps(raw[es.ts], lenient=True)
    if bad.any():
        problems.append(
            f"[events] ts: column '{es.ts}' has values that are not dates/times at {_rows(bad)}: "
            f"{_examples(raw[es.ts][bad])}"
        )
    if ts_empty.any():
        problems.append(f"[events] ts: column '{es.ts}' is empty at {_rows(ts_empty)}")
    types = as_text(raw[es.type]).str.strip()
    if types.isna().any():
        problems.append(f"[events] type: column '{es.type}' is empty at {_rows(types.isna())}")
    if len(problems) > n_before:
        return None
    types, stage_map = _map_event_types(es, types, problems, notes)
    if len(problems) > n_before:
        return None
    asset = as_text(raw[es.asset]) if es.asset is not None else pd.Series([None] * len(raw), dtype="str")
    events = pd.DataFrame(
        {
            EVENT_LEAD_ID: lead_ids.reset_index(drop=True),
            TS: ts.reset_index(drop=True),
            EVENT_TYPE: types.reset_index(drop=True),
            ASSET: asset.reset_index(drop=True),
        }
    )
    return _BuiltEvents(events=events, stage_map=stage_map)


def _map_event_types(
    es: EventsSpec, types: pd.Series, problems: list[str], notes: list[str]
) -> tuple[pd.Series, dict[str, str]]:
    """Apply `[events.types]`: a type mapped onto a canonical event type takes its name; one mapped onto a stage
    keeps its own name and joins the stage map. Types left unmapped are kept (they count in stage "other") and
    reported with their counts."""
    from features.engagement import DEFAULT_STAGE_MAP, FeatureInputError, _validated_stage_map

    mapping = {k.strip().lower(): v for k, v in (es.types or {}).items()}
    key = types.str.lower()
    target = key.map(mapping)
    out = types.where(~target.isin(list(DEFAULT_STAGE_MAP)), target).astype("str")
    stage_map: dict[str, str] = {}
    for export_type, stage in (es.types or {}).items():
        if stage in STAGES:
            spelled = types[key == export_type.strip().lower()]
            # the spelling used in the file (types match in any case): that is what the events will carry
            name = str(spelled.iloc[0]) if len(spelled) else export_type.strip()
            out = out.where(key != export_type.strip().lower(), name)
            stage_map[name] = stage
    unmapped = target.isna() & ~types.isin(list(DEFAULT_STAGE_MAP))
    if unmapped.any():
        how = "not in [events.types]" if es.types else "not canonical event types (map them in [events.types])"
        notes.append(f"[events] type: activity types {how}, counted in stage 'other': {_examples(types[unmapped], 8)}")
    unused = [k for k in (es.types or {}) if not key.eq(k.strip().lower()).any()]
    if unused:
        notes.append(f"[events.types]: {', '.join(repr(k) for k in unused)} never occur in column '{es.type}'")
    if stage_map:
        try:
            _validated_stage_map({**DEFAULT_STAGE_MAP, **stage_map})
        except FeatureInputError as exc:
            problems.append(f"[events.types] {exc} (map such a type onto the canonical event type instead)")
    return out, stage_map


# ----------------------------------------------------------------------------------------------------
# Column conversions (all vectorised)


def _normalise_number(s: pd.Series) -> pd.Series:
    """int64 when whole and complete, else float64: one numpy dtype per column whatever the file's backend."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("int64")
    if pd.api.types.is_integer_dtype(s) and not s.isna().any():
        return s.astype("int64")
    return s.astype("float64")


def _as_number_if_all(s: pd.Series) -> pd.Series | None:
    """The column as numbers when every present value is one (a text column can hold "42"), else None."""
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_numeric_dtype(s):
        return _normalise_number(s)
    if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
        return None
    text = as_text(s)
    # to_numeric with coerce costs an exception per non-number, so a text column is judged on its distinct
    # values (few, for a categorical) and rejected on the first handful before the rest are tried.
    distinct = pd.Series(text.dropna().unique(), dtype="str").str.strip()
    distinct = distinct[distinct != ""]
    for chunk in (distinct[:16], distinct[16:]):
        if pd.to_numeric(chunk, errors="coerce").isna().any():
            return None
    stripped = text.str.strip()
    return _normalise_number(pd.to_numeric(stripped.where(stripped != ""), errors="coerce"))


def _numeric_column(key: str, col: str, s: pd.Series, problems: list[str]) -> pd.Series | None:
    """The column as numbers, or None after recording which rows are not numbers."""
    values, bad = parse_numbers(s)
    if bad.any():
        text = as_text(s).str.strip()
        problems.append(
            f"[leads] {key}: column '{col}' has non-numeric values at {_rows(bad)}: {_examples(text[bad])}"
            " (add them to missing if they mean 'no value')"
        )
        return None
    return _normalise_number(values)


def _parse_target(
    ls: LeadsSpec, s: pd.Series, problems: list[str], notes: list[str], *, all_open_ok: bool = False
) -> pd.Series:
    col = ls.target
    text = as_text(s).str.strip().str.lower()
    empty = (text.isna() | (text == "")).to_numpy()
    outcome = np.full(len(text), None, dtype=object)
    if ls.won is not None and ls.lost is not None:
        # The export's own vocabulary: listed values are won or lost, anything else is still open.
        won = text.isin([v.strip().lower() for v in ls.won]).to_numpy()
        lost = text.isin([v.strip().lower() for v in ls.lost]).to_numpy()
        other = ~(empty | won | lost)
        if other.any() and not (won.any() or lost.any()) and not all_open_ok:
            problems.append(
                f"[leads] won / lost: no value of column '{col}' is listed under won or lost; its values: "
                f"{_examples(s[other], limit=6)}"
            )
        elif other.any():
            notes.append(f"target '{col}': values not listed under won or lost are open leads: {_examples(s[other])}")
        for key, values in (("won", ls.won), ("lost", ls.lost)):
            absent = [v for v in values if not text.eq(v.strip().lower()).any()]
            if absent and (won.any() or lost.any()):
                notes.append(f"[leads] {key}: {', '.join(repr(v) for v in absent)} never occur in column '{col}'")
    else:
        won = text.isin(_WON_FORMS).to_numpy()
        lost = text.isin(_LOST_FORMS).to_numpy()
        bad = ~(empty | won | lost)
        if bad.any():
            problems.append(
                f"[leads] target: column '{col}' has values not recognisable as won/lost: {_examples(s[bad])}; "
                "accepted (any case): 1/0, true/false, yes/no, won/lost, and empty for open leads; or map the "
                "export's own values with won = [...] and lost = [...]"
            )
    outcome[won] = WON
    outcome[lost] = LOST
    return pd.Series(outcome, dtype="str")


def _rows(mask: np.ndarray | pd.Series, limit: int = 5) -> str:
    """'rows 3, 7 and 2 more': 1-based data row numbers (row 1 is the first row under the header)."""
    idx = np.flatnonzero(np.asarray(mask)) + 1
    shown = ", ".join(str(i) for i in idx[:limit])
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return f"row{'s' if len(idx) != 1 else ''} {shown}{more}"


def _examples(values: pd.Series, limit: int = 3) -> str:
    """ "'maybe' (12 rows), 'x' (1 row) and 4 other values": the commonest values with their counts."""
    counts = values.astype("object").value_counts(dropna=False)
    parts = [f"{v!r} ({c} row{'s' if c != 1 else ''})" for v, c in counts.head(limit).items()]
    text = ", ".join(parts)
    if len(counts) > limit:
        text += f" and {len(counts) - limit} other value{'s' if len(counts) - limit != 1 else ''}"
    return text


# ----------------------------------------------------------------------------------------------------
# Open leads to rank


_TRAINING_NOTES: Final = (
    "inferred from the data",
    "a lead's features are taken",
    "target '",
    "no time column",
    "[events] type",
)
_TRAINING_WORDS: Final = ("when ranked", "left out")


@dataclass(frozen=True)
class OpenLeads:
    """The open rows of a spec's data, ready to score: every lead has an `as_of` (its scoring time)."""

    batch: LeadBatch
    notes: list[str]
    scored_as_of_ranking_time: int  # open leads without any time of their own, scored as of `ranking_time`
    ranking_time: pd.Timestamp


def load_open_leads(
    spec_or_path: DatasetSpec | str | Path,
    leads_path: str | Path | None = None,
    events_path: str | Path | None = None,
    ranking_time: pd.Timestamp | None = None,
) -> OpenLeads:
    """The open leads of the export a spec describes (outcome empty or not listed as won/lost; every row when there
    is no target column), for `leadrank rank --spec`.

    `leads_path` / `events_path` replace the spec's files (this week's export, same columns). A lead is scored as
    of its `as_of` column, else its decision time, else `ranking_time` (default: now, UTC); how many had no time
    of their own is counted. Raises `SpecError` as `load_dataset` does, and when there is no open lead at all.
    """
    spec, where, problems = _spec_and_problems(spec_or_path)
    if leads_path is not None:
        spec = _with_path(spec, "leads", leads_path)
    if events_path is not None:
        if spec.events is None:
            problems.append(f"[events] path: the spec has no [events] table to read {Path(events_path).name} with")
        else:
            spec = _with_path(spec, "events", events_path)
    ds = _load(spec, where, problems, for_ranking=True)
    leads = ds.batch.leads
    open_rows = leads[leads[OUTCOME].isna()].reset_index(drop=True)
    if open_rows.empty:
        raise SpecError(
            [
                f"[leads] target: every row of {Path(spec.leads.path).name} is won or lost: no open lead to rank "
                "(open leads have an empty target cell, or a value not listed under won / lost)"
            ],
            where,
        )
    now = ranking_time if ranking_time is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)
    now = pd.Timestamp(now).as_unit("us")
    given = open_rows[AS_OF] if AS_OF in open_rows.columns else pd.Series(pd.NaT, index=open_rows.index)
    as_of = given.fillna(open_rows[DECIDED_AT])
    no_time = as_of.isna()
    open_rows[AS_OF] = as_of.fillna(now).astype(TIMESTAMP_DTYPE)
    # What the user needs to read about this ranking; notes about training (inferred kinds, rows left out of the
    # split, the outcome counts) are for `train`.
    notes = [n for n in ds.notes if not n.startswith(_TRAINING_NOTES) and not any(w in n for w in _TRAINING_WORDS)]
    n_now = int(no_time.sum())
    if n_now:
        notes.append(
            f"{n_now:,} of {len(open_rows):,} open leads have no scoring or decision time: scored as of the ranking "
            f"time {now:%Y-%m-%d %H:%M} UTC, with their missing times unknown"
        )
    batch = LeadBatch.of_leads(open_rows, ds.batch.events)
    return OpenLeads(batch=batch, notes=notes, scored_as_of_ranking_time=n_now, ranking_time=now)


def _with_path(spec: DatasetSpec, table: Literal["leads", "events"], path: str | Path) -> DatasetSpec:
    """The spec reading another file of the same shape; a relative `path` is relative to the working directory."""
    part = getattr(spec, table)
    replaced = part.model_copy(update={"path": str(Path(path).expanduser().resolve())})
    return spec.model_copy(update={table: replaced}).with_base_dir(spec.base_dir)


def load_open_leads_of_spec(
    spec: str | Path, data_dir: Path | None = None, leads_path: Path | None = None, events_path: Path | None = None
) -> tuple[LeadBatch, list[str]]:
    """`leadrank rank --spec`: the open leads and what to tell the user about them (`--data` does not go with a
    spec: the spec names its files, `--leads` / `--events` replace them)."""
    if data_dir is not None:
        raise SpecError(["--data does not go with --spec: the spec names its files (--leads FILE replaces them)"])
    found = load_open_leads(spec, leads_path, events_path)
    return found.batch, found.notes
