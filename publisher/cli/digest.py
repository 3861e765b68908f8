"""`publisher digest preview`: the next digest of a list as HTML, without sending anything."""

from __future__ import annotations

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.atomic import write_text
from publisher.mail.digest import preview as preview_html


@click.group("digest", context_settings=CONTEXT)
def digest() -> None:
    """Look at digests before they are sent."""


@digest.command("preview", context_settings=CONTEXT)
@click.option("--list", "list_slug", required=True, help="The list (see [[lists]]).")
@click.option("--lang", required=True, type=click.Choice(LANGUAGES), help="Reader language.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the HTML here.")
@pass_app
def preview(app: App, list_slug: str, lang: str, output: str | None) -> None:
    """Render the list's next digest in LANG (what is new since the last issue)."""
    app.cfg.get_list(list_slug)
    html = preview_html(app.cfg, app.store, list_slug, lang)
    if output:
        from pathlib import Path

        write_text(Path(output), html)
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(html, nl=False)


COMMANDS = [digest]
