"""`leadrank serve` and `leadrank outcomes import FILE`: thin wrappers over `serving`.

BentoML and MLflow are imported inside the commands, so `leadrank --help` stays fast. Library errors become a
message on stderr and exit code 2.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from leadrank.cli_support import fail, load_settings, print_json


def _listen_address(host: str) -> tuple[str, bool]:
    """The IP address to bind for `host` and whether it is loopback only."""
    text = host.strip()
    if text.lower() == "localhost":
        return "127.0.0.1", True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        fail(f"--host must be an IP address such as 127.0.0.1 or 0.0.0.0 (or localhost), got {host!r}")
    return str(address), address.is_loopback


def _warn_open(host: str, port: int) -> None:
    line = "!" * 78
    typer.secho(
        f"{line}\n"
        f"  WARNING: listening on {host}:{port}, beyond this machine, WITHOUT authentication.\n"
        "  Anyone who can reach this port can score leads and read the model's metadata.\n"
        "  Set LEADRANK_API_TOKENS=<token>[,<token>...] so /score, /rank and /model require\n"
        "  'Authorization: Bearer <token>', or bind to 127.0.0.1.\n"
        f"{line}",
        err=True,
        fg=typer.colors.RED,
        bold=True,
    )


def serve(
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 exposes the service to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 3000,
    model_version: Annotated[
        str | None,
        typer.Option(
            "--model-version", help="Registered MLflow version to serve (default: the champion).", show_default=False
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).", min=1, max=64)] = 1,
    import_only: Annotated[
        bool,
        typer.Option(
            "--import-only",
            help="Only import the model into the BentoML store and print its tag (e.g. before `bentoml build`).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="With --import-only: print the imported model's tag as JSON on stdout, nothing else.",
        ),
    ] = False,
) -> None:
    """Serve the lead scorer over HTTP: POST /score, POST /rank, GET /model, /livez, /readyz, /metrics.

    First copies the MLflow champion (or --model-version) into the BentoML model store, if not there yet.
    """
    settings = load_settings()
    if as_json and not import_only:
        fail("--json goes with --import-only (a running server answers over HTTP, not on stdout)")
    address, loopback = _listen_address(host)
    if not loopback and not settings.token_list() and not import_only:
        _warn_open(address, port)
    # BentoML reports usage statistics over the network unless told not to.
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

    from serving.errors import ServingError
    from serving.model_store import BENTO_MODEL_ENV, import_model

    try:
        imported = import_model(settings.resolved_tracking_uri(), settings.model_name, model_version)
    except ServingError as exc:
        fail(str(exc))
    if as_json:
        print_json(
            {
                "model_name": settings.model_name,
                "mlflow_version": imported.mlflow_version,
                "tag": imported.tag,
                "imported": imported.imported,
            }
        )
        return
    state = "imported into" if imported.imported else "already in"
    print(
        f"Model {settings.model_name!r} version {imported.mlflow_version}: {imported.tag} ({state} the BentoML store)"
    )
    if import_only:
        print(f"Build a bento with it:  {BENTO_MODEL_ENV}={imported.tag} bentoml build")
        return
    os.environ[BENTO_MODEL_ENV] = imported.tag

    import bentoml
    from bentoml.exceptions import BentoMLException

    from serving.service import LeadScorer

    service: Any = LeadScorer  # the BentoML Service object (mypy sees the decorated class)
    service.config["workers"] = workers
    auth = "bearer tokens required" if settings.token_list() else "no authentication"
    print(
        f"Serving on http://{address}:{port} ({workers} worker{'s' if workers != 1 else ''}, {auth}); "
        f"prediction log {settings.resolved_prediction_db()}; Ctrl-C stops it"
    )
    try:
        bentoml.serve(service, host=address, port=port, blocking=True)
    except KeyboardInterrupt:
        return
    except (BentoMLException, OSError) as exc:
        fail(f"cannot start the server on {address}:{port}: {exc}")


outcomes_app = typer.Typer(
    name="outcomes",
    help="Record what happened to scored leads (won or lost), joined to the prediction log.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@outcomes_app.command("import")
def outcomes_import(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="CSV or Parquet file with columns lead_id, outcome (won/lost) and optionally closed_at.",
            show_default=False,
        ),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="Instead of FILE: a CRM export read through its dataset spec (TOML); its won/lost rows are imported.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import lead outcomes into the prediction log (LEADRANK_PREDICTION_DB) and report how many match.

    Importing the same outcomes again changes nothing; an outcome that differs from the stored one replaces it
    and is listed with its row.
    """
    if (file is None) == (spec is None):
        fail("give exactly one of FILE (lead_id, outcome, closed_at) or --spec FILE.toml (a CRM export)")
    settings = load_settings()
    from features.spec import SpecError, load_dataset
    from serving.errors import ServingError
    from serving.predictions import import_outcomes, outcomes_of_leads, record_outcomes

    try:
        if spec is not None:
            dataset = load_dataset(spec)
            report = record_outcomes(outcomes_of_leads(dataset.batch.leads), settings.resolved_prediction_db(), spec)
        else:
            assert file is not None
            report = import_outcomes(file, settings.resolved_prediction_db())
    except SpecError as exc:
        fail(str(exc))
    except ServingError as exc:
        fail(str(exc))
    duplicates = report.rows - report.leads
    dup_note = f" ({duplicates} rows merged or without an outcome)" if duplicates else ""
    print(
        f"Read {report.leads:,} outcomes ({report.won:,} won, {report.lost:,} lost) from {report.path}{dup_note} "
        f"into {report.database}: {report.new:,} new, {report.changed:,} changed, {report.unchanged:,} already there."
    )
    if report.changed:
        shown = "; ".join(report.changes[:10]) + (f"; and {report.changed - 10:,} more" if report.changed > 10 else "")
        print(f"Conflicts with the stored outcomes, replaced by this file's: {shown}")
    verb = "was" if report.unmatched == 1 else "were"
    print(
        f"{report.matched:,} of them match a scored lead in the prediction log; "
        f"{report.unmatched:,} {verb} never scored."
    )
    if report.unmatched_examples:
        print(f"Never scored, e.g.: {', '.join(report.unmatched_examples)}")
