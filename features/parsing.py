"""Reading cells of text, timestamps and numbers: the one set of parsing rules that the canonical loader
(`features.io`), the dataset spec (`features.spec`) and the HTTP service (`serving.inputs`) share.

Missing, empty and whitespace-only cells are missing. Timestamps are ISO 8601; a value with an offset is converted
to UTC, one without is taken as UTC; the result is timezone-naive UTC at microsecond resolution. `lenient` also
reads other spellings (what a foreign CRM export may hold) value by value.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import TIMESTAMP_DTYPE

# A missing timestamp as int64 microseconds since the epoch (numpy's NaT).
NAT_US: Final = np.iinfo(np.int64).min
_STR: Final = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default `str` dtype
_UTC_US: Final = pa.timestamp("us", tz="UTC")
_NAIVE_US: Final = pa.timestamp("us")


def is_text_like(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object


def as_text(s: pd.Series) -> pd.Series:
    """The column as pandas `str` dtype with missing kept; whole-number floats lose their '.0' (ids, codes) and
    booleans read true/false."""
    if s.dtype == "str":
        return s
    if pd.api.types.is_float_dtype(s):
        present = s.dropna().to_numpy(dtype="float64")
        if len(present) and bool(np.all(np.isfinite(present))) and bool(np.all(np.mod(present, 1) == 0)):
            return s.astype("Int64").astype("str")
    if pd.api.types.is_bool_dtype(s):
        return s.map({True: "true", False: "false"}).astype("str")
    return s.astype("str")


def decode_bytes(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """`frame` with bytes cells decoded as UTF-8 text, and per column the positions of cells that are not UTF-8
    (left missing). Parquet byte arrays without a text annotation reach pandas as Python `bytes`; converting
    such a column to text later would fail on the first byte that is not UTF-8, in no row in particular."""
    undecodable: dict[str, np.ndarray] = {}
    for column in frame.columns:
        s = frame[column]
        if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) not in ("bytes", "mixed"):
            continue
        values = s.tolist()
        bad = np.zeros(len(values), dtype=bool)
        for k, value in enumerate(values):
            if isinstance(value, bytes):
                try:
                    values[k] = value.decode("utf-8")
                except UnicodeDecodeError:
                    values[k], bad[k] = None, True
        frame = frame.assign(**{str(column): pd.Series(values, index=s.index, dtype=object)})
        if bad.any():
            undecodable[str(column)] = np.flatnonzero(bad)
    return frame, undecodable


def arrow_text(text: pd.Series) -> pa.ChunkedArray:
    """The Arrow data of a `str` column (zero-copy for pandas' default pyarrow-backed storage)."""
    data = pa.array(text.array)
    chunked = data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])
    return chunked.cast(pa.large_string())


def str_array(values: pa.Array) -> pd.api.extensions.ExtensionArray:
    """Arrow text as a pandas `str` column without a copy (the features read it back as Arrow)."""
    return pd.arrays.ArrowStringArray(pa.chunked_array([values]), dtype=_STR)  # type: ignore[call-arg]


def blank(text: pd.Series) -> np.ndarray:
    """Missing, empty or whitespace-only cells of a `str` column."""
    # Arrow's classifiers scan in place; `str.strip()` would allocate a trimmed copy of every cell.
    data = arrow_text(text)
    empty = pc.or_(pc.equal(pc.binary_length(data), 0), pc.utf8_is_space(data)).fill_null(False)
    return np.asarray(text.isna().to_numpy() | empty.to_numpy(zero_copy_only=False), dtype=bool)


def parse_timestamps(s: pd.Series, *, lenient: bool = False) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(timestamps as naive-UTC datetime64[us], mask of unreadable values, mask of missing values).

    Raises OverflowError or ValueError when a datetime column holds values outside datetime64[us]'s range."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        parsed = s if getattr(s.dt, "tz", None) is None else s.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype(TIMESTAMP_DTYPE), np.zeros(len(s), dtype=bool), s.isna().to_numpy()
    text = as_text(s)
    empty = blank(text)
    text = text.where(~empty).str.strip()
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    retry = parsed.isna().to_numpy() & ~empty
    if lenient and retry.any():
        # Only the rows ISO 8601 could not read pay for the slow per-value parser.
        parsed.loc[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy() & ~empty
    return parsed.dt.tz_localize(None).astype(TIMESTAMP_DTYPE), bad, empty


def parse_numbers(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(the column as numbers, mask of values that are not numbers); a numeric column is returned as it is."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s, np.zeros(len(s), dtype=bool)
    text = as_text(s)
    empty = blank(text)
    values = pd.to_numeric(text.where(~empty).str.strip(), errors="coerce")
    return values, values.isna().to_numpy() & ~empty


def iso_microseconds(texts: list[pa.Array]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each Arrow text array of ISO 8601 timestamps as (int64 microseconds since the epoch, UTC, `NAT_US` where not
    given; mask of unreadable values): the rules of `parse_timestamps`, read in one C pass by Arrow when it can."""
    # Arrow reads a value with an offset only as UTC and one without only as naive, so when all of them read as
    # one kind, each array alone would have read as that kind too: the same values, one call for all arrays.
    together = _arrow_microseconds(pa.concat_arrays(texts)) if len(texts) > 1 else None
    if together is None:
        return [_microseconds(text) for text in texts]
    ends = np.cumsum([len(text) for text in texts])[:-1]
    return [(us, np.zeros(len(us), dtype=bool)) for us in np.split(together, ends)]


def _microseconds(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    us = _arrow_microseconds(text)
    if us is not None:
        return us, np.zeros(len(text), dtype=bool)
    # Anything else (a mix, a date alone, a bad value) goes through the ISO 8601 reader, which also tells which
    # values are bad.
    parsed, bad, _ = parse_timestamps(pd.Series(text.to_pylist(), dtype="str"))
    return parsed.to_numpy().view(np.int64), bad


def _arrow_microseconds(text: pa.Array) -> np.ndarray | None:
    """int64 microseconds (`NAT_US` where not given) when Arrow reads every value one way, else None."""
    # Arrow reads the usual spellings in one C pass: all with an offset ("Z", "+02:00") or all without.
    for target in (_UTC_US, _NAIVE_US):
        try:
            stamps = text.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        us = stamps.view(pa.int64())  # the same buffer read as integers: no second cast
        if us.null_count:
            us = us.fill_null(NAT_US)
        return np.asarray(us.to_numpy(zero_copy_only=False), dtype=np.int64)
    return None
