"""Dataset specs: mapping a foreign CRM export onto the canonical contract, and every way a spec is wrong."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import (
    CLOSED_AT,
    CREATED_AT,
    DEAL_VALUE,
    DECIDED_AT,
    LEAD_ID,
    OUTCOME,
    SALES_HOURS,
    SOURCE,
    TIMESTAMP_DTYPE,
)
from features.spec import (
    ROW_ORDER,
    DatasetSpec,
    LeadsSpec,
    SpecError,
    load_dataset,
    load_spec,
)

REPO = Path(__file__).resolve().parents[2]
BANK_SPEC = REPO / "examples" / "bank-marketing.toml"

LEADS_CSV = """\
ref,signup,channel,y,job,age,zip,notes,duration
A1,2024-01-03,web,yes,admin.,34,01234,hello,120
A2,2024-01-05 10:30:00,call,no,unknown,unknown,02000,Select,30
A3,2024-02-01T08:00:00+02:00,,,technician,51,03100,,45
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec_file(tmp_path: Path, body: str, leads_csv: str | None = LEADS_CSV, name: str = "spec.toml") -> Path:
    if leads_csv is not None:
        write(tmp_path, "leads.csv", leads_csv)
    return write(tmp_path, name, body)


def problems_of(spec: Path | DatasetSpec) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_dataset(spec)
    return info.value.problems


def one_problem(spec: Path | DatasetSpec, *needles: str) -> str:
    """The single problem that mentions every needle (fails when none or several do)."""
    found = [p for p in problems_of(spec) if all(n in p for n in needles)]
    assert len(found) == 1, f"expected one problem mentioning {needles}, got {found}"
    return found[0]


FULL_SPEC = """\
[leads]
path = "leads.csv"
id = "ref"
target = "y"
created_at = "signup"
source = "channel"
categorical = ["zip"]
exclude = ["duration", "notes"]
missing = ["unknown", "Select"]
"""


# ----------------------------------------------------------------------------------------------------
# The happy path on a tiny hand-written export


def test_full_spec_maps_onto_the_canonical_contract(tmp_path: Path) -> None:
    ds = load_dataset(spec_file(tmp_path, FULL_SPEC))
    leads = ds.batch.leads
    assert list(leads.columns) == [
        LEAD_ID,
        CREATED_AT,
        DECIDED_AT,
        SOURCE,
        OUTCOME,
        CLOSED_AT,
        "job",
        "age",
        "zip",
    ]
    assert leads[LEAD_ID].tolist() == ["A1", "A2", "A3"]
    assert leads[LEAD_ID].dtype == "str"
    assert leads[CREATED_AT].dtype == TIMESTAMP_DTYPE
    # Naive times are UTC; an offset is converted to UTC.
    assert leads[CREATED_AT].tolist() == [
        pd.Timestamp("2024-01-03"),
        pd.Timestamp("2024-01-05 10:30"),
        pd.Timestamp("2024-02-01 06:00"),
    ]
    assert leads[DECIDED_AT].equals(leads[CREATED_AT])
    # The empty source cell becomes "unknown", like a spec without a source column.
    assert leads[SOURCE].tolist() == ["web", "call", "unknown"]
    assert leads[OUTCOME].tolist()[:2] == ["won", "lost"]
    assert pd.isna(leads[OUTCOME].iloc[2])
    # Without a closed_at column nothing says when a deal closed: unknown, not the creation time.
    assert leads[CLOSED_AT].isna().all()
    assert leads[CLOSED_AT].dtype == TIMESTAMP_DTYPE
    assert ds.ordering == "time"
    assert ds.categorical == ["job", "zip"]
    assert ds.numeric == ["age"]
    assert not ds.has_effort and not ds.has_value
    assert ds.batch.events.empty
    assert list(ds.batch.events.columns) == ["lead_id", "ts", "event_type", "asset"]


def test_missing_markers_become_na_and_keep_a_numeric_column_numeric(tmp_path: Path) -> None:
    leads = load_dataset(spec_file(tmp_path, FULL_SPEC)).batch.leads
    assert pd.isna(leads["job"].iloc[1])  # "unknown"
    assert leads["job"].dtype == "str"
    # "unknown" in a column of numbers is a missing number, not a reason to make the column text.
    assert leads["age"].dtype == "float64"
    assert leads["age"].iloc[[0, 2]].tolist() == [34.0, 51.0]
    assert np.isnan(leads["age"].iloc[1])


