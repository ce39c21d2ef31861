"""The capacity spec: how much selling the team can do in one period.

One pydantic model serves the CLI options, a TOML file and the HTTP API. Exactly one style is allowed:

- `max_leads = N`: hand off at most N leads per period;
- `hours = H`: hand off leads whose expected selling hours add up to at most H;
- a team: reps with `hours`, an optional lead cap `max_leads` and optional `segments` they cover. JSON spells
  it `{"team": [{"name": ..., "hours": ...}]}`, TOML spells it `[[rep]]` tables; both spellings are accepted
  everywhere (but not both at once).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handoff.errors import CapacitySpecError

Period = Literal["day", "week", "month", "quarter"]
CapacityKind = Literal["leads", "hours", "team"]

_TOP_LEVEL_KEYS = ("max_leads", "hours", "team (or [[rep]])", "period")
_REP_KEYS = ("name", "hours", "max_leads", "segments")


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode reads `true` as 1; a boolean where a number belongs is always a mistake in a spec.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class Rep(BaseModel):
    """One sales rep: selling hours per period, an optional lead cap and the segments the rep covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="Unique name of the rep.")
    hours: float = Field(gt=0, allow_inf_nan=False, description="Selling hours per period.")
    max_leads: int | None = Field(default=None, gt=0, description="Most leads per period (optional).")
    segments: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Lead attributes the rep covers, e.g. {country = ['DE', 'AT']}; a lead must match all.",
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("hours", "max_leads", mode="before")
    @classmethod
    def _numbers_not_bool(cls, value: Any) -> Any:
        return _reject_bool(value)

    @field_validator("segments", mode="before")
    @classmethod
    def _segment_values_as_text(cls, value: Any) -> Any:
        # Attribute values are matched as text, so `company_size = [50]` and `country = ["DE"]` both work.
        if not isinstance(value, Mapping):
            return value
        out: dict[Any, Any] = {}
        for key, values in value.items():
            if isinstance(values, list):
                out[key] = [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in values]
            else:
                out[key] = values
        return out

    @field_validator("segments")
    @classmethod
    def _segments_not_empty(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, values in value.items():
            if not key.strip():
                raise ValueError("a segment column name must not be blank")
            if not values:
                raise ValueError(f"segment {key!r} lists no values; drop the key to cover every {key}")
        return value


class CapacitySpec(BaseModel):
    """Sales capacity for one period: `max_leads`, `hours` or `team` (exactly one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_leads: int | None = Field(default=None, gt=0, description="Most leads handed off per period.")
    hours: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Selling hours per period.")
    team: list[Rep] | None = Field(default=None, min_length=1, description="The reps and their capacity.")
    period: Period = Field(default="week", description="The period the capacity is for (used in wording only).")

    @model_validator(mode="before")
    @classmethod
    def _rep_spelling(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "rep" in data:
            if "team" in data:
                raise ValueError("give the team either as `team` or as `[[rep]]` tables, not both")
            data = {("team" if k == "rep" else k): v for k, v in data.items()}
        return data

    @field_validator("max_leads", "hours", mode="before")
    @classmethod
    def _numbers_not_bool(cls, value: Any) -> Any:
        return _reject_bool(value)

    @model_validator(mode="after")
    def _exactly_one_style(self) -> CapacitySpec:
        given = [k for k in ("max_leads", "hours", "team") if getattr(self, k) is not None]
        if len(given) != 1:
            found = " and ".join(given) if given else "none of them"
            raise ValueError(f"give exactly one of `max_leads`, `hours` or a team (`team` / `[[rep]]`); found {found}")
        if self.team is not None:
            seen: set[str] = set()
            for rep in self.team:
                if rep.name in seen:
                    raise ValueError(f"rep name {rep.name!r} appears more than once; rep names must be unique")
                seen.add(rep.name)
        return self

    @property
    def kind(self) -> CapacityKind:
        if self.max_leads is not None:
            return "leads"
        if self.hours is not None:
            return "hours"
        return "team"

    def total_hours(self) -> float | None:
        """Selling hours available in the period (`None` for a pure lead cap)."""
        if self.hours is not None:
            return self.hours
        if self.team is not None:
            return math.fsum(rep.hours for rep in self.team)
        return None

    def total_leads(self) -> int | None:
        """Most leads the period can take (`None` when some rep, or the whole spec, has no lead cap)."""
        if self.max_leads is not None:
            return self.max_leads
        if self.team is not None and all(rep.max_leads is not None for rep in self.team):
            return sum(rep.max_leads or 0 for rep in self.team)
        return None

    def segment_columns(self) -> list[str]:
        """Lead attribute columns some rep's segments refer to, in first-seen order."""
        cols: list[str] = []
        for rep in self.team or []:
            for col in rep.segments:
                if col not in cols:
                    cols.append(col)
        return cols

    def scaled(self, factor: float) -> CapacitySpec:
        """The same spec with every hour budget and lead cap times `factor` (caps rounded down, >= 1)."""
        if not factor > 0:
            raise ValueError("factor must be positive")

        def cap(n: int | None) -> int | None:
            return None if n is None else max(1, math.floor(n * factor))

        if self.team is not None:
            team = [
                rep.model_copy(update={"hours": rep.hours * factor, "max_leads": cap(rep.max_leads)})
                for rep in self.team
            ]
            return self.model_copy(update={"team": team})
        if self.hours is not None:
            return self.model_copy(update={"hours": self.hours * factor})
        return self.model_copy(update={"max_leads": cap(self.max_leads)})


def _format_loc(loc: tuple[int | str, ...], data: Any, team_key: str) -> str:
    if not loc:
        return "capacity spec"
    parts: list[str] = []
    i = 0
    if loc[0] == "team":
        parts.append(team_key)
        i = 1
        if len(loc) > 1 and isinstance(loc[1], int):
            idx = loc[1]
            label = f"{team_key} #{idx + 1}"
            reps = data.get(team_key) if isinstance(data, Mapping) else None
            if isinstance(reps, list) and idx < len(reps) and isinstance(reps[idx], Mapping):
                name = reps[idx].get("name")
                if isinstance(name, str) and name.strip():
                    label += f" ({name.strip()!r})"
            parts = [label]
            i = 2
    parts.extend(str(p) for p in loc[i:])
    return ".".join(parts)


def _describe(exc: ValidationError, data: Any, team_key: str) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        where = _format_loc(loc, data, team_key)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = loc[-1] if loc else "?"
            in_rep = len(loc) >= 3 and loc[0] == "team"
            allowed = _REP_KEYS if in_rep else _TOP_LEVEL_KEYS
            msg = f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"
            where = _format_loc(loc[:-1], data, team_key) if len(loc) > 1 else "capacity spec"
        elif err["type"] == "too_short" and loc == ("team",):
            msg = "the team lists no reps; give at least one"
        elif err["type"] in (
            "greater_than",
            "finite_number",
            "int_from_float",
            "int_parsing",
            "float_parsing",
        ):
            msg = f"{msg} (got {err.get('input')!r})"
        lines.append(f"{where}: {msg}")
    return lines


def parse_capacity(data: Mapping[str, Any], *, source: str = "capacity spec") -> CapacitySpec:
    """Validate a capacity spec given as a mapping (a JSON body, a parsed TOML file, CLI options).

    Raises `CapacitySpecError` naming `source` and every bad key.
    """
    if not isinstance(data, Mapping):
        raise CapacitySpecError(f"{source}: expected a table of keys, got {type(data).__name__}")
    team_key = "rep" if "rep" in data else "team"
    reps = data.get(team_key)
    if isinstance(reps, Mapping):
        hint = "use one `[[rep]]` table (double brackets) per rep" if team_key == "rep" else "give a list of reps"
        raise CapacitySpecError(f"{source}: {team_key}: expected a list of reps; {hint}")
    try:
        return CapacitySpec.model_validate(dict(data))
    except ValidationError as exc:
        lines = _describe(exc, data, team_key)
        raise CapacitySpecError(f"invalid {source}:\n  " + "\n  ".join(lines)) from None


def load_capacity_toml(path: str | Path) -> CapacitySpec:
    """Read a capacity spec from a TOML file: `max_leads = N`, `hours = H`, or `[[rep]]` tables."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CapacitySpecError(f"capacity file {path}: no such file") from None
    except IsADirectoryError:
        raise CapacitySpecError(f"capacity file {path}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise CapacitySpecError(f"capacity file {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise CapacitySpecError(f"capacity file {path}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CapacitySpecError(f"capacity file {path}: TOML syntax error: {exc}") from None
    except OSError as exc:
        raise CapacitySpecError(f"capacity file {path}: cannot read: {exc.strerror or exc}") from None
    return parse_capacity(data, source=f"capacity file {path}")


def capacity_from_options(
    max_leads: int | None = None,
    hours: float | None = None,
    team_file: str | Path | None = None,
    *,
    period: Period | None = None,
) -> CapacitySpec:
    """Build the spec from the CLI options `--capacity-leads`, `--capacity-hours` and `--team FILE` (exactly one)."""
    given = [
        name
        for name, value in (("--capacity-leads", max_leads), ("--capacity-hours", hours), ("--team", team_file))
        if value is not None
    ]
    if len(given) != 1:
        found = " and ".join(given) if given else "none"
        raise CapacitySpecError(f"give exactly one of --capacity-leads, --capacity-hours or --team FILE (got {found})")
    if team_file is not None:
        spec = load_capacity_toml(team_file)
        return spec if period is None else spec.model_copy(update={"period": period})
    data: dict[str, Any] = {"max_leads": max_leads} if max_leads is not None else {"hours": hours}
    if period is not None:
        data["period"] = period
    try:
        return CapacitySpec.model_validate(data)
    except ValidationError as exc:
        option = "--capacity-leads" if max_leads is not None else "--capacity-hours"
        msgs = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False))
        raise CapacitySpecError(f"{option}: {msgs}") from None
