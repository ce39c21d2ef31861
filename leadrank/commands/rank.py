"""`leadrank rank`: score open leads with the champion model and hand off what fits the sales capacity.

Scoring (features + model) and the capacity policy (handoff) are two packages that do not know each other; this
module is where the command line joins them, the same way the HTTP service does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer

from features import contract as c
from features.contract import LeadBatch
from leadrank.cli_support import (
    CapacityHoursOption,
    CapacityLeadsOption,
    Engine,
    EngineOption,
    HorizonDaysOption,
    ModelVersionOption,
    ObjectiveOption,
    SchedulerOption,
    TeamOption,
)

if TYPE_CHECKING:
    from training.tracking import TrackingConfig

log = logging.getLogger(__name__)

RANKED_COLUMNS = (
    "rank",
    "lead_id",
    "stage",
    "p_close",
    "expected_hours",
    "expected_days_to_close",
    "assigned_to",
    "expected_value",
)


class RankError(ValueError):
    """Open leads cannot be ranked: no model, no open leads, bad input. The message says what to do."""


def load_open_leads(
    data_dir: Path | None = None, leads_file: Path | None = None, events_file: Path | None = None
) -> tuple[LeadBatch, list[str]]:
    """The open leads (no outcome yet) of a canonical data folder, or of a leads file (+ events file)."""
    from engines.ranking import open_batch
    from features.io import load_history, load_history_dir

    if (data_dir is None) == (leads_file is None):
        raise RankError("give exactly one of --data DIR or --leads FILE")
    if events_file is not None and leads_file is None:
        raise RankError("--events goes with --leads")
    if data_dir is not None:
        hist = load_history_dir(data_dir)
    else:
        assert leads_file is not None
        hist = load_history(leads_file, events_file)
    batch = open_batch(hist.leads, hist.events)
    if batch.leads.empty:
        raise RankError("no open leads (leads without an outcome) to rank")
    return batch, list(hist.warnings)


def load_champion(config: TrackingConfig, version: str | None = None) -> tuple[Any, str]:
    """The champion's (or a given version's) `LeadModel` from the MLflow registry, with its version."""
    from mlflow.exceptions import MlflowException

    from model import ModelFormatError
    from model.pyfunc import load_logged_model
    from training.registry import champion_version
    from training.tracking import configure_tracking

    configure_tracking(config)
    if version is None:
        champ = champion_version(config)
        if champ is None:
            raise RankError(
                f"no champion model {config.model_name!r} in {config.tracking_uri}: "
                "run `leadrank train` (or `leadrank quickstart`) first"
            )
        version = str(champ.version)
    try:
        return load_logged_model(f"models:/{config.model_name}/{version}"), version
    except MlflowException as exc:
        raise RankError(f"cannot load model {config.model_name!r} version {version}: {exc.message}") from exc
    except ModelFormatError as exc:
        raise RankError(str(exc)) from None


def rank_leads(
    batch: LeadBatch,
    model: Any,
    capacity: Any,
    objective: str = "closes",
    horizon_days: float | None = None,
    period_label: str | None = None,
) -> tuple[pd.DataFrame, Any, list[str]]:
    """Score the leads and hand off what fits `capacity`; returns the ranked list, the handoff result and
    warnings about the input (unknown event types, unseen categories). `period_label` opens the statement."""
    from engines.ranking import score_batch

    scored, report = score_batch(model, batch)
    ranked, result = hand_off_scored(scored, capacity, objective, horizon_days, period_label)
    return ranked, result, report.messages()


def hand_off_scored(
    scored: pd.DataFrame,
    capacity: Any,
    objective: str = "closes",
    horizon_days: float | None = None,
    period_label: str | None = None,
    left_out: int = 0,
) -> tuple[pd.DataFrame, Any]:
    """The capacity policy on a scored table: the ranked list's columns and the handoff result. `left_out`: open
    leads scored but not in `scored` because a shortlist showed they stay in nurture."""
    from handoff import hand_off

    result = hand_off(
        scored,
        capacity,
        objective=objective,  # type: ignore[arg-type]
        horizon_days=horizon_days,
        period_label=period_label,
        left_out=left_out,
    )
    ranked = result.leads
    keep = [col for col in RANKED_COLUMNS if col in ranked.columns]
    return ranked[keep], result


def rank(
    data: Annotated[Path | None, typer.Option("--data", help="Canonical data folder: ranks its open leads.")] = None,
    dataset_spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="Dataset spec (TOML): ranks the open leads of its CRM export (--leads: another file)."
        ),
    ] = None,
    leads: Annotated[Path | None, typer.Option("--leads", help="Leads file (CSV/Parquet) to rank.")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Events file for --leads (optional).")] = None,
    capacity_leads: CapacityLeadsOption = None,
    capacity_hours: CapacityHoursOption = None,
    team: TeamOption = None,
    objective: ObjectiveOption = "closes",
    horizon_days: HorizonDaysOption = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="How the statement names the period, e.g. 'In week 42' (default: 'This week', or 'This month' "
            'for a team file with period = "month").',
            show_default=False,
        ),
    ] = None,
    model_version: ModelVersionOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="File to write the ranked list to: .csv or .xlsx (summary.json beside it).")
    ] = Path("ranked.csv"),
    keep: Annotated[
        str | None,
        typer.Option(
            "--keep",
            help="Comma-separated input columns to carry into the list (default: every column that is not a "
            "model feature, e.g. name, company, e-mail).",
            show_default=False,
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Also write the capacity planning curve to this file (PNG; table beside it)."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the handoff summary and statement as JSON on stdout, nothing else (progress and "
            "warnings go to stderr).",
        ),
    ] = False,
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Rank open leads with the champion model and hand off exactly what fits the sales capacity."""
    from rich.console import Console
    from rich.markup import escape

    from engines.cluster import EngineError
    from features.io import DataLoadError
    from features.spec import SpecError, load_open_leads_of_spec
    from handoff import HandoffError, capacity_from_options
    from leadrank.cli_support import fail, load_settings, print_json, scheduler_address
    from leadrank.config import tracking_config
    from leadrank.report import Steps
    from leadrank.report import console as make_console
    from marketing.ranked_list import RankedListError
    from training.tracking import TrackingError

    settings = load_settings()
    if objective not in ("closes", "value"):
        fail(f"--objective must be 'closes' or 'value', got {objective!r}")
    label = None
    if period is not None:
        label = " ".join(period.split())
        if not label:
            fail("--period is blank: give a label such as --period 'In week 42'")
    if engine == Engine.dask and (data is None or dataset_spec is not None or leads is not None):
        fail("--engine dask ranks the open leads of a partitioned canonical data folder: give --data DIR only")
    # With --json stdout holds the JSON document only; the step lines go to stderr.
    console = Console(stderr=True) if as_json else make_console()
    try:
        spec = capacity_from_options(max_leads=capacity_leads, hours=capacity_hours, team_file=team)
        if engine == Engine.dask:
            assert data is not None
            address = scheduler_address(scheduler, settings)
            with Steps(console) as step:
                ranked, result, version, load_warnings, warnings = _rank_on_dask(
                    step,
                    data,
                    address,
                    settings,
                    spec,
                    objective,
                    horizon_days,
                    label,
                    model_version,
                    out,
                    keep,
                    every_lead=plan is not None,
                )
                if plan is not None:
                    step(f"writing {plan}")
                    write_plan(ranked, result, plan)
        else:
            with Steps(console) as step:
                step("loading the open leads")
                if dataset_spec is not None:
                    batch, load_warnings = load_open_leads_of_spec(dataset_spec, data, leads, events)
                else:
                    batch, load_warnings = load_open_leads(data, leads, events)
                step("loading the model")
                model, version = load_champion(tracking_config(settings), model_version)
                step(f"scoring {len(batch.leads):,} open leads and handing off what fits capacity")
                ranked, result, warnings = rank_leads(batch, model, spec, objective, horizon_days, label)
                step(f"writing {out}" + (f" and {plan}" if plan is not None else ""))
                write_marketing_list(batch, model, result, out, version, parse_keep(keep))
                if plan is not None:
                    write_plan(ranked, result, plan)
    except (RankError, DataLoadError, HandoffError, TrackingError, RankedListError, SpecError, EngineError) as exc:
        fail(str(exc))
    err = Console(stderr=True)
    for w in load_warnings + warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    if as_json:
        print_json(
            {
                "model_version": version,
                "ranked_list": str(out),
                "plan": None if plan is None else str(plan),
                "summary": result.summary.to_dict(),
            }
        )
        return
    print_handoff(console, ranked, result, version, out)