def test_excluded_columns_are_dropped(tmp_path: Path) -> None:
    ds = load_dataset(spec_file(tmp_path, FULL_SPEC))
    assert "duration" not in ds.batch.leads.columns
    assert "notes" not in ds.batch.leads.columns
    assert "duration" not in ds.numeric
    assert "notes" not in ds.categorical


def test_role_columns_never_appear_as_attributes(tmp_path: Path) -> None:
    ds = load_dataset(spec_file(tmp_path, FULL_SPEC))
    for role in ("ref", "signup", "channel", "y"):
        assert role not in ds.batch.leads.columns
        assert role not in ds.categorical + ds.numeric


def test_explicit_categorical_keeps_the_spelling_of_codes(tmp_path: Path) -> None:
    leads = load_dataset(spec_file(tmp_path, FULL_SPEC)).batch.leads
    assert leads["zip"].tolist() == ["01234", "02000", "03100"]


def test_inference_without_lists(tmp_path: Path) -> None:
    csv = "y,score,size,city,flag,blank\n1,0.5,10,Oslo,true,\n0,1.5,20,Rome,false,\n1,,30,Oslo,true,\n"
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\n', csv))
    assert ds.numeric == ["score", "size"]
    assert ds.categorical == ["city", "flag"]
    leads = ds.batch.leads
    assert leads["size"].dtype == "int64"
    assert leads["score"].dtype == "float64"
    assert leads["flag"].tolist() == ["true", "false", "true"]
    # A column with no value at all carries nothing: left out, and the user is told.
    assert "blank" not in leads.columns
    assert any("blank" in note for note in ds.notes)
    assert any("inferred" in note and "city" in note for note in ds.notes)


def test_explicit_lists_win_over_inference(tmp_path: Path) -> None:
    csv = "y,size,code,level\n1,10,7,3\n0,20,8,4\n"
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\ncategorical = ["code"]\nnumeric = ["level"]\n'
    ds = load_dataset(spec_file(tmp_path, body, csv))
    assert ds.categorical == ["code"]
    assert ds.numeric == ["size", "level"]
    assert ds.batch.leads["code"].tolist() == ["7", "8"]


@pytest.mark.parametrize(
    ("won", "lost"),
    [
        ("1", "0"),
        ("true", "false"),
        ("TRUE", "False"),
        ("yes", "no"),
        ("Yes", "NO"),
        ("won", "lost"),
        ("WON", "Lost"),
    ],
)
def test_target_forms(tmp_path: Path, won: str, lost: str) -> None:
    csv = f"y,x\n{won},a\n{lost},b\n,c\n {won} ,d\n"
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\n', csv))
    outcome = ds.batch.leads[OUTCOME]
    assert outcome.dtype == "str"
    assert outcome.iloc[[0, 1, 3]].tolist() == ["won", "lost", "won"]
    assert pd.isna(outcome.iloc[2])  # empty = open
    # No time column: nothing can say when a lead closed.
    assert ds.batch.leads[CLOSED_AT].isna().all()


def test_target_bool_and_float_columns_in_parquet(tmp_path: Path) -> None:
    pd.DataFrame({"won": [True, False], "w": [1.0, np.nan], "x": ["a", "b"]}).to_parquet(tmp_path / "l.parquet")
    body = '[leads]\npath = "l.parquet"\ntarget = "won"\nexclude = ["w"]\n'
    assert load_dataset(spec_file(tmp_path, body, None)).batch.leads[OUTCOME].tolist() == ["won", "lost"]
    body = '[leads]\npath = "l.parquet"\ntarget = "w"\nexclude = ["won"]\n'
    outcome = load_dataset(spec_file(tmp_path, body, None)).batch.leads[OUTCOME]
    assert outcome.iloc[0] == "won" and pd.isna(outcome.iloc[1])


