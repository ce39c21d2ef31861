"""`leadrank simulate`: write a simulated CRM history (the `simulator` package) and print what it holds.

The command only parses options, calls the simulator and prints; the work lives in the library modules.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadrank.cli_support import Engine, EngineOption, SchedulerOption

_PERCENT_COLUMNS = ("share", "close_rate")
# Short headers keep the table inside an 80-column terminal; the caption spells them out. `won` is left out
# of the printed table (closed x close rate gives it).
_HEADERS = {
    "leads": "leads",
    "share": "share",
    "closed": "closed",
    "close_rate": "close\nrate",
    "mean_sales_hours": "mean\nhours",
    "median_days_to_close": "days\nto win",
    "events_per_lead": "events\n/lead",
    "open": "open",
}
_CAPTION = (
    "closed: won or lost; close rate: won / closed; mean hours: sales hours of closed leads; "
    "days to win: median days from decision to close of won leads; open: no outcome yet"
)


class OutputFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if column in _PERCENT_COLUMNS and isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _summary_table(summary: pd.DataFrame, title: str) -> Table:
    table = Table(
        title=title,
        caption=_CAPTION,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = [col for col in summary.columns if col in _HEADERS]
    table.add_column(str(summary.index.name or ""), style="bold", no_wrap=True)
    for col in columns:
        table.add_column(_HEADERS[col], justify="right", no_wrap=True)
    shown = summary.loc[:, columns]
    for idx, row in zip(shown.index, shown.itertuples(index=False), strict=True):
        values = [v.item() if hasattr(v, "item") else v for v in row]
        table.add_row(escape(str(idx)), *(escape(_cell(col, v)) for col, v in zip(columns, values, strict=True)))
    return table


def simulate(
    n_leads: Annotated[
        int,
        typer.Option(
            "--n-leads",
            "-n",
            help="How many leads to simulate: a count, 1 to 5,000,000 (a million take about 25 s of CPU).",
        ),
    ] = 20_000,
    seed: Annotated[
        int, typer.Option("--seed", "-s", help="Random seed: the same seed gives byte-identical files.")
    ] = 7,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir",
            "-o",
            help="Folder for leads.*, events.* and truth.* (created if missing; existing tables replaced).",
        ),
    ] = Path("leadrank-data"),
    months: Annotated[
        int,
        typer.Option("--months", help="Calendar months of history before the reference date (>= 1)."),
    ] = 18,
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="File format of the written tables.", case_sensitive=False),
    ] = OutputFormat.parquet,
    drift_months: Annotated[
        int,
        typer.Option(
            "--drift-months",
            min=0,
            help="Drift: the last N months come from a changed world (a telemarketing campaign's source mix, and "
            "--drift-type stops predicting purchases); 0: no drift.",
        ),
    ] = 0,
    drift_type: Annotated[
        str,
        typer.Option("--drift-type", help="With --drift-months: the engagement type that stops predicting purchases."),
    ] = "tech_doc_download",
    engine: EngineOption = Engine.local,
    scheduler: SchedulerOption = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="With --engine dask: how many partitions to write (default: one per 200,000 leads, at least 2).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Simulate a B2B CRM history and write leads, events and truth to a folder.

    Leads come from six sources (inbound content, inbound inquiries,
    telemarketing, cold calls, events, referrals) over --months calendar months
    up to a fixed reference date (2026-10-01). Each has firmographics, a
    decision time, a stream of typed engagement events and, once closed, an
    outcome, the selling hours spent and the close date.

    Open leads (no outcome yet) are those decided in the last three weeks, the
    leads to score today, and those whose deal is still running.

    truth.* holds each lead's true close probability, expected selling hours
    and expected days to close: use it only to evaluate, never to train.
    With --drift-months N the last N months come from a changed world (for
    `leadrank monitor` and `leadrank retrain`), truth included.
    The generative story is in docs/simulator.md.

    With --engine dask the workers simulate and write a partitioned data set
    (leads/part-*.parquet, events/part-*.parquet, truth.parquet): each
    partition an independent simulation of its share of the leads over the
    same months, its lead ids prefixed P<k>- (docs/deploy.md).
    """
    import simulator as sim
    from features.summary import summarize_history
    from leadrank.report import Steps

    if n_leads < 1:
        raise _fail(f"--n-leads must be a positive integer, got {n_leads}")
    if n_leads > sim.MAX_LEADS:
        raise _fail(f"--n-leads must be at most {sim.MAX_LEADS:,}, got {n_leads:,}")
    if not 1 <= months <= sim.MAX_MONTHS:
        raise _fail(f"--months must be between 1 and {sim.MAX_MONTHS}, got {months}")
    if out_dir.exists() and not out_dir.is_dir():
        raise _fail(f"--out-dir {out_dir} exists and is not a folder")
    if engine == Engine.dask:
        if drift_months:
            raise _fail("--drift-months is not available with --engine dask yet: simulate the drift locally")
        _simulate_on_dask(n_leads, seed, months, out_dir, fmt, scheduler, partitions)
        return
    if partitions is not None:
        raise _fail("--partitions goes with --engine dask")

    drift = sim.Drift(months=drift_months, uninformative_type=drift_type) if drift_months else None
    console = Console()
    with Steps(console, indent="") as step:
        drifted = f", the last {drift_months} drifted" if drift else ""
        step(f"simulating {n_leads:,} leads over {months} months{drifted} (seed {seed})")
        try:
            history = sim.simulate(n_leads=n_leads, seed=seed, months=months, drift=drift)
        except sim.SimulationError as exc:
            raise _fail(str(exc)) from None
        step(f"writing {fmt.value} files to {out_dir}")
        try:
            paths = sim.write_history(history, out_dir, fmt=fmt.value)
        except (sim.SimulationError, OSError) as exc:
            raise _fail(str(exc)) from None

    summary = summarize_history(history.leads, history.events)
    console.print(_summary_table(summary, title=f"Simulated CRM history: {n_leads:,} leads, seed {seed}"))
    console.print(f"{len(history.leads):,} leads and {len(history.events):,} events")
    for name, path in paths.items():
        note = "  (evaluation only: never train on it)" if name == "truth" else ""
        console.print(f"  {name:<7}{escape(str(path))}{note}", highlight=False)


