"""Terminal rendering shared by the CLI commands."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table


def _cell(value: object) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def console() -> Console:
    """A console for command output: wide enough for the tables even when output goes to a file or a pipe."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


def print_frame(console: Console, frame: pd.DataFrame, title: str | None = None, index: bool = True) -> None:
    """Print a small frame as a rich table (numbers right-aligned, floats rounded for reading)."""
    table = Table(title=title, show_lines=False)
    if index:
        table.add_column(str(frame.index.name or ""), style="bold", no_wrap=True)
    for col in frame.columns:
        table.add_column(str(col), justify="right", no_wrap=True)
    for idx, row in frame.iterrows():
        cells = [_cell(v.item() if hasattr(v, "item") else v) for v in row.tolist()]
        table.add_row(*([str(idx)] if index else []), *cells)
    console.print(table)
