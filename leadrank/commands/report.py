"""`leadrank report`: the handoff as one self-contained HTML file to forward or print (`marketing.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer

from features import contract as c
from features.contract import LeadBatch
from leadrank.cli_support import (
    CapacityHoursOption,
    CapacityLeadsOption,
    HorizonDaysOption,
    ModelVersionOption,
    ObjectiveOption,
    TeamOption,
)

if TYPE_CHECKING:
    from training.tracking import TrackingConfig

# The newest closed leads the calibration plot is drawn on (enough for a few points per source).
CALIBRATION_LEADS = 3000


def model_card(config: TrackingConfig, version: str) -> dict[str, Any]:
    """The registered version's facts (run, dates, data fingerprint, test metrics), as GET /model gives them."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from serving.model_store import _training_metadata

    uri = config.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        mv = client.get_model_version(config.model_name, version)
    except MlflowException:
        return {"model_name": config.model_name, "mlflow_version": version}
    meta = _training_metadata(client, mv, uri)
    return {"model_name": config.model_name, **meta}


def calibration_frame(model: Any, history: LeadBatch) -> pd.DataFrame | None:
    """The newest closed leads scored by the model: `source`, `p_close`, `won`; None without outcomes."""
    leads = history.leads
    if c.OUTCOME not in leads.columns:
        return None
    closed = leads[leads[c.OUTCOME].isin(c.OUTCOMES)]
    if closed.empty:
        return None
    closed = closed.sort_values(c.DECIDED_AT, kind="stable").tail(CALIBRATION_LEADS).reset_index(drop=True)
    scored = model.predict_frame(LeadBatch.of_leads(closed, history.events))
    return pd.DataFrame(
        {
            "source": closed[c.SOURCE].astype(str).to_numpy(),
            "p_close": scored["p_close"].to_numpy(),
            "won": (closed[c.OUTCOME] == c.WON).to_numpy(dtype=float),
        }
    )


def write_report(
    out: Path,
    result: Any,
    listed: pd.DataFrame,
    model: Any,
    card: dict[str, Any],
    history: LeadBatch | None,
) -> None:
    from marketing.report import ReportData, render_report

    data = ReportData(
        result=result,
        listed=listed,
        model_card=card,
        history=None if history is None else history.leads,
        events=None if history is None else history.events,
        calibration=None if history is None else calibration_frame(model, history),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(data), encoding="utf-8")


def report(
    data: Annotated[Path | None, typer.Option("--data", help="Canonical data folder: ranks its open leads.")] = None,
    leads: Annotated[Path | None, typer.Option("--leads", help="Leads file (CSV/Parquet) to rank.")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Events file for --leads (optional).")] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="Data folder with closed leads for the channel comparison and calibration (default: --data).",
            show_default=False,
        ),
    ] = None,
    capacity_leads: CapacityLeadsOption = None,
    capacity_hours: CapacityHoursOption = None,
    team: TeamOption = None,
    objective: ObjectiveOption = "closes",
    horizon_days: HorizonDaysOption = None,
    period: Annotated[
        str | None, typer.Option("--period", help="How the statement names the period.", show_default=False)
    ] = None,
    model_version: ModelVersionOption = None,
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
) -> None:
    """Write the handoff report: headline, capacity curve, channels, reps, model card and the top of the list."""
    from rich.markup import escape

    from features.io import DataLoadError, load_history_dir
    from handoff import HandoffError, capacity_from_options
    from leadrank.cli_support import fail, load_settings
    from leadrank.commands.rank import RankError, load_champion, load_open_leads, rank_leads
    from leadrank.config import tracking_config
    from leadrank.report import Steps
    from leadrank.report import console as make_console
    from marketing.ranked_list import RankedListError, build_ranked_list, pass_through_columns, reasons_by_lead
    from training.tracking import TrackingError

    settings = load_settings()
    if objective not in ("closes", "value"):
        fail(f"--objective must be 'closes' or 'value', got {objective!r}")
    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out {out}: the report is an HTML file; name it like report.html")
    label = " ".join(period.split()) if period is not None else None
    if period is not None and not label:
        fail("--period is blank: give a label such as --period 'In week 42'")
    console = make_console()
    try:
        spec = capacity_from_options(max_leads=capacity_leads, hours=capacity_hours, team_file=team)
        with Steps(console) as step:
            step("loading the open leads")
            batch, _ = load_open_leads(data, leads, events)
            step("loading the closed history")
            past_dir = history if history is not None else data
            past = None
            if past_dir is not None:
                hist = load_history_dir(past_dir)
                past = LeadBatch(hist.leads, hist.events)
            step("loading the model")
            config = tracking_config(settings)
            model, version = load_champion(config, model_version)
            step("scoring, handing off and wording the reasons")
            _, result, _ = rank_leads(batch, model, spec, objective, horizon_days, label)
            passed = pass_through_columns(batch.leads, model.schema.attribute_columns, None)
            listed = build_ranked_list(result, batch.leads, reasons_by_lead(model, batch), passed)
            step(f"writing {out}")
            write_report(out, result, listed, model, model_card(config, version), past)
    except (RankError, DataLoadError, HandoffError, TrackingError, RankedListError) as exc:
        fail(str(exc))
    console.print(f"[bold]{escape(result.summary.statement)}[/]")
    console.print(
        f"report: {escape(str(out))} (one file: open it in a browser, forward it or print it)", highlight=False
    )