def _rank_on_dask(
    step: Any,
    data: Path,
    scheduler: str | None,
    settings: Any,
    spec: Any,
    objective: str,
    horizon_days: float | None,
    label: str | None,
    model_version: str | None,
    out: Path,
    keep: str | None,
    every_lead: bool = False,
) -> tuple[pd.DataFrame, Any, str, list[str], list[str]]:
    """`rank --engine dask`: open leads scored partition by partition on the cluster; gathered, only the leads
    that can reach sales (`PartitionedRanking.shortlist`; every lead for a team, or with `every_lead`: the
    capacity curve needs them all); the handoff on those, the reasons computed on the workers. Returns what the
    local path has at the same point."""
    from engines.cluster import dask_client
    from engines.ranking import PartitionedRanking
    from leadrank.config import tracking_config

    step("loading the model")
    model, version = load_champion(tracking_config(settings), model_version)
    step(f"connecting to the Dask scheduler at {scheduler}" if scheduler else "starting a local Dask cluster")
    with dask_client(scheduler) as client:
        step("loading the open leads partition by partition")
        ranking = PartitionedRanking(client, data, model)
        step(f"scoring the open leads on {ranking.n_partitions} partitions")
        if every_lead:
            scored, warnings = ranking.score()
            left_out = 0
        else:
            scored, left_out, warnings = ranking.shortlist(spec, objective, horizon_days)  # type: ignore[arg-type]
        listed = f" ({len(scored):,} can reach sales and are listed; the rest stay in nurture)" if left_out else ""
        step(f"handing off what fits capacity among {len(scored) + left_out:,} open leads{listed}")
        ranked, result = hand_off_scored(scored, spec, objective, horizon_days, label, left_out)
        step("explaining the listed leads on the workers")
        reasons = ranking.reasons(frozenset(scored[c.LEAD_ID].astype("str")) if left_out else None)
    step(f"writing {out}")
    leads = scored.drop(columns=["p_close", "expected_hours", "expected_days_to_close"])
    write_marketing_list(LeadBatch(leads, c.empty_events()), model, result, out, version, parse_keep(keep), reasons)
    return ranked, result, version, ranking.load_warnings, warnings


