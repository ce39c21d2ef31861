"""The dataset spec speaks CRM: outcome values, decision/close/as-of times, activity types, encodings, Excel,
and the leak warning. Each mapping with the error that names its key and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import AS_OF, CLOSED_AT, CREATED_AT, DECIDED_AT, LEAD_ID, OUTCOME
from features.engagement import DEFAULT_STAGE_MAP
from features.leakage import single_feature_auc
from features.spec import SpecError, load_dataset


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def spec(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, "spec.toml", body)


def problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_dataset(path)
    return info.value.problems


def only(found: list[str], *needles: str) -> str:
    hits = [p for p in found if all(n in p for n in needles)]
    assert len(hits) == 1, (needles, found)
    return hits[0]


SF_CSV = """\
Lead ID,Lead Status,Create Date,Converted Date,Industry
L1,Closed - Converted,1/15/2024,2/1/2024,Retail
L2,closed - not converted,1/16/2024,,Retail
L3,Working - Contacted,1/17/2024,,Banking
L4,Open - Not Contacted,1/18/2024,,Banking
L5,CLOSED - CONVERTED,1/19/2024,3/1/2024,Banking
L6,,1/20/2024,,Retail
"""
SF_SPEC = """\
[leads]
path = "leads.csv"
id = "Lead ID"
target = "Lead Status"
won = ["Closed - Converted"]
lost = ["Closed - Not Converted"]
created_at = "Create Date"
closed_at = "Converted Date"
"""


# ----------------------------------------------------------------------------------------------------
# Outcome values


def test_won_and_lost_values_map_in_any_case_and_other_values_are_open_and_counted(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", SF_CSV)
    ds = load_dataset(spec(tmp_path, SF_SPEC))
    outcome = ds.batch.leads.set_index(LEAD_ID)[OUTCOME]
    assert outcome[["L1", "L2", "L5"]].tolist() == ["won", "lost", "won"]
    assert outcome[["L3", "L4", "L6"]].isna().all()
    note = only(ds.notes, "values not listed under won or lost are open")
    assert "'Working - Contacted' (1 row)" in note and "'Open - Not Contacted' (1 row)" in note
    assert any("2 won, 1 lost, 3 open" in n for n in ds.notes)


@pytest.mark.parametrize(
    ("keys", "needles"),
    [
        ('won = ["Closed - Converted"]\n', ("[leads] lost", "required with won")),
        ('won = ["x"]\nlost = ["X "]\n', ("[leads] won / lost", "'X '", "listed under both")),
        ('won = ["Won"]\nlost = ["Lost"]\n', ("[leads] won / lost", "column 'Lead Status'", "Working - Contacted")),
        ('won = [" "]\nlost = ["Lost"]\n', ("[leads] won", "empty value")),
    ],
)
def test_outcome_value_mapping_errors_name_the_key_and_column(
    tmp_path: Path, keys: str, needles: tuple[str, ...]
) -> None:
    write(tmp_path, "leads.csv", SF_CSV)
    body = '[leads]\npath = "leads.csv"\nid = "Lead ID"\ntarget = "Lead Status"\n' + keys
    only(problems(spec(tmp_path, body)), *needles)


def test_won_and_lost_need_a_target_column(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", SF_CSV)
    body = '[leads]\npath = "leads.csv"\nwon = ["a"]\nlost = ["b"]\n'
    only(problems(spec(tmp_path, body)), "[leads] won / lost", "target =")


def test_unmapped_values_without_a_mapping_suggest_one(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", "Stage,x\nWon,1\nLoss,2\n")
    found = problems(spec(tmp_path, '[leads]\npath = "leads.csv"\ntarget = "Stage"\n'))
    assert "won = [...]" in only(found, "[leads] target", "column 'Stage'", "'Loss' (1 row)")


# ----------------------------------------------------------------------------------------------------
# decided_at, closed_at, as_of


TIMES_CSV = """\
id,y,created,sql_date,closed,snapshot
a,won,2024-01-01,2024-01-10,2024-02-01,
b,lost,2024-01-02,2024-01-12,2024-01-30,
c,,2024-01-03,,,2024-03-01
d,lost,2024-01-04,,2024-02-02,
e,,2024-01-05,2024-01-20,2024-02-05,
"""
TIMES_SPEC = """\
[leads]
path = "leads.csv"
id = "id"
target = "y"
created_at = "created"
decided_at = "sql_date"
closed_at = "closed"
as_of = "snapshot"
"""


def test_decided_closed_and_as_of_columns(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", TIMES_CSV)
    ds = load_dataset(spec(tmp_path, TIMES_SPEC))
    leads = ds.batch.leads.set_index(LEAD_ID)
    # d is lost without a decision time: training cannot place it in time, so it is left out and counted.
    assert leads.index.tolist() == ["a", "b", "c", "e"]
    assert ds.left_out == 1 and ds.open_without_time == 1
    assert leads.loc["a", DECIDED_AT] == pd.Timestamp("2024-01-10")
    assert leads.loc["a", CREATED_AT] == pd.Timestamp("2024-01-01")
    assert leads.loc["b", CLOSED_AT] == pd.Timestamp("2024-01-30")
    # An open lead has no close time, whatever the export says (it is told).
    assert pd.isna(leads.loc["e", CLOSED_AT])
    assert any("1 open rows have a close time" in n for n in ds.notes)
    assert leads.loc["c", AS_OF] == pd.Timestamp("2024-03-01")
    assert ds.ordering == "time"


@pytest.mark.parametrize("key", ["decided_at", "closed_at", "as_of"])
def test_unreadable_times_name_the_key_column_and_rows(tmp_path: Path, key: str) -> None:
    column = {"decided_at": "sql_date", "closed_at": "closed", "as_of": "snapshot"}[key]
    write(
        tmp_path,
        "leads.csv",
        TIMES_CSV.replace("2024-01-12", "soon").replace("2024-03-01", "soon").replace("2024-01-30", "soon"),
    )
    found = problems(spec(tmp_path, TIMES_SPEC))
    assert "'soon'" in only(found, f"[leads] {key}", f"column '{column}'", "not dates")


def test_decided_at_and_row_order_together_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", TIMES_CSV)
    body = '[leads]\npath = "leads.csv"\ntarget = "y"\ndecided_at = "sql_date"\norder = "row"\n'
    only(problems(spec(tmp_path, body)), "[leads] decided_at / order")


# ----------------------------------------------------------------------------------------------------
# Activity types


ACTIVITIES_CSV = """\
Contact,Date,Activity Type
a,2024-01-02,PAGE_VIEW
a,2024-01-03,page_view
a,2024-01-04,Form: Demo
b,2024-01-05,Webinar Registration
b,2024-01-06,NOTE
b,2024-01-07,NOTE
c,2024-01-08,email_click
"""
TYPES_SPEC = (
    TIMES_SPEC
    + """
