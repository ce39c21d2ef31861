"""The `leadrank` command: one subcommand per job, each defined in a module of leadrank/commands/.

Subcommand modules import their heavy dependencies (mlflow, bentoml, lightgbm) inside the command function, so
`leadrank --help` stays fast.
"""

from __future__ import annotations

import logging

import typer

from leadrank.commands.models import models
from leadrank.commands.monitor import monitor
from leadrank.commands.quickstart import quickstart
from leadrank.commands.rank import rank
from leadrank.commands.report import report
from leadrank.commands.retrain import retrain
from leadrank.commands.serve import outcomes_app, serve
from leadrank.commands.simulate import simulate
from leadrank.commands.train import promote, rollback, train, ui

app = typer.Typer(
    name="leadrank",
    help="Capacity-aware lead scoring: simulate CRM history, train, rank leads under sales capacity, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain text: with rich markup, `[[rep]]` in a help string would print as `[]`.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"leadrank {version('leadrank')}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    # Progress is printed by the commands themselves; library logging shows warnings unless asked for more.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


app.command("quickstart")(quickstart)
app.command("simulate")(simulate)
app.command("train")(train)
app.command("retrain")(retrain)
app.command("rank")(rank)
app.command("report")(report)
app.command("promote")(promote)
app.command("rollback")(rollback)
app.command("ui")(ui)
app.command("models")(models)
app.command("monitor")(monitor)
app.command("serve")(serve)
app.add_typer(outcomes_app, name="outcomes")


def main() -> None:
    app()
