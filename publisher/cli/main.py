"""The `publisher` command group: global options, and one module per command beside it."""

from __future__ import annotations

import importlib

import click

from publisher import __version__
from publisher.cli.app import CONTEXT, App, Group

# Each command's module, imported when that command runs (or when help lists them all):
# a command loads only what it uses (`publisher import` 0.4 s of imports instead of 0.62 s
# for every command's), and the import's parse workers re-run no more than this group
# (ingest/parsing.preload).
_MODULES = {
    "articles": "articles", "bounces": "bounces", "demo": "demo", "digest": "digest",
    "import": "imports", "run": "run", "send": "send", "serve": "serve", "site": "site",
    "status": "status", "subscribers": "subscribers", "translations": "translations",
    "worker": "worker",
}


class _Commands(Group):
    """The command group, each command loaded from its module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            for command in importlib.import_module(f"publisher.cli.{module}").COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)


@click.group("publisher", cls=_Commands, context_settings=CONTEXT)
@click.option(
    "--config", "config_path", envvar="PUBLISHER_CONFIG", type=click.Path(dir_okay=False),
    help="publisher.toml to use (default: ./publisher.toml if present, else embedded defaults).",
)
@click.version_option(__version__, "-V", "--version")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Publish kk/ru/en news: import articles, build the site and feeds, mail digests."""
    ctx.obj = App(config_path)
    ctx.call_on_close(ctx.obj.close)