[events]
path = "activities.csv"
lead_id = "Contact"
ts = "Date"
type = "Activity Type"

[events.types]
"page_view" = "page_visit"
"FORM: DEMO" = "demo_request"
"Webinar Registration" = "middle"
"Chat" = "decision"
"""
)


def test_activity_types_map_onto_canonical_types_or_stages_and_unknown_ones_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", TIMES_CSV)
    write(tmp_path, "activities.csv", ACTIVITIES_CSV)
    ds = load_dataset(spec(tmp_path, TYPES_SPEC))
    types = ds.batch.events["event_type"].tolist()
    # Canonical targets rename (any case); a stage target keeps the export's name and joins the stage map.
    assert types[:3] == ["page_visit", "page_visit", "demo_request"]
    assert types[3] == "Webinar Registration"
    assert any("features are taken at its decided_at" in n for n in ds.notes)
    assert ds.stage_map is not None
    assert ds.stage_map["Webinar Registration"] == "middle"
    assert {k: ds.stage_map[k] for k in DEFAULT_STAGE_MAP} == dict(DEFAULT_STAGE_MAP)
    # Never silently dropped: the unmapped type stays (counted in stage "other") and is reported with its count.
    assert types.count("NOTE") == 2
    assert "'NOTE' (2 rows)" in only(ds.notes, "[events] type", "not in [events.types]")
    assert "'Chat'" in only(ds.notes, "[events.types]", "never occur")


def test_activity_type_mapped_to_nothing_known_names_the_key_and_the_type(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", TIMES_CSV)
    write(tmp_path, "activities.csv", ACTIVITIES_CSV)
    body = TYPES_SPEC.replace('"Chat" = "decision"', '"Chat" = "demo_requests"\n"chat" = "early"')
    found = problems(spec(tmp_path, body))
    assert "did you mean 'demo_request'" in only(found, "[events.types] 'Chat'", "neither")
    only(found, "[events.types] 'chat'", "listed twice")


def test_activity_type_column_missing_names_key_and_column(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", TIMES_CSV)
    write(tmp_path, "activities.csv", ACTIVITIES_CSV)
    only(
        problems(spec(tmp_path, TYPES_SPEC.replace('type = "Activity Type"', 'type = "Type"'))),
        "[events] type",
        "'Type'",
    )


# ----------------------------------------------------------------------------------------------------
# Encodings and Excel


ACCENTED = "id,y,Città,Notes\nA,yes,Zürich,café crème\nB,no,São Paulo,ñ\n"


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-8-sig", "utf-8"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    write(tmp_path, "leads.csv", ACCENTED, encoding=encoding)
    ds = load_dataset(
        spec(tmp_path, f'[leads]\npath = "leads.csv"\nid = "id"\ntarget = "y"\nencoding = "{encoding}"\n')
    )
    assert ds.batch.leads["Città"].tolist() == ["Zürich", "São Paulo"]


def test_a_windows_export_read_as_utf8_says_which_encoding_to_set(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", ACCENTED, encoding="cp1252")
    found = problems(spec(tmp_path, '[leads]\npath = "leads.csv"\nid = "id"\ntarget = "y"\n'))
    assert 'encoding = "cp1252"' in only(found, "[leads] encoding", "leads.csv is not utf-8")


def test_an_unknown_encoding_names_the_key(tmp_path: Path) -> None:
    write(tmp_path, "leads.csv", ACCENTED)
    found = problems(spec(tmp_path, '[leads]\npath = "leads.csv"\nencoding = "utf-16"\n'))
    assert "cp1252" in only(found, "[leads] encoding", "'utf-16'")


def _workbook(path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"x": [1]}).to_excel(xl, sheet_name="Summary", index=False)
        pd.DataFrame(
            {
                "Lead ID": ["007", "008", "009"],
                "Status": ["Won", "Loss", "Engaging"],
                "Created": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]),
                "Employees": [10, 250, None],
            }
        ).to_excel(xl, sheet_name="Leads", index=False)


def test_excel_sheet(tmp_path: Path) -> None:
    _workbook(tmp_path / "export.xlsx")
    body = (
        '[leads]\npath = "export.xlsx"\nsheet = "Leads"\nid = "Lead ID"\ntarget = "Status"\n'
        'won = ["won"]\nlost = ["loss"]\ncreated_at = "Created"\n'
    )
    ds = load_dataset(spec(tmp_path, body))
    leads = ds.batch.leads
    assert leads[LEAD_ID].tolist() == ["007", "008", "009"]
    assert leads[OUTCOME].tolist()[:2] == ["won", "lost"] and pd.isna(leads[OUTCOME].iloc[2])
    assert leads[CREATED_AT].tolist()[0] == pd.Timestamp("2024-01-02")
    assert ds.numeric == ["Employees"]


def test_excel_sheet_errors_name_the_key(tmp_path: Path) -> None:
    _workbook(tmp_path / "export.xlsx")
    found = problems(spec(tmp_path, '[leads]\npath = "export.xlsx"\nsheet = "leads"\ntarget = "Status"\n'))
    assert "'Summary', 'Leads'" in only(found, "[leads] sheet", "no sheet 'leads'", "did you mean 'Leads'")
    write(tmp_path, "leads.csv", ACCENTED)
    only(problems(spec(tmp_path, '[leads]\npath = "leads.csv"\nsheet = "Leads"\n')), "[leads] sheet", "'leads.csv'")


# ----------------------------------------------------------------------------------------------------
# Value and effort are never features; likely leaks are named


def _leaky_export(tmp_path: Path, n: int = 400) -> Path:
    rng = np.random.default_rng(3)
    won = rng.random(n) < 0.3
    frame = pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "Stage": np.where(won, "Closed Won", "Closed Lost"),
            "Stage (copy)": np.where(won, "CW", "CL"),
            "Amount": np.where(won, rng.uniform(1e3, 1e4, n), 0.0),
            "Hours": rng.uniform(1, 9, n),
            "Industry": rng.choice(["a", "b", "c"], n),
            "Email": [f"p{i}@x.com" for i in range(n)],
            "Employees": rng.integers(1, 500, n),
        }
    )
    frame.to_csv(tmp_path / "leads.csv", index=False)
    return spec(
        tmp_path,
        '[leads]\npath = "leads.csv"\nid = "id"\ntarget = "Stage"\nwon = ["closed won"]\nlost = ["closed lost"]\n'
        'value = "Amount"\neffort = "Hours"\n',
    )


def test_value_and_effort_are_never_attributes_and_a_copied_outcome_is_named_as_a_leak(tmp_path: Path) -> None:
    ds = load_dataset(_leaky_export(tmp_path))
    assert "Amount" not in ds.categorical + ds.numeric and "Hours" not in ds.categorical + ds.numeric
    assert "deal_value" not in ds.categorical + ds.numeric
    assert len(ds.warnings) == 1
    assert "column 'Stage (copy)'" in ds.warnings[0] and "exclude" in ds.warnings[0]
    assert "AUC 1.000" in ds.warnings[0]


def test_single_feature_auc_is_about_half_for_noise_and_identifiers() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.3).astype(float)
    ids = pd.Series([f"id{i}" for i in range(1000)])
    assert single_feature_auc(ids, y, categorical=True) < 0.6
    assert single_feature_auc(pd.Series(rng.normal(size=1000)), y, categorical=False) < 0.6
    leak = pd.Series(np.where(y == 1, 5.0, np.nan))  # filled in only for won deals
    assert single_feature_auc(leak, y, categorical=False) == 1.0
