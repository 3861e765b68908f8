"""Plumbing shared by every command: the lazily loaded App, context settings, error handling.

Commands import this module; it imports no command (the group lives in cli/main.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from publisher.core import config
from publisher.core.errors import PublisherError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class App:
    """Lazily loaded configuration and store, shared by the commands of one invocation."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._cfg: config.Config | None = None
        self._store: Any = None

    @property
    def cfg(self) -> config.Config:
        if self._cfg is None:
            self._cfg = config.load(self.config_path)
        return self._cfg

    @property
    def store(self) -> Any:
        if self._store is None:
            from publisher.store.engine import open_store

            self._store = open_store(self.cfg)
        return self._store

    def close(self) -> None:
        # Pooled connections (PostgreSQL) are closed here, not left to the garbage collector.
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(App)


class Group(click.Group):
    """Turns failures into one line on stderr with an exit status (1 or 2).

    An unexpected exception is a bug or an environment problem: the operator gets one line
    and PUBLISHER_DEBUG=1 shows the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PublisherError as exc:
            click.echo(f"publisher: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("PUBLISHER_DEBUG"):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            click.echo(
                f"publisher: error: {type(exc).__name__}: {first} "
                "(hint: run again with PUBLISHER_DEBUG=1 for the traceback)",
                err=True,
            )
            sys.exit(1)
