"""The canonical loader: good files load unchanged; every violation is reported with file, row and column."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import empty_events
from features.io import (
    DataLoadError,
    DataValidationError,
    ForbiddenFileError,
    Problem,
    UnsupportedFormatError,
    load_events,
    load_history,
    load_history_dir,
    load_leads,
    read_table,
    write_table,
)

HEADER = "lead_id,created_at,decided_at,source,outcome,closed_at,sales_hours,deal_value,company_size"
GOOD_ROWS = [
    "L1,2024-01-01,2024-01-10,referral,won,2024-02-01,3.5,1000,10",
    "L2,2024-01-02,2024-01-11,event,lost,2024-02-02,1.0,0,20",
    "L3,2024-01-03,2024-01-12,cold_call,,,,,30",
]


def _ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"), dtype="datetime64[us]")


def good_leads() -> pd.DataFrame:
    """A frame already in canonical types, with missing values where the contract allows them."""
    return pd.DataFrame(
        {
            "lead_id": pd.Series(["007", "L2", "L3"], dtype="str"),
            "created_at": _ts("2024-01-01 09:30:00", "2024-01-02", "2024-01-03 00:00:00.123456"),
            "decided_at": _ts("2024-01-10", "2024-01-11", "2024-01-12"),
            "source": pd.Series(["referral", "event", "cold_call"], dtype="str"),
            "industry": pd.Series(["saas", None, "retail"], dtype="str"),
            "company_size": pd.Series([10, 250, 5000], dtype="int64"),
            # "NA" is Namibia, not a missing value.
            "country": pd.Series(["DE", "NA", "US"], dtype="str"),
            "job_level": pd.Series(["vp", "ic", None], dtype="str"),
            "outcome": pd.Series(["won", "lost", None], dtype="str"),
            "closed_at": _ts("2024-02-01", "2024-02-02", "NaT"),
            "sales_hours": pd.Series([3.5, 0.1 + 0.2, np.nan], dtype="float64"),
            "deal_value": pd.Series([1000.0, 0.0, np.nan], dtype="float64"),
            "crm_owner": pd.Series(["ann", "bob", "cy"], dtype="str"),
            "touches": pd.Series([1, 2, 3], dtype="int64"),
            "score": pd.Series([0.5, np.nan, 1e-9], dtype="float64"),
            "vip": pd.Series([True, False, True], dtype="bool"),
        }
    )


def good_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.Series(["007", "007", "L3"], dtype="str"),
            "ts": _ts("2024-01-01 10:00:00", "2024-01-05", "2023-12-30 23:59:59.5"),
            "event_type": pd.Series(["page_visit", "pricing_view", "webinar_attended"], dtype="str"),
            "asset": pd.Series(["/home", None, "webinar-7"], dtype="str"),
        }
    )


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def leads_csv(tmp_path: Path, rows: list[str] | None = None, header: str = HEADER) -> Path:
    return write_csv(tmp_path / "leads.csv", header, GOOD_ROWS if rows is None else rows)


def problems_of(path: Path, events_path: Path | None = None) -> list[Problem]:
    with pytest.raises(DataValidationError) as info:
        if events_path is None:
            load_leads(path)
        else:
            load_history(path, events_path)
    return info.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


# ------------------------------------------------------------------------------------------- good files


@pytest.mark.parametrize("name", ["leads.csv", "leads.parquet", "leads.pq"])
def test_good_leads_load_unchanged(tmp_path: Path, name: str) -> None:
    original = good_leads()
    write_table(original, tmp_path / name)
    loaded = load_leads(tmp_path / name)
    pd.testing.assert_frame_equal(loaded, original)


@pytest.mark.parametrize("name", ["events.csv", "events.parquet"])
def test_good_events_load_unchanged(tmp_path: Path, name: str) -> None:
    write_table(good_leads(), tmp_path / "leads.csv")
    write_table(good_events(), tmp_path / name)
    events, dropped = load_events(tmp_path / name, load_leads(tmp_path / "leads.csv"))
    assert dropped == 0
    pd.testing.assert_frame_equal(events, good_events())


def test_header_only_file_loads_typed_and_empty(tmp_path: Path) -> None:
    leads = load_leads(leads_csv(tmp_path, rows=[]))
    assert len(leads) == 0
    assert str(leads["created_at"].dtype) == "datetime64[us]"
    assert leads["lead_id"].dtype == "str"
    assert leads["sales_hours"].dtype == "float64"


def test_timezones_are_converted_to_naive_utc(tmp_path: Path) -> None:
    rows = [
        "L1,2024-01-01T10:00:00+02:00,2024-01-02T00:00:00Z,referral,,,,,1",
        "L2,2024-01-01 10:00:00,2024-01-02T00:30:00-01:00,event,,,,,1",
    ]
    leads = load_leads(leads_csv(tmp_path, rows))
    assert leads["created_at"].tolist() == [
        pd.Timestamp("2024-01-01 08:00"),
        pd.Timestamp("2024-01-01 10:00"),
    ]
    assert leads["decided_at"].tolist() == [
        pd.Timestamp("2024-01-02 00:00"),
        pd.Timestamp("2024-01-02 01:30"),
    ]
    assert str(leads["created_at"].dtype) == "datetime64[us]"


def test_parquet_tz_aware_nanosecond_timestamps_and_integer_ids_are_canonicalised(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "lead_id": [1, 2],
            "created_at": pd.to_datetime(["2024-01-01T10:00:00+02:00"] * 2, utc=True).as_unit("ns"),
            "decided_at": pd.to_datetime(["2024-01-02", "2024-01-03"]).as_unit("ms"),
            "source": pd.Categorical(["referral", "event"]),
        }
    )
    frame.to_parquet(tmp_path / "leads.parquet")
    leads = load_leads(tmp_path / "leads.parquet")
    assert leads["lead_id"].tolist() == ["1", "2"]
    assert leads["lead_id"].dtype == "str"
    assert leads["source"].dtype == "str"
    assert str(leads["created_at"].dtype) == "datetime64[us]"
    assert leads["created_at"].tolist() == [pd.Timestamp("2024-01-01 08:00")] * 2


def test_parquet_saved_with_its_index_gets_the_index_back_as_a_column(tmp_path: Path) -> None:
    good_leads().set_index("lead_id").to_parquet(tmp_path / "leads.parquet")
    leads = load_leads(tmp_path / "leads.parquet")
    assert leads["lead_id"].tolist() == ["007", "L2", "L3"]
    assert isinstance(leads.index, pd.RangeIndex)


def test_outcome_is_case_insensitive_and_normalised(tmp_path: Path) -> None:
    rows = [
        "L1,2024-01-01,2024-01-10,referral,WON,2024-02-01,,,",
        "L2,2024-01-01,2024-01-10,referral, Lost ,2024-02-01,,,",
        "L3,2024-01-01,2024-01-10,referral,  ,,,,",
    ]
    leads = load_leads(leads_csv(tmp_path, rows))
    assert leads["outcome"].tolist()[:2] == ["won", "lost"]
    assert pd.isna(leads["outcome"].iloc[2])


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_write_is_deterministic(tmp_path: Path, name: str) -> None:
    write_table(good_leads(), tmp_path / "a" / name)
    write_table(good_leads().copy(), tmp_path / "b" / name)
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert [p.name for p in (tmp_path / "a").iterdir()] == [name]  # no temporary file left behind


# ------------------------------------------------------------------------------------------ violations

CASES = [
    # (rows or header change, column, message fragment, rows, lines)
    ("L1,not-a-date,2024-01-10,referral,,,,,1", "created_at", "unparseable timestamp", (1,), (2,)),
    ("L1,,2024-01-10,referral,,,,,1", "created_at", "missing timestamp", (1,), (2,)),
    ("L1,2024-01-01,2024-13-45,referral,,,,,1", "decided_at", "unparseable timestamp", (1,), (2,)),
    ("L1,2024-01-10,2024-01-01,referral,,,,,1", "decided_at", "decided_at before created_at", (1,), (2,)),
    (
        "L1,2024-01-10,2024-01-11,referral,won,2024-01-01,,,1",
        "closed_at",
        "closed_at before created_at",
        (1,),
        (2,),
    ),
    (
        "L1,2024-01-10,2024-01-11,referral,won,,,,1",
        "closed_at",
        "outcome is set but closed_at is empty",
        (1,),
        (2,),
    ),
    ("L1,2024-01-10,2024-01-11,referral,maybe,,,,1", "outcome", "unknown outcome", (1,), (2,)),
    ("L1,2024-01-10,2024-01-11,referral,,,-2,,1", "sales_hours", "negative value", (1,), (2,)),
    ("L1,2024-01-10,2024-01-11,referral,,,,-5,1", "deal_value", "negative value", (1,), (2,)),
    ("L1,2024-01-10,2024-01-11,referral,,,three,,1", "sales_hours", "not a number", (1,), (2,)),
    ('L1,2024-01-10,2024-01-11,referral,,,,"1,000",1', "deal_value", "not a number", (1,), (2,)),
    ("L1,2024-01-10,2024-01-11,referral,,,inf,,1", "sales_hours", "not a number", (1,), (2,)),
    ("L1,2024-01-10,2024-01-11,referral,,,,,ten", "company_size", "not a number", (1,), (2,)),
    ("L1,2024-01-10,2024-01-11,,,,,,1", "source", "empty source", (1,), (2,)),
    ("  ,2024-01-10,2024-01-11,referral,,,,,1", "lead_id", "empty lead_id", (1,), (2,)),
]


@pytest.mark.parametrize(("row", "column", "fragment", "rows", "lines"), CASES)
def test_each_violation_names_file_row_and_column(
    tmp_path: Path, row: str, column: str, fragment: str, rows: tuple[int, ...], lines: tuple[int, ...]
) -> None:
    path = leads_csv(tmp_path, [row])
    problem = only_problem(path)
    assert (problem.file, problem.column, problem.rows, problem.lines, problem.count) == (
        str(path),
        column,
        rows,
        lines,
        1,
    )
    assert fragment in problem.message
    text = str(problem)
    assert str(path) in text and f"'{column}'" in text and "row 1 (line 2)" in text


def test_duplicate_lead_ids_name_every_row_involved(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, GOOD_ROWS[0].replace("L1,", "L2,", 1)]
    problem = only_problem(leads_csv(tmp_path, rows))
    assert problem.column == "lead_id" and "duplicate" in problem.message
    assert problem.rows == (2, 4) and problem.values == ("'L2'", "'L2'")


def test_missing_required_column_is_named_with_a_hint(tmp_path: Path) -> None:
    header = HEADER.replace("source", "Source")
    problem = only_problem(leads_csv(tmp_path, header=header))
    assert problem.column == "source"
    assert "required column is missing" in problem.message and "'Source'" in problem.message
    assert problem.rows == () and problem.count == 0


def test_outcome_without_closed_at_column(tmp_path: Path) -> None:
    header = "lead_id,created_at,decided_at,source,outcome"
    rows = ["L1,2024-01-01,2024-01-02,event,won", "L2,2024-01-01,2024-01-02,event,"]
    problem = only_problem(leads_csv(tmp_path, rows, header=header))
    assert problem.column == "closed_at" and problem.rows == (1,)


def test_ground_truth_columns_in_leads_are_refused(tmp_path: Path) -> None:
    frame = good_leads().assign(p_close=0.3)
    write_table(frame, tmp_path / "leads.parquet")
    problem = only_problem(tmp_path / "leads.parquet")
    assert problem.column == "p_close" and "ground truth" in problem.message


def test_several_violations_are_reported_together(tmp_path: Path) -> None:
    rows = [
        "L1,2024-01-01,2024-01-10,referral,won,2024-02-01,3.5,1000,10",
        "L1,yesterday,2024-01-10,referral,Closed Won,,-1,,abc",
        "L3,2024-01-03,2024-01-01,cold_call,,,,,30",
    ]
    path = leads_csv(tmp_path, rows)
    problems = problems_of(path)
    found = {(p.column, p.rows) for p in problems}
    assert found == {
        ("lead_id", (1, 2)),
        ("created_at", (2,)),
        ("outcome", (2,)),
        ("sales_hours", (2,)),
        ("company_size", (2,)),
        ("decided_at", (3,)),
    }
    with pytest.raises(DataValidationError) as info:
        load_leads(path)
    report = str(info.value)
    assert report.startswith(f"6 data problems in {path}:")
    assert len(report.splitlines()) == 7
    assert "row 2 (line 3) 'yesterday'" in report


def test_many_bad_rows_give_examples_and_a_count(tmp_path: Path) -> None:
    rows = [f"L{i},2024-01-01,2024-01-02,event,,,-{i},,1" for i in range(1, 13)]
    problem = only_problem(leads_csv(tmp_path, rows))
    assert problem.count == 12
    assert problem.rows == (1, 2, 3, 4, 5)
    assert "12 rows, first: row 1 (line 2) '-1'" in str(problem)


def test_csv_line_numbers_account_for_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "lead_id,created_at,decided_at,source,note\n"
        '\nL1,2024-01-01,2024-01-02,event,"two\nlines"\n'
        "L2,2024-01-01,2024-01-02,event,x\n"
        "\n"
        "L3,bad,2024-01-02,event,x\n",
        encoding="utf-8",
    )
    problem = only_problem(path)
    assert problem.rows == (3,) and problem.lines == (7,)


def test_parquet_problems_give_rows_but_no_lines(tmp_path: Path) -> None:
    frame = good_leads()
    frame.loc[2, "sales_hours"] = -1.0
    write_table(frame, tmp_path / "leads.parquet")
    problem = only_problem(tmp_path / "leads.parquet")
    assert problem.column == "sales_hours" and problem.rows == (3,) and problem.lines == ()
    assert "row 3 '-1.0'" in str(problem)


EVENT_HEADER = "lead_id,ts,event_type,asset"


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("L1,someday,page_visit,", "ts", "unparseable timestamp"),
        ("L1,,page_visit,", "ts", "missing timestamp"),
        ("L1,2024-01-05,,x", "event_type", "missing event_type"),
        ("L1,2024-01-05, ,x", "event_type", "missing event_type"),
    ],
)
def test_event_violations(tmp_path: Path, row: str, column: str, fragment: str) -> None:
    leads = load_leads(leads_csv(tmp_path))
    path = write_csv(tmp_path / "events.csv", EVENT_HEADER, ["L1,2024-01-04,page_visit,", row])
    with pytest.raises(DataValidationError) as info:
        load_events(path, leads)
    [problem] = info.value.problems
    assert (problem.file, problem.column, problem.rows, problem.lines) == (str(path), column, (2,), (3,))
    assert fragment in problem.message


def test_missing_event_columns_are_named(tmp_path: Path) -> None:
    leads = load_leads(leads_csv(tmp_path))
    path = write_csv(tmp_path / "events.csv", "lead_id,when", ["L1,2024-01-04"])
    with pytest.raises(DataValidationError) as info:
        load_events(path, leads)
    assert {p.column for p in info.value.problems} == {"ts", "event_type"}


def test_history_reports_leads_and_events_problems_together(tmp_path: Path) -> None:
    leads = leads_csv(tmp_path, ["L1,2024-01-01,2024-01-02,event,won,,,,1"])
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, ["L1,nope,page_visit,"])
    problems = problems_of(leads, events)
    assert {(p.file, p.column) for p in problems} == {(str(leads), "closed_at"), (str(events), "ts")}


# ------------------------------------------------------------------------------ unknown leads, history


def test_events_of_unknown_leads_are_dropped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    leads = load_leads(leads_csv(tmp_path))
    rows = [
        "L1,2024-01-04,page_visit,",
        "GHOST,2024-01-04,page_visit,",
        ",2024-01-04,email_click,",
        "L3,2024-01-04,x,",
    ]
    path = write_csv(tmp_path / "events.csv", EVENT_HEADER, rows)
    with caplog.at_level(logging.WARNING, logger="features.io"):
        events, dropped = load_events(path, leads)
    assert dropped == 2
    assert events["lead_id"].tolist() == ["L1", "L3"]
    assert isinstance(events.index, pd.RangeIndex)
    assert "dropped 2 events" in caplog.text and "1 of them without a lead_id" in caplog.text


def test_load_history_collects_warnings(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, "L4,2024-01-01,2024-01-10,event,lost,2024-01-05,,,1"]
    leads = leads_csv(tmp_path, rows)
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, ["L1,2024-01-04,page_visit,", "X,2024-01-04,a,"])
    history = load_history(leads, events)
    assert history.dropped_events == 1 and len(history.events) == 1
    assert len(history.warnings) == 2
    assert "closed_at before decided_at" in history.warnings[0]
    assert "dropped 1 events" in history.warnings[1]
    assert len(history.batch()) == 4


def test_history_without_events_has_canonical_empty_events(tmp_path: Path) -> None:
    history = load_history(leads_csv(tmp_path))
    pd.testing.assert_frame_equal(history.events, empty_events())
    assert history.warnings == [] and history.dropped_events == 0


def test_history_dir_finds_tables(tmp_path: Path) -> None:
    write_table(good_leads(), tmp_path / "leads.parquet")
    history = load_history_dir(tmp_path)
    assert len(history.events) == 0
    write_table(good_events(), tmp_path / "events.csv")
    history = load_history_dir(tmp_path)
    pd.testing.assert_frame_equal(history.leads, good_leads())
    pd.testing.assert_frame_equal(history.events, good_events())


def test_history_dir_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataLoadError, match=r"no leads table .* found notes\.txt"):
        load_history_dir(tmp_path)
    write_table(good_leads(), tmp_path / "leads.csv")
    write_table(good_leads(), tmp_path / "leads.parquet")
    with pytest.raises(DataLoadError, match=r"both leads\.csv and leads\.parquet"):
        load_history_dir(tmp_path)
    with pytest.raises(DataLoadError, match="directory not found"):
        load_history_dir(tmp_path / "nope")


# ------------------------------------------------------------------------------------ refusals, errors


@pytest.mark.parametrize("name", ["truth.csv", "truth.parquet", "Truth.CSV"])
def test_truth_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_table(pd.DataFrame({"lead_id": ["L1"], "p_close": [0.2]}), path)
    with pytest.raises(ForbiddenFileError, match="ground truth"):
        load_leads(path)
    leads = load_leads(leads_csv(tmp_path))
    with pytest.raises(ForbiddenFileError):
        load_events(path, leads)
    with pytest.raises(ForbiddenFileError):
        load_history(tmp_path / "leads.csv", path)


@pytest.mark.parametrize("name", ["leads.xlsx", "leads.json", "leads", "leads.csv.gz"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("lead_id\nL1\n")
    with pytest.raises(UnsupportedFormatError, match=r"unsupported file type .*use \.csv, \.parquet or \.pq"):
        read_table(path)
    with pytest.raises(UnsupportedFormatError):
        load_leads(path)
    with pytest.raises(UnsupportedFormatError):
        write_table(good_leads(), path)


def test_unreadable_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="file not found"):
        load_leads(tmp_path / "leads.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataLoadError, match="the file is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "latin.csv").write_bytes("lead_id,city\nL1,K\xf6ln\n".encode("latin-1"))
    with pytest.raises(DataLoadError, match="not UTF-8"):
        read_table(tmp_path / "latin.csv")
    (tmp_path / "dup.csv").write_text("lead_id,source,source\nL1,a,b\n")
    with pytest.raises(DataLoadError, match="duplicate column names in the header: source"):
        read_table(tmp_path / "dup.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataLoadError, match="not a readable Parquet file"):
        read_table(tmp_path / "bad.parquet")


def test_validation_error_is_a_value_error_with_structured_problems(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        load_leads(leads_csv(tmp_path, ["L1,x,2024-01-01,event,,,,,1"]))
    assert isinstance(info.value, DataValidationError)
    [problem] = info.value.problems
    assert problem == Problem(
        file=str(tmp_path / "leads.csv"),
        column="created_at",
        message=problem.message,
        rows=(1,),
        count=1,
        lines=(2,),
        values=("'x'",),
    )


def test_as_of_is_parsed_as_a_timestamp_and_checked(tmp_path: Path) -> None:
    header = "lead_id,created_at,decided_at,source,as_of"
    leads = load_leads(leads_csv(tmp_path, ["L1,2024-01-01,2024-01-09,event,2024-01-05T12:00:00Z"], header))
    assert leads["as_of"].tolist() == [pd.Timestamp("2024-01-05 12:00")]
    problem = only_problem(leads_csv(tmp_path, ["L1,2024-01-01,2024-01-09,event,soon"], header))
    assert problem.column == "as_of" and "unparseable timestamp" in problem.message


def test_validation_error_survives_pickling(tmp_path: Path) -> None:
    import pickle

    with pytest.raises(DataValidationError) as info:
        load_leads(leads_csv(tmp_path, ["L1,x,2024-01-01,event,,,,,1"]))
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.problems == info.value.problems and str(copy) == str(info.value)
