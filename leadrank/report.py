"""Terminal rendering shared by the CLI commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table


def _column_format(values: pd.Series) -> str:
    """One number format per column, so digits line up and 0.8 and 0.813 read alike (0.800, 0.813)."""
    nums = pd.to_numeric(values, errors="coerce").dropna()
    nums = nums[np.isfinite(nums)]
    if nums.empty:
        return ""
    if (nums == nums.round()).all():
        return ",.0f"
    top = float(nums.abs().max())
    if top >= 100:
        return ",.0f"
    if top >= 1:
        return ",.2f"
    smallest = float(nums[nums != 0].abs().min()) if (nums != 0).any() else 1.0
    return ".4f" if smallest < 0.01 else ".3f"


def _cell(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float) or not fmt:
        return str(value)
    return format(value, fmt)


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
    formats = [_column_format(frame[col]) if frame[col].dtype != bool else "" for col in frame.columns]
    for idx, row in frame.iterrows():
        values = [v.item() if hasattr(v, "item") else v for v in row.tolist()]
        cells = [_cell(v, fmt) for v, fmt in zip(values, formats, strict=True)]
        table.add_row(*([str(idx)] if index else []), *cells)
    console.print(table)