def parse_keep(keep: str | None) -> list[str] | None:
    """`--keep a,b` as a list of column names; None (the default: every non-feature column) when not given."""
    if keep is None:
        return None
    names = [name.strip() for name in keep.split(",") if name.strip()]
    if not names:
        raise RankError("--keep is blank: give column names such as --keep name,company,email")
    return names


def write_marketing_list(
    batch: LeadBatch,
    model: Any,
    result: Any,
    out: Path,
    version: str | None,
    keep: list[str] | None = None,
    reasons: dict[str, list[dict[str, Any]]] | None = None,
) -> pd.DataFrame:
    """Marketing's ranked list (reasons, ordering key, pass-through columns) to `out`, summary.json beside it.
    `reasons`: each lead's reasons when already computed (on a cluster); else they are computed from `batch`."""
    from marketing.ranked_list import build_ranked_list, pass_through_columns, reasons_by_lead, write_ranked_list

    passed = pass_through_columns(batch.leads, model.schema.attribute_columns, keep)
    if reasons is None:
        reasons = reasons_by_lead(model, batch)
    listed = build_ranked_list(result, batch.leads, reasons, passed)
    write_ranked_list(listed, result, out, version)
    return listed


def write_plan(ranked: pd.DataFrame, result: Any, path: Path) -> None:
    from handoff.planning import capacity_curve, plot_capacity_curve

    curve = capacity_curve(ranked, kind="hours")
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_capacity_curve(curve, path, current=result.summary.hours_available)
    curve.to_csv(path.with_suffix(".csv"), index=False, float_format="%.6g")


def print_handoff(console: Any, ranked: pd.DataFrame, result: Any, version: str, out: Path) -> None:
    from rich.markup import escape

    from leadrank.report import print_frame

    s = result.summary
    top = ranked[ranked["stage"] == "sales_ready"].head(10).set_index("rank")
    print_frame(console, top, title=f"Top of the handoff (model version {version})")
    counts = ranked["stage"].value_counts()
    console.print(
        f"sales_ready {counts.get('sales_ready', 0):,} · marketing_qualified "
        f"{counts.get('marketing_qualified', 0):,} · nurture {counts.get('nurture', 0):,} "
        f"of {len(ranked):,} open leads"
    )
    console.print(
        f"hours used {s.hours_used:,.1f}"
        + (f" of {s.hours_available:,.1f}" if s.hours_available is not None else "")
        + f" · expected closes {s.expected_closes:,.1f}"
        + (f" · close rate {s.expected_close_rate:.1%}" if s.expected_close_rate is not None else "")
        + (f" · closes per selling hour {s.expected_closes_per_hour:.3f}" if s.expected_closes_per_hour else "")
    )
    console.print(f"[bold]{escape(s.statement)}[/]")
    console.print(f"ranked list: {escape(str(out))}", highlight=False)
