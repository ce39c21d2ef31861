"""What every command needs: a one-line error with exit code 2, and settings read with a readable error."""

from __future__ import annotations

from typing import NoReturn

import typer

from leadrank.settings import Settings


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit with code 2 (bad input, never a traceback)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


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
