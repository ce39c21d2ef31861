"""`leadrank quickstart`: the whole product end to end on embedded defaults.

Simulates a CRM history, trains and registers a model in the local MLflow store (SQLite in the working
directory, the same store `leadrank serve`, `leadrank rank` and `leadrank ui` use), then ranks the open leads for
a default sales team and writes the handoff list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# A small team as a sales lead would describe it: weekly selling hours for new leads, one rep with a lead cap,
# two reps who only cover their countries.
DEFAULT_TEAM: dict[str, Any] = {
    "team": [
        {"name": "Alex", "hours": 40},
        {"name": "Bea", "hours": 40, "segments": {"country": ["DE", "CH", "NL"]}},
        {"name": "Chen", "hours": 32, "max_leads": 12},
        {"name": "Dana", "hours": 40, "segments": {"country": ["US", "GB"]}},
        {"name": "Emil", "hours": 24},
    ]
}


def quickstart(
    out: Annotated[Path, typer.Option("--out", help="Folder for the simulated data and the ranked list.")] = Path(
        "leadrank-out"
    ),
    leads: Annotated[int, typer.Option("--leads", min=2_000, help="Leads to simulate (at least 2,000).")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same data and metrics.")] = 7,
) -> None:
    """Simulate a CRM history, train and register a model, and hand off open leads to a default team."""
    from features.summary import summarize_history
    from handoff import parse_capacity
    from leadrank.commands.rank import (
        load_champion,
        load_open_leads,
        print_handoff,
        rank_leads,
        write_plan,
        write_ranked,
    )
    from leadrank.commands.train import print_training
    from leadrank.config import gate_policy, tracking_config
    from leadrank.report import console as make_console
    from leadrank.report import print_frame
    from leadrank.settings import Settings
    from simulator import simulate, write_history
    from training.pipeline import TrainOptions, load_training_data
    from training.tracking_run import train_and_log

    console = make_console()
    settings = Settings()
    console.rule("[bold]leadrank quickstart")
    console.print(f"[bold]1/3[/] simulating {leads:,} leads (seed {seed})")
    history = simulate(n_leads=leads, seed=seed)
    data_dir = out / "data"
    write_history(history, data_dir)
    console.print(f"    wrote {data_dir}/ leads, events ({len(history.events):,} rows), truth")
    print_frame(console, summarize_history(history.leads, history.events), title="Simulated history by source")
    del history

    console.print(f"\n[bold]2/3[/] training (MLflow store: {settings.resolved_tracking_uri()})")
    result = train_and_log(
        load_training_data(data_dir=data_dir),
        tracking_config(settings),
        gate_policy(settings),
        TrainOptions(seed=seed),
        lambda msg: console.print(f"    {msg}"),
    )
    print_training(console, result)

    console.print("\n[bold]3/3[/] ranking the open leads for a default team of five")
    spec = parse_capacity(DEFAULT_TEAM, source="quickstart team")
    batch, _ = load_open_leads(data_dir=data_dir)
    model, version = load_champion(tracking_config(settings))
    ranked, handoff_result, _ = rank_leads(batch, model, spec)
    write_ranked(ranked, out / "ranked.csv")
    write_plan(ranked, handoff_result, out / "capacity_plan.png")
    print_handoff(console, ranked, handoff_result, version, out / "ranked.csv")
    console.print(f"capacity planning curve: {out / 'capacity_plan.png'} (table: {out / 'capacity_plan.csv'})")
    console.print("\nNext: `leadrank serve` serves this champion; `leadrank ui` browses the runs.")
