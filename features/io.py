"""Read and write the canonical `leads` and `events` tables, validating them strictly.

Every table that enters leadrank from outside goes through here. The loaders check the whole file against
the contract in `features.contract`, collect *every* violation, and raise a single `DataValidationError` whose
message is a readable report. A good file loads unchanged: the returned values equal the values written.

Row numbers in reports: "row N" is the N-th data row of the file, counting from 1 and not counting the header,
so row 1 is the first record of a Parquet table or the first record under the header line of a CSV file. For
CSV the report also gives the file line on which that record starts (the header is line 1; blank lines and
line breaks inside quoted fields are taken into account).

Typing of the returned frames:

- timestamps (`created_at`, `decided_at`, `closed_at`, `as_of`, `ts`) are timezone-naive UTC `datetime64[us]`;
  timezone-aware values are converted to UTC, text must be ISO 8601 (`2024-03-01`, `2024-03-01T09:30:00`,
  `2024-03-01 09:30:00+02:00`, `2024-03-01T07:30:00Z`); text without an offset is taken as UTC;
- text columns (`lead_id`, `source`, `outcome`, `industry`, `country`, `job_level`, `event_type`, `asset`) use
  pandas' `str` dtype; an empty cell is missing;
- `sales_hours` and `deal_value` are float64, `company_size` is numeric (int64 when every value is whole and
  present in a CSV file, else float64; a Parquet numeric type is kept);
- other columns are kept as they are (Parquet) or as pandas infers them (CSV: numbers, booleans, else text).

Optional columns that are absent stay absent. The simulator's evaluation-only ground truth (`truth.*`) is
refused.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import (
    AS_OF,
    ASSET,
    CLOSED_AT,
    CREATED_AT,
    DEAL_VALUE,
    DECIDED_AT,
    EVENT_LEAD_ID,
    EVENT_TYPE,
    FIRMOGRAPHIC,
    LEAD_ID,
    OUTCOME,
    OUTCOMES,
    REQUIRED_EVENT_COLUMNS,
    REQUIRED_LEAD_COLUMNS,
    SALES_HOURS,
    SOURCE,
    TIMESTAMP_DTYPE,
    TS,
    LeadBatch,
    empty_events,
)
from features.parsing import (
    arrow_text,
    as_text,
    blank,
    decode_bytes,
    is_text_like,
    parse_numbers,
    parse_timestamps,
)

logger = logging.getLogger(__name__)

__all__ = [
    "AS_OF",
    "DataLoadError",
    "DataValidationError",
    "ForbiddenFileError",
    "History",
    "Problem",
    "UnsupportedFormatError",
    "load_events",
    "load_history",
    "load_history_dir",
    "load_leads",
    "read_table",
    "write_table",
]

# The optional per-lead reference time (features use it instead of decided_at when present).

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")

# Columns of the simulator's truth table: finding one in a leads file means ground truth leaked into the data.
TRUTH_STEM = "truth"
TRUTH_COLUMNS = ("p_close", "expected_hours", "expected_days_to_close")

COMPANY_SIZE = "company_size"
LEAD_TIMESTAMP_COLUMNS = (CREATED_AT, DECIDED_AT, CLOSED_AT, AS_OF)
LEAD_TEXT_COLUMNS = (SOURCE, *(c for c in FIRMOGRAPHIC if c != COMPANY_SIZE))
LEAD_NUMERIC_COLUMNS = (COMPANY_SIZE, SALES_HOURS, DEAL_VALUE)
FLOAT_COLUMNS = (SALES_HOURS, DEAL_VALUE)
# In CSV these are read as text so that values such as "007" keep their form and bad cells can be pinpointed.
_LEAD_CSV_TEXT = (LEAD_ID, OUTCOME, *LEAD_TIMESTAMP_COLUMNS, *LEAD_TEXT_COLUMNS, *LEAD_NUMERIC_COLUMNS)
_EVENT_CSV_TEXT = (EVENT_LEAD_ID, TS, EVENT_TYPE, ASSET)

MAX_EXAMPLES = 5
_ISO_HINT = "expected ISO 8601 such as 2024-03-01, 2024-03-01T09:30:00 or 2024-03-01T09:30:00+02:00"


class DataLoadError(ValueError):
    """A table could not be loaded; the message says which file and why."""


class UnsupportedFormatError(DataLoadError):
    """The file extension is neither CSV nor Parquet."""


class ForbiddenFileError(DataLoadError):
    """The file must not be read here (the simulator's evaluation-only ground truth)."""


@dataclass(frozen=True)
class Problem:
    """One contract violation.

    `rows` holds up to `MAX_EXAMPLES` example rows (1-based data rows, see the module docstring) and `count`
    the number of rows affected; both are empty/zero for a problem with the file or a whole column. `lines`
    gives the CSV file line of each example row (empty for Parquet), `values` the offending cell of each.
    """

    file: str
    column: str | None
    message: str
    rows: tuple[int, ...] = ()
    count: int = 0
    lines: tuple[int, ...] = ()
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column '{self.column}'" if self.column is not None else "")
        if not self.count:
            return f"{where}: {self.message}"
        examples = []
        for i, row in enumerate(self.rows):
            text = f"row {row}"
            if i < len(self.lines):
                text += f" (line {self.lines[i]})"
            if i < len(self.values):
                text += f" {self.values[i]}"
            examples.append(text)
        noun = "row" if self.count == 1 else "rows"
        lead = f"{self.count:,} {noun}" if self.count <= len(self.rows) else f"{self.count:,} rows, first"
        return f"{where}: {self.message} in {lead}: {', '.join(examples)}"


class DataValidationError(DataLoadError):
    """One or more tables break the data contract. `problems` lists every violation found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        files = sorted({p.file for p in self.problems})
        noun = "problem" if len(self.problems) == 1 else "problems"
        head = f"{len(self.problems)} data {noun} in {', '.join(files)}"
        super().__init__("\n".join([head + ":", *(f"  - {p}" for p in self.problems)]))

    def __reduce__(self) -> tuple[type[DataValidationError], tuple[list[Problem]]]:
        # The default would rebuild the error from its message string, not from the problems.
        return (type(self), (self.problems,))


@dataclass
class History:
    """A loaded CRM history: canonical `leads`, `events` of known leads, and what the loader warned about."""

    leads: pd.DataFrame
    events: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    dropped_events: int = 0

    def batch(self) -> LeadBatch:
        return LeadBatch(self.leads, self.events)


# --------------------------------------------------------------------------------------------------- file I/O


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise UnsupportedFormatError(f"{path}: unsupported file type ({shown}); use .csv, .parquet or .pq")
    return suffix


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        for record in csv.reader(f):
            if record and not (len(record) == 1 and not record[0].strip()):
                return record
    return []


def read_table(path: str | os.PathLike[str], *, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """Read a CSV (`.csv`) or Parquet (`.parquet`, `.pq`) file into a frame with a fresh RangeIndex.

    CSV must be UTF-8 with a header row; only an empty cell is missing (text such as "NA" or "null" stays
    text, so country code NA survives). `text_columns` present in a CSV file are read as text rather than
    inferred. Nothing is validated beyond being readable; use the `load_*` functions for canonical tables.
    """
    p = Path(path)
    suffix = _suffix(p)
    if not p.is_file():
        raise DataLoadError(f"{p}: file not found" if not p.exists() else f"{p}: not a file")
    if suffix in CSV_SUFFIXES:
        return _read_csv(p, text_columns)
    return _read_parquet(p)


def _read_csv(path: Path, text_columns: Collection[str]) -> pd.DataFrame:
    try:
        header = _csv_header(path)
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            raise DataLoadError(f"{path}: duplicate column names in the header: {', '.join(duplicated)}")
        return pd.read_csv(
            path,
            dtype=dict.fromkeys(text_columns, "str"),
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            # One pass over the whole file, so a column is never typed differently chunk by chunk.
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise DataLoadError(f"{path}: the file is empty (a CSV file needs a header row)") from None
    except UnicodeDecodeError as e:
        raise DataLoadError(f"{path}: not UTF-8 text (byte {e.start}); save the file as UTF-8") from None
    except (pd.errors.ParserError, csv.Error) as e:
        raise DataLoadError(f"{path}: not a well-formed CSV file: {e}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataLoadError(f"{path}: not a readable Parquet file: {e}") from None
    df, undecodable = decode_bytes(df)
    if undecodable:
        raise DataLoadError(
            f"{path}: "
            + "; ".join(
                f"column {column!r} holds bytes that are not UTF-8 text in row(s) "
                + ", ".join(str(r + 1) for r in rows[:MAX_EXAMPLES])
                + (f" and {len(rows) - MAX_EXAMPLES} more" if len(rows) > MAX_EXAMPLES else "")
                for column, rows in undecodable.items()
            )
        )
    if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
        return df
    # A frame saved with its index: a named index (e.g. lead_id) is data, an unnamed one is not.
    named = any(name is not None for name in df.index.names)
    return df.reset_index(drop=not named)


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write `df` (without its index) as CSV or Parquet, chosen by extension; same frame -> same bytes.

    The file is written under a temporary name and renamed, so readers never see a half-written table.
    CSV is UTF-8 with `\\n` line ends, floats in shortest round-trip form and missing values as empty cells.
    """
    p = Path(path)
    suffix = _suffix(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        if suffix in CSV_SUFFIXES:
            tmp.write_bytes(df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
        else:
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ validation


class _Report:
    """Collects the problems of one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.problems: list[Problem] = []

    def column(self, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, column, message))

    def rows(self, column: str, mask: pd.Series | np.ndarray, message: str, values: pd.Series | None = None) -> None:
        flags = np.asarray(mask, dtype=bool)
        if not flags.any():
            return
        positions = np.flatnonzero(flags)
        first = positions[:MAX_EXAMPLES]
        shown: tuple[str, ...] = ()
        if values is not None:
            shown = tuple(_show(v) for v in values.iloc[first].tolist())
        self.problems.append(
            Problem(
                self.file,
                column,
                message,
                rows=tuple(int(i) + 1 for i in first),
                count=len(positions),
                values=shown,
            )
        )

    def finish(self) -> list[Problem]:
        """The problems, with CSV file lines added to the example rows."""
        wanted = [r for p in self.problems for r in p.rows]
        if not wanted or self.path.suffix.lower() not in CSV_SUFFIXES:
            return self.problems
        lines = _csv_record_lines(self.path, max(wanted))
        if lines is None:
            return self.problems
        return [replace(p, lines=tuple(lines[r - 1] for r in p.rows)) for p in self.problems]


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "(empty)"
    text = repr(str(value))
    return text if len(text) <= 42 else text[:39] + "...'"


def _csv_record_lines(path: Path, last_row: int) -> list[int] | None:
    """File line on which each of the first `last_row` data records starts (error path only).

    Mirrors pandas' reading: blank and whitespace-only lines are skipped, quoted fields may span lines.
    """
    lines: list[int] = []
    header_seen = False
    end_of_previous = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for record in reader:
                start = end_of_previous + 1
                end_of_previous = reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                if not header_seen:
                    header_seen = True
                    continue
                lines.append(start)
                if len(lines) >= last_row:
                    return lines
    except (csv.Error, UnicodeDecodeError, OSError):
        return None
    # The csv module and pandas disagree on this file's layout; no line numbers beat wrong ones.
    return None


def _id_column(s: pd.Series, column: str, report: _Report) -> pd.Series:
    """Lead ids as text. Integer ids (common in Parquet exports) are turned into their decimal text."""
    if is_text_like(s) or (pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
        return as_text(s)
    report.column(column, f"has type {s.dtype}; expected text or whole numbers")
    return as_text(s)


def _timestamps(s: pd.Series, column: str, report: _Report) -> tuple[pd.Series, pd.Series]:
    """Parse `s` to naive-UTC datetime64[us]; report unparseable cells. Returns (parsed, missing)."""
    if not (is_text_like(s) or pd.api.types.is_datetime64_any_dtype(s.dtype)):
        report.rows(column, s.notna(), f"not a timestamp (column type {s.dtype}); {_ISO_HINT}", values=s)
        return pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP_DTYPE), s.isna()
    try:
        parsed, bad, missing = parse_timestamps(s)
    except (OverflowError, ValueError):
        # OutOfBoundsDatetime is a ValueError: e.g. year 300000 stored as datetime64[s] in Parquet.
        report.column(column, "timestamps outside the representable range")
        return pd.Series(pd.NaT, index=s.index, dtype=TIMESTAMP_DTYPE), s.isna()
    report.rows(column, pd.Series(bad, index=s.index), f"unparseable timestamp ({_ISO_HINT})", values=s)
    return parsed.set_axis(s.index), pd.Series(missing, index=s.index)


def _numbers(s: pd.Series, column: str, report: _Report) -> pd.Series:
    """Parse `s` as numbers; report non-numeric and non-finite cells and (all numeric columns) negatives."""
    if pd.api.types.is_bool_dtype(s.dtype):
        report.rows(column, s.notna(), "not a number (true/false)", values=s)
        return pd.Series(np.nan, index=s.index, dtype="float64")
    values, not_number = parse_numbers(s)
    as_float = values.to_numpy(dtype="float64", na_value=np.nan)
    bad = pd.Series(not_number | np.isinf(as_float), index=s.index)
    report.rows(column, bad, "not a number", values=s)
    report.rows(column, (as_float < 0) & ~bad, "negative value (must be >= 0)", values=s)
    if bad.any():
        values = values.where(~bad)
    return values


def _missing_columns(frame: pd.DataFrame, required: Sequence[str], report: _Report) -> None:
    by_key = {str(c).strip().lower(): str(c) for c in frame.columns}
    for column in required:
        if column in frame.columns:
            continue
        near = by_key.get(column)
        hint = f" (there is a column '{near}'; names are case- and space-sensitive)" if near else ""
        report.column(column, f"required column is missing{hint}")


def _validate_leads(raw: pd.DataFrame, report: _Report) -> tuple[pd.DataFrame, list[str]]:
    _missing_columns(raw, REQUIRED_LEAD_COLUMNS, report)
    for column in TRUTH_COLUMNS:
        if column in raw.columns:
            report.column(column, "is simulator ground truth (truth table) and must not be part of leads; remove it")
    out = raw.copy(deep=False)
    warnings: list[str] = []

    if LEAD_ID in raw.columns:
        ids = _id_column(raw[LEAD_ID], LEAD_ID, report)
        empty = blank(ids)
        report.rows(LEAD_ID, empty, "empty lead_id")
        report.rows(LEAD_ID, ids.duplicated(keep=False) & ~empty, "duplicate lead_id", values=ids)
        out[LEAD_ID] = ids

    times: dict[str, pd.Series] = {}
    missing_time: dict[str, pd.Series] = {}
    for column in LEAD_TIMESTAMP_COLUMNS:
        if column in raw.columns:
            times[column], missing_time[column] = _timestamps(raw[column], column, report)
            out[column] = times[column]
    for column in (CREATED_AT, DECIDED_AT):
        if column in missing_time:
            report.rows(column, missing_time[column], "missing timestamp (required)")

    for column in LEAD_TEXT_COLUMNS:
        if column in raw.columns:
            out[column] = as_text(raw[column])
    if SOURCE in out.columns:
        report.rows(SOURCE, blank(out[SOURCE]), "empty source (required)")

    for column in LEAD_NUMERIC_COLUMNS:
        if column in raw.columns:
            values = _numbers(raw[column], column, report)
            out[column] = values.astype("float64") if column in FLOAT_COLUMNS else values

    if OUTCOME in raw.columns:
        text = as_text(raw[OUTCOME])
        outcome = text.str.strip().str.lower()
        outcome = outcome.where(~outcome.eq(""))
        known = outcome.isin(OUTCOMES) | outcome.isna()
        report.rows(OUTCOME, ~known, f"unknown outcome (expected {' or '.join(OUTCOMES)}, or empty)", text)
        out[OUTCOME] = outcome
        decided = outcome.isin(OUTCOMES)
        if CLOSED_AT not in raw.columns:
            report.rows(CLOSED_AT, decided, "column is missing but required for leads with an outcome")
        else:
            report.rows(CLOSED_AT, decided & missing_time[CLOSED_AT], "outcome is set but closed_at is empty")

    # Comparisons with NaT are False, so unparseable or missing times never add a second problem here.
    if CREATED_AT in times:
        created = times[CREATED_AT]
        for column in (DECIDED_AT, CLOSED_AT):
            if column in times:
                report.rows(column, times[column] < created, f"{column} before created_at", raw[column])
    if CLOSED_AT in times and DECIDED_AT in times:
        early = int((times[CLOSED_AT] < times[DECIDED_AT]).sum())
        if early:
            warnings.append(
                f"{report.file}: {early:,} leads have closed_at before decided_at "
                "(the outcome was known at decision time)"
            )
    return out, warnings


def _validate_events(raw: pd.DataFrame, report: _Report) -> pd.DataFrame:
    _missing_columns(raw, REQUIRED_EVENT_COLUMNS, report)
    out = raw.copy(deep=False)
    if EVENT_LEAD_ID in raw.columns:
        # Missing ids are allowed: anonymous touches are dropped later with the events of unknown leads.
        out[EVENT_LEAD_ID] = _id_column(raw[EVENT_LEAD_ID], EVENT_LEAD_ID, report)
    if TS in raw.columns:
        out[TS], missing = _timestamps(raw[TS], TS, report)
        report.rows(TS, missing, "missing timestamp (required)")
    if EVENT_TYPE in raw.columns:
        out[EVENT_TYPE] = as_text(raw[EVENT_TYPE])
        report.rows(EVENT_TYPE, blank(out[EVENT_TYPE]), "missing event_type")
    if ASSET in raw.columns:
        out[ASSET] = as_text(raw[ASSET])
    return out


def _drop_unknown(events: pd.DataFrame, leads: pd.DataFrame, file: str) -> tuple[pd.DataFrame, int, str | None]:
    # Arrow's set lookup is about twice as fast as Series.isin on 30M pyarrow-backed strings.
    lead_ids = arrow_text(as_text(leads[LEAD_ID])).combine_chunks()
    known = pc.is_in(arrow_text(events[EVENT_LEAD_ID]), value_set=lead_ids).to_numpy(zero_copy_only=False)
    n_dropped = int(len(known) - np.count_nonzero(known))
    if not n_dropped:
        return events, 0, None
    anonymous = int(events[EVENT_LEAD_ID].isna().sum())
    detail = f", {anonymous:,} of them without a lead_id" if anonymous else ""
    message = f"{file}: dropped {n_dropped:,} events of leads not in the leads table{detail}"
    return events.loc[known].reset_index(drop=True), n_dropped, message


# --------------------------------------------------------------------------------------------------- loaders


def _refuse_truth(path: Path) -> None:
    if path.stem.lower() == TRUTH_STEM:
        raise ForbiddenFileError(
            f"{path}: refusing to load the simulator's ground truth; '{path.name}' is for evaluation only "
            "and must never feed training or serving"
        )


def _read_leads(path: Path) -> tuple[pd.DataFrame, _Report]:
    _refuse_truth(path)
    raw = read_table(path, text_columns=_LEAD_CSV_TEXT)
    return raw, _Report(path)


def _read_events(path: Path) -> tuple[pd.DataFrame, _Report]:
    _refuse_truth(path)
    raw = read_table(path, text_columns=_EVENT_CSV_TEXT)
    return raw, _Report(path)


def load_leads(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load and validate a leads table (see the module docstring for types and row numbering).

    Raises `DataValidationError` listing every violation, `ForbiddenFileError` for `truth.*`,
    `UnsupportedFormatError` for an unknown extension and `DataLoadError` for an unreadable file.
    """
    raw, report = _read_leads(Path(path))
    leads, warnings = _validate_leads(raw, report)
    if report.problems:
        raise DataValidationError(report.finish())
    for message in warnings:
        logger.warning(message)
    logger.debug("loaded %d leads from %s", len(leads), path)
    return leads


def load_events(path: str | os.PathLike[str], leads: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Load and validate an events table; events of leads not in `leads` are dropped and counted.

    Every row is validated, including those that are then dropped. Returns (events, number dropped). Raises as
    `load_leads` does.
    """
    if LEAD_ID not in leads.columns:
        raise DataLoadError(f"the leads frame given for {path} has no '{LEAD_ID}' column")
    raw, report = _read_events(Path(path))
    events = _validate_events(raw, report)
    if report.problems:
        raise DataValidationError(report.finish())
    events, n_dropped, message = _drop_unknown(events, leads, report.file)
    if message:
        logger.warning(message)
    return events, n_dropped


def load_history(leads_path: str | os.PathLike[str], events_path: str | os.PathLike[str] | None = None) -> History:
    """Load leads and (optionally) events; problems of both files are reported together in one error.

    Without `events_path` the events table is empty (`features.contract.empty_events()`).
    """
    lead_path = Path(leads_path)
    event_path = None if events_path is None else Path(events_path)
    _refuse_truth(lead_path)
    if event_path is not None:
        _refuse_truth(event_path)
    raw_leads, lead_report = _read_leads(lead_path)
    leads, warnings = _validate_leads(raw_leads, lead_report)
    if event_path is None:
        if lead_report.problems:
            raise DataValidationError(lead_report.finish())
        events, n_dropped = empty_events(), 0
    else:
        raw_events, event_report = _read_events(event_path)
        events = _validate_events(raw_events, event_report)
        if lead_report.problems or event_report.problems:
            raise DataValidationError(lead_report.finish() + event_report.finish())
        events, n_dropped, message = _drop_unknown(events, leads, event_report.file)
        if message:
            warnings.append(message)
    for text in warnings:
        logger.warning(text)
    logger.debug("loaded %d leads and %d events from %s", len(leads), len(events), lead_path)
    return History(leads=leads, events=events, warnings=warnings, dropped_events=n_dropped)


def _find_table(directory: Path, stem: str) -> Path | None:
    found = [directory / f"{stem}{s}" for s in CSV_SUFFIXES + PARQUET_SUFFIXES if (directory / f"{stem}{s}").exists()]
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise DataLoadError(f"{directory}: both {names} exist; keep one so it is clear which is the data")
    return found[0] if found else None


def load_history_dir(directory: str | os.PathLike[str]) -> History:
    """Load `leads.parquet|.csv` (required) and `events.parquet|.csv` (optional) from `directory`.

    `.pq` is accepted as a Parquet extension too. It is an error when the leads table is missing or when one
    table exists in more than one format.
    """
    d = Path(directory)
    if not d.is_dir():
        raise DataLoadError(f"{d}: not a directory" if d.exists() else f"{d}: directory not found")
    leads = _find_table(d, "leads")
    events = _find_table(d, "events")
    if leads is None:
        present = sorted(p.name for p in d.iterdir() if not p.name.startswith("."))
        seen = ", ".join(present[:10]) + (", ..." if len(present) > 10 else "") if present else "nothing"
        raise DataLoadError(f"{d}: no leads table (expected leads.parquet or leads.csv); found {seen}")
    return load_history(leads, events)
