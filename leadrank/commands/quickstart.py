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
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Folder for the simulated data, the ranked list and the plan.")
    ] = Path("leadrank-out"),
    n_leads: Annotated[
        int, typer.Option("--n-leads", min=2_000, help="How many leads to simulate: a count, at least 2,000.")
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same data and metrics.")] = 7,
) -> None:
    """Simulate a CRM history, train and register a model, and hand off open leads to a default team."""
    from rich.markup import escape

    from features.contract import LeadBatch
    from features.io import load_history_dir
    from features.summary import summarize_history
    from handoff import parse_capacity
    from leadrank.cli_support import fail, load_settings
    from leadrank.commands.rank import (
        RankError,
        load_champion,
        load_open_leads,
        print_handoff,
        rank_leads,
        write_marketing_list,
        write_plan,
    )
    from leadrank.commands.report import model_card, write_report
    from leadrank.commands.train import print_training
    from leadrank.config import gate_policy, tracking_config
    from leadrank.report import Steps, print_frame
    from leadrank.report import console as make_console
    from simulator import simulate, write_history
    from training.pipeline import TrainOptions, load_training_data
    from training.tracking_run import train_and_log

    settings = load_settings()
    console = make_console()
    console.rule("[bold]leadrank quickstart")
    data_dir = out_dir / "data"
    console.print(f"[bold]1/3[/] simulating {n_leads:,} leads (seed {seed})")
    with Steps(console, indent="    ") as step:
        step(f"simulating {n_leads:,} leads")
        history = simulate(n_leads=n_leads, seed=seed)
        step(f"writing {data_dir}/ leads, events ({len(history.events):,} rows), truth")
        write_history(history, data_dir)
    print_frame(console, summarize_history(history.leads, history.events), title="Simulated history by source")
    del history

    console.print(f"\n[bold]2/3[/] training (MLflow store: {escape(settings.resolved_tracking_uri())})")
    with Steps(console, indent="    ") as step:
        result = train_and_log(
            load_training_data(data_dir=data_dir),
            tracking_config(settings),
            gate_policy(settings),
            TrainOptions(seed=seed),
            step,
        )
    print_training(console, result)

    console.print("\n[bold]3/3[/] ranking the open leads for a default team of five")
    spec = parse_capacity(DEFAULT_TEAM, source="quickstart team")
    ranked_file, plan_file = out_dir / "ranked.csv", out_dir / "capacity_plan.png"
    xlsx_file, report_file = out_dir / "ranked.xlsx", out_dir / "report.html"
    with Steps(console, indent="    ") as step:
        step("loading the open leads")
        batch, _ = load_open_leads(data_dir=data_dir)
        step("loading the champion model")
        try:
            model, version = load_champion(tracking_config(settings))
        except RankError as exc:  # e.g. the gate refused the first model: there is no champion to rank with
            fail(str(exc))
        step(f"scoring {len(batch.leads):,} leads and handing off what fits capacity")
        ranked, handoff_result, _ = rank_leads(batch, model, spec)
        step(f"writing {ranked_file}, {xlsx_file} and {plan_file}")
        listed = write_marketing_list(batch, model, handoff_result, ranked_file, version)
        write_marketing_list(batch, model, handoff_result, xlsx_file, version)
        write_plan(ranked, handoff_result, plan_file)
        step(f"writing {report_file}")
        hist = load_history_dir(data_dir)
        card = model_card(tracking_config(settings), version)
        write_report(report_file, handoff_result, listed, model, card, LeadBatch(hist.leads, hist.events))
    print_handoff(console, ranked, handoff_result, version, ranked_file)
    console.print(
        f"capacity planning curve: {escape(str(plan_file))} (table: {escape(str(plan_file.with_suffix('.csv')))})"
    )
    console.print(f"Excel list: {escape(str(xlsx_file))} · report: {escape(str(report_file))} (open it in a browser)")
    console.print(
        "Review page: run `leadrank serve` and open http://127.0.0.1:3000/ui to upload leads (CSV) and see them "
        "ranked with their reasons."
    )
    console.print("\nNext: `leadrank serve` serves this champion; `leadrank ui` browses the runs.")
