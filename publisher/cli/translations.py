"""`publisher translations export|import|status`: the PO round trip with translators."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, table
from publisher.i18n import translations as tr


@click.group("translations", context_settings=CONTEXT)
def translations() -> None:
    """Export translation slots as PO files for translators and import them back."""


@translations.command("export", context_settings=CONTEXT)
@click.option("--lang", required=True, type=click.Choice(LANGUAGES), help="Target language.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the PO file here (default: stdout).")
@pass_app
def export(app: App, lang: str, output: Path | None) -> None:
    """Write the missing, draft and outdated LANG slots as a PO catalog."""
    result = tr.export(app.cfg, app.store, lang)
    if output is None:
        sys.stdout.write(str(result.po) + "\n")
    else:
        tr.write_po(result.po, output)
    states = ", ".join(f"{n} {state}" for state, n in sorted(result.articles.items())) or "none"
    where = output or "stdout"
    click.echo(f"{result.entries} entries from {sum(result.articles.values())} article(s) "
               f"({states}) written to {where}", err=True)


@translations.command("import", context_settings=CONTEXT)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(LANGUAGES),
              help="Refuse the file unless its header says L.")
@click.option("--force", is_flag=True,
              help="Import even when the translations read as another language than the "
                   "header's.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
@pass_app
def import_(app: App, path: Path, lang: str | None, force: bool, as_json: bool) -> None:
    """Fill translation slots from a PO file (fuzzy -> draft, translated -> ready).

    A file whose translations are plainly not in its header's language is refused (exit 2)
    unless --force is given.
    """
    report = tr.import_po(app.store, path, lang=lang, force=force)
    if as_json:
        emit_json(report.as_dict())
        return
    for warning in report.warnings:
        click.echo(f"warning: {path}: {warning}", err=True)
    table(
        f"{path} ({report.lang})",
        ["ready", "draft", "unchanged", "skipped", "fuzzy entries", "untranslated", "stale"],
        [(report.ready, report.draft, report.unchanged, report.skipped, report.fuzzy_entries,
          report.untranslated_entries, report.stale_entries)],
    )


@translations.command("status", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Per language: how many articles are ready, draft, outdated or missing."""
    doc = tr.status(app.store)
    if as_json:
        emit_json(doc)
    else:
        tr.print_status(doc)


COMMANDS = [translations]