def test_parquet_leads_with_missing_markers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": [10, 11, 12],
            "y": ["no", "yes", "no"],
            "age": ["30", "unknown", "41"],
            "job": ["admin", "unknown", "it"],
            "size": [5, 6, 7],
        }
    )
    frame.to_parquet(tmp_path / "leads.parquet")
    body = '[leads]\npath = "leads.parquet"\nid = "id"\ntarget = "y"\nmissing = ["unknown"]\nsep = ";"\n'
    ds = load_dataset(spec_file(tmp_path, body, None))
    leads = ds.batch.leads
    assert leads[LEAD_ID].tolist() == ["10", "11", "12"]
    assert ds.numeric == ["age", "size"]
    assert ds.categorical == ["job"]
    assert np.isnan(leads["age"].iloc[1]) and leads["age"].iloc[2] == 41
    assert pd.isna(leads["job"].iloc[1])
    assert any("sep is ignored" in note for note in ds.notes)


def test_row_order_and_row_number_ids(tmp_path: Path) -> None:
    csv = "y,x\nno,a\nyes,b\nno,c\n"
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\norder = "row"\n', csv))
    leads = ds.batch.leads
    assert ds.ordering == "row"
    assert leads[ROW_ORDER].tolist() == [0, 1, 2]
    assert leads[ROW_ORDER].dtype == "int64"
    assert leads[LEAD_ID].tolist() == ["1", "2", "3"]
    assert leads[CREATED_AT].isna().all() and leads[DECIDED_AT].isna().all()
    assert leads[SOURCE].tolist() == ["unknown"] * 3
    assert any("row_order" in note for note in ds.notes)


def test_no_time_information_falls_back_to_random_split(tmp_path: Path) -> None:
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\n', "y,x\n1,a\n0,b\n"))
    assert ds.ordering == "none"
    assert ROW_ORDER not in ds.batch.leads.columns
    assert any("stratified random split" in note for note in ds.notes)


def test_no_target_means_every_lead_is_open(tmp_path: Path) -> None:
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.csv"\n', "x\na\nb\n"))
    assert ds.batch.leads[OUTCOME].isna().all()
    assert any("no target" in note for note in ds.notes)


def test_effort_and_value(tmp_path: Path) -> None:
    csv = "y,hours,amount,x\nyes,12.5,1000,a\nno,3,,b\n"
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\neffort = "hours"\nvalue = "amount"\n'
    ds = load_dataset(spec_file(tmp_path, body, csv))
    leads = ds.batch.leads
    assert ds.has_effort and ds.has_value
    assert leads[SALES_HOURS].tolist() == [12.5, 3.0]
    assert leads[DEAL_VALUE].iloc[0] == 1000.0 and np.isnan(leads[DEAL_VALUE].iloc[1])
    assert "hours" not in ds.numeric and "amount" not in ds.numeric


