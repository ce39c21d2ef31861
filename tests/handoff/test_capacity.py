from __future__ import annotations

import json
from pathlib import Path

import pytest

from handoff import CapacitySpec, CapacitySpecError, capacity_from_options, load_capacity_toml, parse_capacity

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "team.toml"


def write(tmp_path: Path, text: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_three_styles() -> None:
    assert parse_capacity({"max_leads": 40}).kind == "leads"
    spec = parse_capacity({"hours": 120.5})
    assert spec.kind == "hours" and spec.total_hours() == 120.5 and spec.total_leads() is None
    team = parse_capacity({"team": [{"name": "a", "hours": 30, "max_leads": 12}, {"name": "b", "hours": 10}]})
    assert team.kind == "team"
    assert team.total_hours() == 40
    assert team.total_leads() is None  # b has no cap


def test_toml_rep_and_json_team_spellings_agree(tmp_path: Path) -> None:
    toml = write(
        tmp_path,
        """
[[rep]]
name = "anna"
hours = 30
max_leads = 12
segments = { country = ["DE", "AT"] }

[[rep]]
name = "ben"
hours = 20
""",
    )
    from_toml = load_capacity_toml(toml)
    body = json.loads(
        '{"team": [{"name": "anna", "hours": 30, "max_leads": 12, "segments": {"country": ["DE", "AT"]}},'
        ' {"name": "ben", "hours": 20}]}'
    )
    from_json = CapacitySpec.model_validate(body)
    assert from_toml == from_json
    assert from_toml.segment_columns() == ["country"]
    assert from_toml.model_dump()["team"][0]["segments"] == {"country": ["DE", "AT"]}


def test_example_team_file_loads() -> None:
    spec = load_capacity_toml(EXAMPLE)
    assert spec.kind == "team"
    assert spec.team is not None and len(spec.team) >= 3
    assert set(spec.segment_columns()) == {"country", "industry"}


def test_numeric_segment_values_are_matched_as_text() -> None:
    spec = parse_capacity({"team": [{"name": "a", "hours": 3, "segments": {"company_size": [50, 100]}}]})
    assert spec.team is not None
    assert spec.team[0].segments == {"company_size": ["50", "100"]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"max_leads": 0}, "max_leads: Input should be greater than 0"),
        ({"hours": -5}, "hours: Input should be greater than 0 (got -5)"),
        ({"hours": float("nan")}, "hours: Input should be a finite number"),
        ({"hours": True}, "hours: must be a number, not a boolean"),
        ({"max_leads": 2.5}, "max_leads"),
        ({"hours": 3, "max_leads": 4}, "found max_leads and hours"),
        ({"period": "week"}, "found none of them"),
        ({"hourz": 3}, "unknown key 'hourz'"),
        ({"team": []}, "team: the team lists no reps"),
        ({"team": [{"name": "a", "hours": 0}]}, "team #1 ('a').hours: Input should be greater than 0"),
        ({"team": [{"name": "a", "hours": 3, "cap": 2}]}, "team #1 ('a'): unknown key 'cap'"),
        ({"team": [{"name": "a", "hours": 3, "max_leads": -1}]}, "team #1 ('a').max_leads"),
        ({"team": [{"name": " ", "hours": 3}]}, "team #1.name: must not be blank"),
        ({"team": [{"hours": 3}]}, "team #1.name: Field required"),
        (
            {"team": [{"name": "a", "hours": 3}, {"name": "a", "hours": 4}]},
            "rep name 'a' appears more than once",
        ),
        (
            {"team": [{"name": "a", "hours": 3, "segments": {"country": []}}]},
            "segment 'country' lists no values",
        ),
        ({"team": [{"name": "a", "hours": 3}], "rep": [{"name": "b", "hours": 3}]}, "not both"),
        ({"hours": 3, "period": "year"}, "period: Input should be"),
    ],
)
def test_invalid_specs_name_the_key(data: dict[str, object], expected: str) -> None:
    with pytest.raises(CapacitySpecError) as err:
        parse_capacity(data)
    assert expected in str(err.value)


def test_toml_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = write(tmp_path, '[[rep]]\nname = "anna"\nhours = -3\n')
    with pytest.raises(CapacitySpecError) as err:
        load_capacity_toml(bad)
    assert str(bad) in str(err.value) and "rep #1 ('anna').hours" in str(err.value)

    syntax = write(tmp_path, "hours = = 4\n", "syntax.toml")
    with pytest.raises(CapacitySpecError, match=r"syntax\.toml: TOML syntax error: .*line 1"):
        load_capacity_toml(syntax)

    single = write(tmp_path, '[rep]\nname = "x"\nhours = 3\n', "single.toml")
    with pytest.raises(CapacitySpecError, match=r"double brackets"):
        load_capacity_toml(single)

    with pytest.raises(CapacitySpecError, match=r"missing\.toml: no such file"):
        load_capacity_toml(tmp_path / "missing.toml")
    with pytest.raises(CapacitySpecError, match="is a directory"):
        load_capacity_toml(tmp_path)

    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"hours = 3\n\xff\xfe")
    with pytest.raises(CapacitySpecError, match=r"binary\.toml"):
        load_capacity_toml(binary)


def test_capacity_from_options(tmp_path: Path) -> None:
    assert capacity_from_options(max_leads=25).max_leads == 25
    assert capacity_from_options(hours=80.0, period="month").period == "month"
    team = write(tmp_path, '[[rep]]\nname = "a"\nhours = 30\n')
    assert capacity_from_options(team_file=team).kind == "team"
    with pytest.raises(CapacitySpecError, match="got none"):
        capacity_from_options()
    with pytest.raises(CapacitySpecError, match="got --capacity-leads and --capacity-hours"):
        capacity_from_options(max_leads=3, hours=4.0)
    with pytest.raises(CapacitySpecError, match="--capacity-hours: Input should be greater than 0"):
        capacity_from_options(hours=0.0)
    with pytest.raises(CapacitySpecError, match="--capacity-leads"):
        capacity_from_options(max_leads=-2)


def test_scaled_keeps_style_and_rounds_caps_down() -> None:
    spec = parse_capacity({"team": [{"name": "a", "hours": 30, "max_leads": 3}, {"name": "b", "hours": 10}]})
    wide = spec.scaled(1.5)
    assert wide.team is not None
    assert [r.hours for r in wide.team] == [45.0, 15.0]
    assert [r.max_leads for r in wide.team] == [4, None]
    assert parse_capacity({"max_leads": 1}).scaled(1.5).max_leads == 1
    assert parse_capacity({"hours": 10}).scaled(1.5).hours == 15.0