def _simulate_on_dask(
    n_leads: int,
    seed: int,
    months: int,
    out_dir: Path,
    fmt: OutputFormat,
    scheduler: str | None,
    partitions: int | None,
) -> None:
    from engines.cluster import EngineError, dask_client
    from engines.partitioned import LEADS_PER_PARTITION, simulate_partitioned
    from leadrank.cli_support import load_settings, scheduler_address
    from leadrank.report import Steps

    if fmt != OutputFormat.parquet:
        raise _fail("--engine dask writes partitioned Parquet: leave out --format or give --format parquet")
    n_parts = partitions or max(2, -(-n_leads // LEADS_PER_PARTITION))
    if n_parts > n_leads:
        raise _fail(f"--partitions must be at most --n-leads ({n_leads:,}), got {n_parts:,}")
    address = scheduler_address(scheduler, load_settings())
    console = Console()
    try:
        with Steps(console, indent="") as step:
            step(f"connecting to the Dask scheduler at {address}" if address else "starting a local Dask cluster")
            with dask_client(address) as client:
                step(f"simulating {n_leads:,} leads in {n_parts} partitions over {months} months (seed {seed})")
                written = simulate_partitioned(client, n_leads, seed, months, out_dir, n_parts)
    except (EngineError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"{written['leads']:,} leads ({written['open']:,} open) and {written['events']:,} events in {n_parts} "
        f"partitions under {escape(str(out_dir))}/leads and /events; truth (evaluation only: never train on it) "
        f"in {escape(str(out_dir / 'truth.parquet'))}",
        highlight=False,
    )
