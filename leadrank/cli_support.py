"""What every command needs: the exit codes, a one-line error with exit code 2, settings read with a readable
error, and JSON for scripts."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from leadrank.settings import Settings

EXIT_OK = 0
# Bad input: a file, row, column, option or setting; the message names it.
EXIT_BAD_INPUT = 2
# `train` / `retrain` trained and registered the model as challenger, but the promotion gate refused it: the
# champion did not change. A scheduler tells this apart from success and from bad input.
EXIT_GATE_REFUSED = 3
# `retrain` found no closed lead the champion was not already fitted on: nothing trained, the champion kept.
EXIT_NOTHING_NEW = 4


# Options shared by the commands that hand leads off (rank, report): one definition, the same help everywhere.
CapacityLeadsOption = Annotated[
    int | None, typer.Option("--capacity-leads", min=1, help="Sales can take this many leads this period.")
]
CapacityHoursOption = Annotated[
    float | None, typer.Option("--capacity-hours", min=0.0, help="Selling hours available for new leads.")
]
TeamOption = Annotated[
    Path | None, typer.Option("--team", help="Team file (TOML, [[rep]] name/hours/max_leads/segments).")
]
ObjectiveOption = Annotated[
    str, typer.Option("--objective", help="Maximise expected 'closes' or expected 'value' (p x deal value).")
]
HorizonDaysOption = Annotated[
    float | None, typer.Option("--horizon-days", min=1.0, help="Prefer leads likely to close within N days.")
]
ModelVersionOption = Annotated[
    str | None, typer.Option("--model-version", help="Registered version to use (default: the champion).")
]

# Options shared by the commands that train (train, retrain).
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data", help="Folder with canonical leads.* and events.* (CSV or Parquet).", show_default=False),
]
SpecOption = Annotated[
    Path | None, typer.Option("--spec", help="Dataset spec (TOML) mapping a foreign CRM export.", show_default=False)
]
ExperimentOption = Annotated[
    str | None,
    typer.Option(
        "--experiment", help="MLflow experiment (default: LEADRANK_EXPERIMENT, 'leadrank').", show_default=False
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed: same data and seed give the same metrics.")]


class Engine(StrEnum):
    local = "local"
    dask = "dask"


# Options shared by the commands that can run on a Dask cluster (train, rank, simulate).
EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        case_sensitive=False,
        help="Where the work runs: 'local' (this process) or 'dask' (a Dask cluster, partitioned Parquet data).",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address for --engine dask, e.g. tcp://scheduler:8786 (default: "
        "LEADRANK_DASK_SCHEDULER; unset: a local cluster sized to this machine).",
        show_default=False,
    ),
]


def scheduler_address(option: str | None, settings: Settings) -> str | None:
    """The scheduler to use: --scheduler, else LEADRANK_DASK_SCHEDULER, else None (a local cluster)."""
    return option or settings.dask_scheduler


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with code 2 (bad input, never a traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def load_settings() -> Settings:
    """`Settings()` from the environment; an invalid `LEADRANK_*` value names the variable and the problem."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"LEADRANK_{'_'.join(str(part) for part in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        fail(f"invalid setting {problems}")


def _plain(value: Any) -> Any:
    """`value` as plain JSON data: numpy scalars become numbers, NaN and infinities become null (strict JSON
    has no NaN), anything else unknown becomes its string."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def print_json(data: Any) -> None:
    """Print `data` as one strict JSON document on stdout (the whole of stdout for a `--json` command)."""
    typer.echo(json.dumps(_plain(data), indent=2))