def test_programmatic_spec_resolves_against_its_base_dir(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", "y,x\n1,a\n0,b\n")
    spec = DatasetSpec(leads=LeadsSpec(path="leads.csv", target="y")).with_base_dir(tmp_path)
    assert len(load_dataset(spec).batch) == 2


def test_tsv_file_uses_tab_by_default(tmp_path: Path) -> None:
    write(tmp_path, "leads.tsv", "y\tx\nyes\ta\nno\tb\n")
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.tsv"\ntarget = "y"\n', None))
    assert ds.categorical == ["x"]


def test_multi_character_separator(tmp_path: Path) -> None:
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\nsep = "::"\n'
    ds = load_dataset(spec_file(tmp_path, body, "y::x::n\nyes::a::1\nno::b::2\n"))
    assert ds.categorical == ["x"] and ds.numeric == ["n"]


# ----------------------------------------------------------------------------------------------------
# Events


EVENTS_CSV = """\
who,when,what,doc
A1,2024-01-01 09:00,page_visit,home
A1,2024-01-02 09:00,pricing_view,
A3,2024-01-20,webinar_attended,intro
ZZ,2024-01-20,page_visit,home
"""


def test_spec_with_events_table(tmp_path: Path) -> None:
    write(tmp_path, "events.csv", EVENTS_CSV)
    body = FULL_SPEC + '[events]\npath = "events.csv"\nlead_id = "who"\nts = "when"\ntype = "what"\nasset = "doc"\n'
    ds = load_dataset(spec_file(tmp_path, body))
    events = ds.batch.events
    assert list(events.columns) == ["lead_id", "ts", "event_type", "asset"]
    # The event of an unknown lead is dropped, and the user is told.
    assert events["lead_id"].tolist() == ["A1", "A1", "A3"]
    assert any("not in the leads file: 1" in note for note in ds.notes)
    assert events["ts"].dtype == TIMESTAMP_DTYPE
    assert events["ts"].iloc[0] == pd.Timestamp("2024-01-01 09:00")
    assert events["event_type"].tolist() == ["page_visit", "pricing_view", "webinar_attended"]
    assert pd.isna(events["asset"].iloc[1])
    assert events["lead_id"].dtype == "str" and events["event_type"].dtype == "str"


def test_events_with_canonical_column_names_need_only_a_path(tmp_path: Path) -> None:
    write(tmp_path, "ev.csv", "lead_id,ts,event_type\nA2,2024-01-04,email_click\n")
    ds = load_dataset(spec_file(tmp_path, FULL_SPEC + '[events]\npath = "ev.csv"\n'))
    assert ds.batch.events["lead_id"].tolist() == ["A2"]
    assert ds.batch.events["asset"].isna().all()


def test_events_problems(tmp_path: Path) -> None:
    write(tmp_path, "events.csv", "who,when,what\nA1,not a date,page_visit\nA2,2024-01-01,\n")
    body = FULL_SPEC + '[events]\npath = "events.csv"\nlead_id = "who"\nts = "when"\ntype = "kind"\n'
    spec = spec_file(tmp_path, body)
    problem = one_problem(spec, "[events] type")
    assert "'kind'" in problem and "not found" in problem
    body = FULL_SPEC + '[events]\npath = "events.csv"\nlead_id = "who"\nts = "when"\ntype = "what"\n'
    spec = spec_file(tmp_path, body)
    assert "row 1" in one_problem(spec, "[events] ts", "'when'", "not dates")
    assert "row 2" in one_problem(spec, "[events] type", "'what'", "empty")


def test_events_need_a_lead_id_column(tmp_path: Path) -> None:
    write(tmp_path, "ev.csv", "lead_id,ts,event_type\n1,2024-01-04,email_click\n")
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\n[events]\npath = "ev.csv"\n')
    assert "events" in one_problem(spec, "[leads] id", "required")


# ----------------------------------------------------------------------------------------------------
# Every spec problem names the key and the column


def test_unknown_column_suggests_close_matches(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, FULL_SPEC.replace('target = "y"', 'target = "Y"').replace('"zip"', '"zipp"'))
    assert "did you mean 'y'?" in one_problem(spec, "[leads] target", "column 'Y'", "not found in leads.csv")
    assert "did you mean 'zip'?" in one_problem(spec, "[leads] categorical", "column 'zipp'", "not found")


def test_unknown_column_without_a_close_match(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, FULL_SPEC.replace('exclude = ["duration"', 'exclude = ["qqqqqq"'))
    problem = one_problem(spec, "[leads] exclude", "column 'qqqqqq'", "not found")
    assert "did you mean" not in problem


def test_unrecognisable_target_values_are_named_with_counts(tmp_path: Path) -> None:
    csv = "y,x\nyes,a\nmaybe,b\nmaybe,c\npending,d\nno,e\n"
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\n', csv)
    problem = one_problem(spec, "[leads] target", "column 'y'", "not recognisable as won/lost")
    assert "'maybe' (2 rows)" in problem
    assert "'pending' (1 row)" in problem
    assert "'yes'" not in problem


def test_created_at_and_order_together(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, FULL_SPEC + 'order = "row"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert any("created_at" in p and "order" in p and "'signup'" in p for p in info.value.problems)


def test_order_accepts_only_row(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\norder = "time"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert info.value.problems == ["[leads] order: the only accepted value is \"row\" (got 'time')"]


@pytest.mark.parametrize(
    ("extra", "keys"),
    [
        ('numeric = ["zip"]\n', "[leads] categorical / numeric"),
        ('categorical = ["duration"]\n', "[leads] categorical / exclude"),
        ('categorical = ["job", "job"]\n', "[leads] categorical"),
        ('categorical = ["y"]\n', "[leads] target / categorical"),
    ],
)
def test_column_listed_twice(tmp_path: Path, extra: str, keys: str) -> None:
    base = FULL_SPEC.replace('categorical = ["zip"]\n', "")
    if "categorical" not in extra:
        base = FULL_SPEC
    spec = spec_file(tmp_path, base + extra)
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert any(p.startswith(keys + ":") and "listed" in p for p in info.value.problems), info.value.problems


def test_unknown_keys_suggest_the_right_one(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, FULL_SPEC + 'seperator = ";"\n[lead]\npath = "x.csv"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    problems = info.value.problems
    assert any(p.startswith("unknown key [leads] seperator") and "'sep'" in p for p in problems), problems
    assert any("'lead'" in p and "'leads'" in p for p in problems), problems


def test_missing_path_and_missing_leads_table(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, '[leads]\ntarget = "y"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert info.value.problems == ["[leads] path: required key is missing"]
    spec = spec_file(tmp_path, '[events]\npath = "e.csv"\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert any("missing table [leads]" in p for p in info.value.problems)


def test_wrong_value_types(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ncategorical = "job"\ntarget = 3\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    problems = info.value.problems
    assert any(p.startswith("[leads] categorical:") and "'job'" in p for p in problems), problems
    assert any(p.startswith("[leads] target:") and "3" in p for p in problems), problems


def test_file_not_found(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, '[leads]\npath = "nowhere.csv"\n', None)
    problem = one_problem(spec, "[leads] path", "file not found")
    assert str(tmp_path / "nowhere.csv") in problem


def test_unsupported_file_type(tmp_path: Path) -> None:
    write(tmp_path, "leads.xls", "not really")
    spec = spec_file(tmp_path, '[leads]\npath = "leads.xls"\n', None)
    assert ".parquet" in one_problem(spec, "[leads] path", "unsupported file type")


def test_broken_excel_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    write(tmp_path, "leads.xlsx", "not really a workbook")
    spec = spec_file(tmp_path, '[leads]\npath = "leads.xlsx"\n', None)
    assert "leads.xlsx" in one_problem(spec, "[leads] path", "cannot read")


def test_unreadable_parquet_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    write(tmp_path, "leads.parquet", "this is not parquet")
    spec = spec_file(tmp_path, '[leads]\npath = "leads.parquet"\n', None)
    one_problem(spec, "[leads] path", "cannot read leads.parquet as PARQUET")


def test_wrong_separator_is_explained(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\n', "y;x\nyes;a\n")
    assert 'sep = ";"' in one_problem(spec, "[leads] sep", "single column")


def test_unparseable_created_at_names_rows(tmp_path: Path) -> None:
    csv = "y,d,x\nyes,2024-01-01,a\nno,yesterday,b\nno,2024-13-45,c\nyes,,d\n"
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\ncreated_at = "d"\n', csv)
    problem = one_problem(spec, "[leads] created_at", "column 'd'", "not dates")
    assert "rows 2, 3" in problem and "'yesterday'" in problem


def test_closed_rows_without_a_time_are_left_out_and_open_ones_kept(tmp_path: Path) -> None:
    csv = "y,d,x\nyes,2024-01-01,a\nno,2024-01-02,b\nno,,c\n,,d\n,2024-01-05,e\n"
    ds = load_dataset(spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\ncreated_at = "d"\n', csv))
    # The closed row without a time cannot be placed in a time split: left out, counted, not refused.
    assert ds.batch.leads[LEAD_ID].tolist() == ["1", "2", "4", "5"]
    assert (ds.left_out, ds.open_without_time) == (1, 1)
    assert any("1 won/lost rows have no time and are left out" in n and "'d'" in n for n in ds.notes)
    assert any("1 open rows have no time" in n for n in ds.notes)


def test_mixed_date_formats_parse(tmp_path: Path) -> None:
    csv = "y,d\nyes,2024-01-01\nno,Jan 3 2024\n"
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\ncreated_at = "d"\n', csv)
    leads = load_dataset(spec).batch.leads
    assert leads[CREATED_AT].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-03")]


def test_numeric_column_with_text_names_rows_and_values(tmp_path: Path) -> None:
    csv = "y,age,x\nyes,30,a\nno,n/k,b\nno,forty,c\n"
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\nnumeric = ["age"]\n'
    problem = one_problem(spec_file(tmp_path, body, csv), "[leads] numeric", "column 'age'", "non-numeric")
    assert "rows 2, 3" in problem and "'forty'" in problem and "'n/k'" in problem


def test_negative_or_text_effort(tmp_path: Path) -> None:
    csv = "y,h,v\nyes,-1,x\nno,2,10\n"
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\neffort = "h"\nvalue = "v"\n'
    spec = spec_file(tmp_path, body, csv)
    assert "row 1" in one_problem(spec, "[leads] effort", "column 'h'", "negative")
    assert "'x'" in one_problem(spec, "[leads] value", "column 'v'", "non-numeric")


def test_duplicate_and_empty_ids(tmp_path: Path) -> None:
    csv = "id,y\nA,yes\nA,no\n,no\nB,no\n"
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\nid = "id"\ntarget = "y"\n', csv)
    assert "'A' (2 rows)" in one_problem(spec, "[leads] id", "column 'id'", "duplicate")
    assert "row 3" in one_problem(spec, "[leads] id", "column 'id'", "empty")


def test_attribute_named_like_a_canonical_column(tmp_path: Path) -> None:
    csv = "y,source,contact\nyes,web,phone\nno,ads,mail\n"
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "y"\nsource = "contact"\n', csv)
    assert "exclude" in one_problem(spec, "[leads] categorical", "column 'source'", "canonical")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, '[leads]\npath = "leads.csv"\ntarget = y\n')
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    (problem,) = info.value.problems
    assert problem.startswith("TOML syntax error") and "line 3" in problem
    assert str(spec) in str(info.value)


def test_spec_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "absent.toml")


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    csv = "y,d,age\nmaybe,2024-01-01,x\nno,bad date,3\n"
    body = (
        '[leads]\npath = "leads.csv"\ntarget = "y"\ncreated_at = "d"\nnumeric = ["age"]\n'
        'source = "chanel"\nexclude = ["nope"]\n'
    )
    problems = problems_of(spec_file(tmp_path, body, csv))
    keys = {p.split(":")[0] for p in problems}
    assert keys == {
        "[leads] target",
        "[leads] created_at",
        "[leads] numeric",
        "[leads] source",
        "[leads] exclude",
    }, problems
    with pytest.raises(SpecError) as info:
        load_dataset(spec_file(tmp_path, body, csv))
    assert str(info.value).startswith(f"{tmp_path / 'spec.toml'}: 5 problems in the dataset spec:")


def test_spec_and_data_problems_are_reported_together(tmp_path: Path) -> None:
    csv = "y,job,age\nmaybe,a,1\nno,b,2\n"
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\nseperator = ";"\nnumeric = ["job"]\ncategorical = ["job"]\n'
    problems = problems_of(spec_file(tmp_path, body, csv))
    assert len(problems) == 3, problems
    assert problems[0].startswith("unknown key [leads] seperator")
    assert problems[1].startswith("[leads] categorical / numeric: column 'job'")
    assert problems[2].startswith("[leads] target: column 'y'")
    # load_spec alone stops at the spec's own problems.
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec.toml")
    assert info.value.problems == problems[:2]


def test_static_problems_are_found_for_programmatic_specs(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", "y,x\n1,a\n")
    spec = DatasetSpec(leads=LeadsSpec(path="leads.csv", target="y", exclude=["y"])).with_base_dir(tmp_path)
    assert "[leads] target / exclude" in one_problem(spec, "column 'y'")


# ----------------------------------------------------------------------------------------------------
# The real example


def test_bank_marketing_example_loads() -> None:
    start = time.perf_counter()
    ds = load_dataset(BANK_SPEC)
    elapsed = time.perf_counter() - start
    leads = ds.batch.leads
    assert len(leads) == 41_188
    assert int((leads[OUTCOME] == "won").sum()) == 4_640
    assert leads[OUTCOME].notna().all()
    assert "duration" not in leads.columns
    assert ds.ordering == "row"
    assert leads[ROW_ORDER].is_monotonic_increasing
    assert leads[LEAD_ID].is_unique
    assert set(leads[SOURCE]) == {"cellular", "telephone"}
    assert "contact" not in leads.columns and "y" not in leads.columns
    assert set(ds.categorical) == {
        "job",
        "marital",
        "education",
        "default",
        "housing",
        "loan",
        "month",
        "day_of_week",
        "poutcome",
    }
    assert "age" in ds.numeric and "euribor3m" in ds.numeric and "duration" not in ds.numeric
    for col in ds.categorical:
        assert not leads[col].isin(["unknown"]).any(), col
    assert leads["default"].isna().sum() > 0  # "unknown" became NA
    assert ds.batch.events.empty
    # Measured at about 0.15 s; the bound only catches an accidental per-row loop.
    assert elapsed < 10, elapsed
