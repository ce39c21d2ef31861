"""The shared parsing rules for text, timestamps and numbers (`features.parsing`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.parsing import as_text, blank, iso_microseconds, parse_numbers, parse_timestamps


def test_text_keeps_missing_and_drops_the_point_zero_of_whole_numbers() -> None:
    assert as_text(pd.Series([1.0, 20.0, None])).tolist()[:2] == ["1", "20"]
    assert pd.isna(as_text(pd.Series([1.0, None])).iloc[1])
    assert as_text(pd.Series([1.5, 2.0])).tolist() == ["1.5", "2.0"]
    assert as_text(pd.Series([True, False])).tolist() == ["true", "false"]


def test_blank_cells_are_missing_empty_or_whitespace() -> None:
    assert blank(pd.Series(["a", "", "  ", None, " b "], dtype="str")).tolist() == [False, True, True, True, False]


def test_timestamps_read_iso_8601_as_naive_utc() -> None:
    s = pd.Series(["2026-09-30T12:00:00+02:00", "2026-09-30", " 2026-09-30T10:00:00Z ", "", None, "tomorrow"])
    parsed, bad, empty = parse_timestamps(s)
    assert parsed.dtype == np.dtype("datetime64[us]")
    assert parsed.iloc[0] == pd.Timestamp("2026-09-30T10:00:00") == parsed.iloc[2]
    assert parsed.iloc[1] == pd.Timestamp("2026-09-30")
    assert bad.tolist() == [False, False, False, False, False, True]
    assert empty.tolist() == [False, False, False, True, True, False]


def test_lenient_timestamps_read_other_spellings_value_by_value() -> None:
    s = pd.Series(["2026-09-30T10:00:00Z", "30 Sep 2026 10:00", "no date"])
    _, strict_bad, _ = parse_timestamps(s)
    lenient, lenient_bad, _ = parse_timestamps(s, lenient=True)
    assert strict_bad.tolist() == [False, True, True]
    assert lenient_bad.tolist() == [False, False, True]
    assert lenient.iloc[1] == pd.Timestamp("2026-09-30T10:00:00")


def test_datetime_columns_are_converted_not_parsed() -> None:
    aware = pd.Series(pd.to_datetime(["2026-01-01T12:00:00+01:00", None], utc=True))
    parsed, bad, empty = parse_timestamps(aware)
    assert parsed.iloc[0] == pd.Timestamp("2026-01-01T11:00:00") and not bad.any() and empty.tolist() == [False, True]


def test_numbers_from_text_report_what_is_not_a_number() -> None:
    values, bad = parse_numbers(pd.Series([" 12 ", "3.5", "", None, "n/a"], dtype="str"))
    assert values.tolist()[:2] == [12.0, 3.5] and values.iloc[2:].isna().all()
    assert bad.tolist() == [False, False, False, False, True]
    numeric, none_bad = parse_numbers(pd.Series([1, 2, 3]))
    assert numeric.dtype == np.int64 and not none_bad.any()


@pytest.mark.parametrize(
    "values",
    [
        ["2026-09-20T10:00:00Z", "2026-09-20T12:00:00+02:00", None],
        ["2026-09-20T10:00:00", "2026-09-20 10:00:00.123456", None],
        ["2026-09-20T10:00:00Z", "2026-09-20T10:00:00", "2026-09-20"],
        ["0001-01-01T00:00:00", "9999-12-31T23:59:59Z"],
    ],
)
def test_timestamp_reading_agrees_with_pandas(values: list[str | None]) -> None:
    [(us, bad)] = iso_microseconds([pa.array(values, type=pa.large_string())])
    expected = pd.to_datetime(pd.Series(values, dtype="str"), utc=True, format="ISO8601").dt.tz_localize(None)
    expected_us = expected.astype("datetime64[us]").to_numpy().view(np.int64)
    assert not bad.any()
    np.testing.assert_array_equal(us, expected_us)


def test_unreadable_timestamps_are_flagged() -> None:
    values = ["2026-09-20T10:00:00Z", "2026-09-31", "2026-09-20T10:00:00+99:00", None]
    [(_, bad)] = iso_microseconds([pa.array(values, type=pa.large_string())])
    assert bad.tolist() == [False, True, True, False]
