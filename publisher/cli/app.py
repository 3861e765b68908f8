"""Plumbing shared by every command: the lazily loaded App, context settings, error handling.

Commands import this module; it imports no command (the group lives in cli/main.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

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

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Click's own handling prints usage blocks; ours prints one line, exit 2 for bad
        usage and 1 for runtime failures, like every other error of the command line."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            # A group run with nothing after it: its help, laid out (not folded into one
            # error line), on stderr with exit 2 as Click itself does.
            click.echo(exc.format_message(), err=True)
            sys.exit(2)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "publisher"
            _fail(f"{exc.format_message()} (hint: `{where} -h` shows the usage)", 2)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(rv if isinstance(rv, int) else 0)

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


def _fail(message: str, code: int) -> NoReturn:
    click.echo("publisher: error: " + " ".join(message.split()), err=True)
    sys.exit(code)


def require_signing_key(cfg: config.Config, command: str, demo: bool) -> config.Config:
    """The configuration the web and the service run with, or exit 2 when links could not
    be signed. `--demo` signs with the public demo key, which anyone can use to forge links."""
    if cfg.secret_key or os.environ.get("PUBLISHER_SECRET_KEY"):
        return cfg
    if not demo:
        from publisher.core.errors import ConfigError

        raise ConfigError(
            "no signing key: PUBLISHER_SECRET_KEY is not set",
            f"export PUBLISHER_SECRET_KEY=<32+ random characters>, or try `publisher "
            f"{command} --demo` on a test store",
        )
    from publisher.subscribers.tokens import DEMO_KEY

    click.echo("publisher: warning: --demo signs links with the public demo key; never use it "
               "with real subscribers", err=True)
    # The key is read from the environment everywhere (web, workers): set it for this process.
    os.environ["PUBLISHER_SECRET_KEY"] = DEMO_KEY
    return cfg
