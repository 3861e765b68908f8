"""The `publisher` command group: global options, and one module per command beside it."""

from __future__ import annotations

import click

from publisher import __version__
from publisher.cli.app import CONTEXT, App, Group


@click.group("publisher", cls=Group, context_settings=CONTEXT)
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


def _register() -> None:
    from publisher.cli import (
        articles,
        bounces,
        demo,
        digest,
        imports,
        run,
        send,
        serve,
        site,
        status,
        subscribers,
        translations,
        worker,
    )

    for module in (
        imports, articles, demo, subscribers, site, translations, run, status, digest, send,
        serve, worker, bounces,
    ):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
