"""Terminal output shared by the commands: JSON documents, tables, progress, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol


class Progress(Protocol):
    def advance(self, n: int = 1, note: str = "") -> None: ...


class _Silent:
    def advance(self, n: int = 1, note: str = "") -> None:
        return None


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(doc: Any) -> None:
    """One JSON document on stdout (the --json contract)."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=_default) + "\n")


_PIPED_WIDTH = 1000


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(str(c) for c in row))
    # On a terminal a row folds to fit its width; piped into a file or grep, a row stays
    # one line (a long path cut in two is no longer found), as wide as its cells need.
    Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH).print(t)


@contextmanager
def progress(label: str, total: int | None, enabled: bool) -> Iterator[Progress]:
    """A progress bar on a terminal; silent when piped or in --json mode."""
    if not enabled or not sys.stderr.isatty():
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total, note="")

    class _Bar:
        def advance(self, n: int = 1, note: str = "") -> None:
            bar.update(task, advance=n, note=note)

    with bar:
        yield _Bar()


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
