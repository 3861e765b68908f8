from __future__ import annotations

import re
from collections.abc import Iterator

import click

from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, table
from publisher.ingest import importer


@click.command("import", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Parse and report; store nothing.")
@click.option(
    "--lenient", is_flag=True,
    help="Replace undecodable bytes (warning names the line) instead of rejecting the file.",
)
@click.option(
    "--margin", type=click.FloatRange(0.0, 0.49), metavar="M",
    help="List as close calls the title/subheading calls scored within M of 0.5 (default: "
         "the model's margin, 0.2; 0.3 lists more of the wrong ones). The split does not "
         "change.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
@pass_app
def import_(app: App, paths: tuple[str, ...], dry_run: bool, lenient: bool,
            margin: float | None, as_json: bool) -> None:
    """Import articles from text dumps, JSON Lines or Markdown files and folders."""
    report = importer.import_paths(
        app.store, paths, dry_run=dry_run, lenient=lenient, show_progress=not as_json,
        max_bytes=int(app.cfg.imports.max_file_mb * 1024 * 1024), pause_gc=True,
        review=margin,
    )
    if as_json:
        emit_json(report.as_dict())
    else:
        for fr in report.files:
            for w in _shown(fr.warnings):
                click.echo(f"warning: {fr.path}: {w}", err=True)
            if fr.error:
                click.echo(f"publisher: rejected {fr.error}", err=True)
            if fr.uncertain and not dry_run:
                again = "--dry-run" + (f" --margin {margin}" if margin is not None else "")
                click.echo(f"note: {fr.path}: {len(fr.uncertain)} close title/subheading "
                           f"call(s); `publisher import {again}` lists them", err=True)
        close = [(f.path, d) for f in report.files for d in f.uncertain]
        if dry_run and close:
            table(
                "Close calls: check these lines (mark a title `# `, a subheading `## `)",
                ["file", "line", "score", "verdict", "text"],
                [(path, d["line"], f"{d['score']:.2f}", d["verdict"], d["text"][:60])
                 for path, d in close],
            )
        table(
            "Import" + (" (dry run: nothing stored)" if dry_run else ""),
            ["file", "articles", "new", "updated", "unchanged", "warnings", "status"],
            [(f.path, f.articles, f.new, f.updated, f.unchanged, len(f.warnings), f.status)
             for f in report.files],
        )
        t = report.totals()
        click.echo(
            f"{t['new']} new, {t['updated']} updated, {t['unchanged']} unchanged, "
            f"{t['rejected']} file(s) rejected"
        )
    if report.rejected:
        raise SystemExit(2)


# Warnings of one kind shown per file on a terminal: a large dump of undated articles would
# otherwise print one line each (40,000 for the benchmark corpus); --json keeps every one.
SHOWN_PER_KIND = 5
_QUOTED = re.compile(r'"[^"]*"')
_NUMBER = re.compile(r"\d+")
_LINE = re.compile(r"^line \d+: ")


def _kind(warning: str) -> str:
    """What a warning says, without where and about which article: its first clause once
    the line number, the quoted title before it (which may hold quotes of its own), quoted
    text and numbers are set aside ("no date stated", "\"…\" gives no year")."""
    head = _LINE.sub("", warning).split(";")[0]
    if head.startswith('"') and '": ' in head:
        head = head[head.rindex('": ') + 3:]
    return _NUMBER.sub("N", _QUOTED.sub('"…"', head))


def _shown(warnings: list[str]) -> Iterator[str]:
    """`warnings` in file order, at most SHOWN_PER_KIND of a kind (`_kind`), then how many
    more of each kind were left out."""
    counts: dict[str, int] = {}
    for w in warnings:
        kind = _kind(w)
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= SHOWN_PER_KIND:
            yield w
    for kind, n in counts.items():
        if n > SHOWN_PER_KIND:
            yield (f"{n - SHOWN_PER_KIND} more like that ({kind}); "
                   "`publisher import --json` lists every warning")


COMMANDS = [import_]
