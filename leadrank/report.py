"""Terminal rendering shared by the CLI commands.

Everything printed that comes from data, files, specs or the model (lead ids, rep names, notes, warnings, file
names) goes through `rich.markup.escape` or a `Text`: rich would otherwise read `[leads]` as a markup tag and
drop it.
"""

from __future__ import annotations

import time
from types import TracebackType

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
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
        return escape(str(value))
    return format(value, fmt)


def console() -> Console:
    """A console for command output: wide enough for the tables even when output goes to a file or a pipe."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


def print_frame(console: Console, frame: pd.DataFrame, title: str | None = None, index: bool = True) -> None:
    """Print a small frame as a rich table (numbers right-aligned, floats rounded for reading)."""
    table = Table(title=None if title is None else escape(title), show_lines=False)
    if index:
        table.add_column(escape(str(frame.index.name or "")), style="bold", no_wrap=True)
    for col in frame.columns:
        table.add_column(escape(str(col)), justify="right", no_wrap=True)
    formats = [_column_format(frame[col]) if frame[col].dtype != bool else "" for col in frame.columns]
    for idx, row in frame.iterrows():
        values = [v.item() if hasattr(v, "item") else v for v in row.tolist()]
        cells = [_cell(v, fmt) for v, fmt in zip(values, formats, strict=True)]
        table.add_row(*([escape(str(idx))] if index else []), *cells)
    console.print(table)


class Steps:
    """The steps of a long command, each printed when it ends with the seconds it took.

    Call it with each step's message as the step begins (it fits `train`'s `progress` callback); use it as a
    context manager so the last step is printed too. In a terminal a spinner with the elapsed time shows the
    step that is running; in a pipe or a log only the finished steps' lines appear.
    """

    def __init__(self, console: Console, indent: str = "  ") -> None:
        self.console = console
        self.indent = indent
        self._message: str | None = None
        self._started = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Steps:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return self

    def __call__(self, message: str) -> None:
        self._finish()
        self._message = message
        self._started = time.perf_counter()
        if self._progress is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(escape(message))

    def _finish(self) -> None:
        if self._message is None:
            return
        seconds = time.perf_counter() - self._started
        self.console.print(f"{self.indent}{escape(self._message)} [dim]({seconds:.1f} s)[/]", highlight=False)
        self._message = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A step that failed is not reported as done: the error message says what happened.
        if exc_type is None:
            self._finish()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
