from __future__ import annotations

import click

from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json
from publisher.publish import site as site_mod


@click.group("site", context_settings=CONTEXT)
def site() -> None:
    """The static site and the feeds."""


@site.command("build", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
@pass_app
def build(app: App, as_json: bool) -> None:
    """Write the pages and the RSS, Atom and JSON feeds of every language under data_dir/site."""
    report = site_mod.build(app.cfg, app.store, show_progress=not as_json)
    if as_json:
        emit_json(report.as_dict())
        return
    click.echo(
        f"Built {report.site_dir}: {report.pages} page(s) and {report.feeds} feed(s) for "
        f"{report.articles} article(s) in {', '.join(report.languages)}; "
        f"{report.written} written, {report.unchanged} unchanged ({report.seconds:.1f}s)."
    )


COMMANDS = [site]
