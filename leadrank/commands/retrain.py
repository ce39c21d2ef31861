"""`leadrank retrain`: the champion's recipe on the newest data, promoted only through the promotion gate; a thin
wrapper over `training.retrain`, made to run from a scheduler.

Exit codes: 0 promoted (the challenger is the new champion), 3 refused (registered as challenger, the gate kept
the champion), 4 nothing new (no closed lead since the champion's cut-off: nothing trained), 2 error (bad input,
an unreadable store; the message says which).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from leadrank.cli_support import (
    EXIT_GATE_REFUSED,
    EXIT_NOTHING_NEW,
    DataDirOption,
    ExperimentOption,
    SeedOption,
    SpecOption,
    fail,
    load_settings,
    print_json,
)


def retrain(
    data: DataDirOption = None,
    spec: SpecOption = None,
    experiment: ExperimentOption = None,
    seed: SeedOption = 7,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print what happened as JSON on stdout, nothing else; progress goes to stderr."),
    ] = False,
) -> None:
    """Retrain on the newest data and promote only through the promotion gate (for a schedule).

    Does nothing when no lead has closed since the champion was fitted. Exit code 0: promoted; 3: the gate
    refused the challenger (champion kept); 4: nothing new (nothing trained); 2: error.
    """
    from rich.console import Console

    from features.engagement import FeatureInputError
    from features.io import DataLoadError
    from features.spec import SpecError
    from leadrank.commands.train import print_training, training_json
    from leadrank.config import gate_policy, tracking_config
    from leadrank.report import Steps
    from model import ModelFormatError
    from training.pipeline import TrainingError, TrainOptions, load_training_data
    from training.retrain import retrain as run_retrain
    from training.tracking import TrackingError

    if (data is None) == (spec is None):
        fail("give exactly one of --data DIR (canonical tables) or --spec FILE.toml (a foreign CRM export)")
    settings = load_settings()
    console = Console(stderr=True) if as_json else Console()
    try:
        dataset = load_training_data(data_dir=data, spec=spec)
        console.print(f"retraining on {escape(dataset.origin)} ({len(dataset.batch.leads):,} leads)", highlight=False)
        options = TrainOptions(seed=seed, experiment=experiment, register=True)
        with Steps(console) as step:
            outcome = run_retrain(dataset, tracking_config(settings), gate_policy(settings), options, progress=step)
    except (DataLoadError, SpecError, FeatureInputError, TrainingError, TrackingError, ModelFormatError) as exc:
        fail(str(exc))
    if as_json:
        print_json(
            {
                "status": outcome.status,
                "message": outcome.message,
                "champion_before": outcome.champion_version,
                "new_closed_leads": outcome.new_closed_leads,
                "training": None if outcome.result is None else training_json(outcome.result),
            }
        )
    else:
        if outcome.result is not None:
            print_training(console, outcome.result)
        console.print(f"retrain: {escape(outcome.message)}", highlight=False)
    if outcome.status == "refused":
        raise typer.Exit(EXIT_GATE_REFUSED)
    if outcome.status == "nothing_new":
        raise typer.Exit(EXIT_NOTHING_NEW)
