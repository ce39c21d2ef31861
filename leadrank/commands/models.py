"""`leadrank models`: the registered versions of the model, their aliases, test metrics and gate verdicts."""

from __future__ import annotations

from typing import Annotated

import typer

from leadrank.cli_support import fail, load_settings, print_json
from training.registry import VersionInfo


def models(
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the versions as a JSON list on stdout, nothing else."),
    ] = False,
) -> None:
    """List the registered versions of the model, newest first: aliases (champion, challenger), when each was
    registered, its test AUC, calibration error (ECE) and expected closes at capacity, and the gate's verdict."""
    import pandas as pd
    from rich.markup import escape

    from leadrank.config import tracking_config
    from leadrank.report import console as make_console
    from leadrank.report import print_frame
    from training import registry, tracking

    config = tracking_config(load_settings())
    try:
        versions = registry.list_versions(config)
    except tracking.TrackingError as exc:
        fail(str(exc))
    if as_json:
        print_json({"model_name": config.model_name, "versions": [v.to_dict() for v in versions]})
        return
    console = make_console()
    if not versions:
        console.print(
            f"no versions of {escape(repr(config.model_name))} registered in {escape(config.tracking_uri)}: "
            "run `leadrank train` (or `leadrank quickstart`)",
            highlight=False,
        )
        return
    rows = [
        {
            "version": v.version,
            "aliases": ", ".join(v.aliases) or "-",
            "registered (UTC)": v.created_at.strftime("%Y-%m-%d %H:%M"),
            "AUC": v.metrics.get("test_roc_auc"),
            "ECE": v.metrics.get("test_ece"),
            "closes at capacity": v.metrics.get("test_expected_closes_at_capacity"),
            "gate": _verdict(v),
        }
        for v in versions
    ]
    frame = pd.DataFrame(rows).set_index("version")
    print_frame(console, frame, title=f"Registered versions of {config.model_name!r} ({config.tracking_uri})")
    for v in versions:
        if v.gate_passed is False and v.gate_summary:
            console.print(f"  version {v.version}: {escape(v.gate_summary)}", highlight=False)


def _verdict(version: VersionInfo) -> str:
    verdict = {None: "not gated", True: "passed", False: "refused"}[version.gate_passed]
    if version.gate_overridden:
        verdict += " (promoted by hand)"
    return verdict
