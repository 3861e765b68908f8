from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, progress, table, warn
from publisher.core.errors import InputError
from publisher.subscribers import csvfile
from publisher.subscribers import registry as subs

STATUSES = ("active", "pending", "unsubscribed", "bounced", "complained")


@click.group("subscribers", context_settings=CONTEXT)
def subscribers() -> None:
    """Manage subscribers: import CSV lists, add, remove, list, export."""


@subscribers.command("import", context_settings=CONTEXT)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_slug", required=True, help="Slug of the configured list.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
@click.option(
    "--overwrite-preferences", is_flag=True,
    help="Also replace the language, time zone and lists subscribers chose themselves.",
)
@pass_app
def import_(
    app: App, path: str, list_slug: str, as_json: bool, overwrite_preferences: bool
) -> None:
    """Import a CSV list (email,name,language[,timezone]); nothing is stored if a row is bad."""
    lcfg = app.cfg.get_list(list_slug)
    report, rows = csvfile.read_csv(
        path, list_slug, default_language=lcfg.default_language,
        default_timezone=lcfg.timezone, languages=lcfg.languages,
    )
    if not report.rejected:
        with progress(f"Importing {Path(path).name}", len(rows), enabled=not as_json) as bar:
            csvfile.write_rows(
                app.store, report, rows, overwrite_preferences=overwrite_preferences,
                progress=bar,
            )
    if as_json:
        emit_json(report.as_dict())
    else:
        for note in report.warnings:
            warn(f"{path}: line {note.line}: {note.reason}")
        for note in report.rejected:
            where = f"{path}: line {note.line}"
            click.echo(f"publisher: {where}: rejected {note.email}: {note.reason}", err=True)
        for kind, notes in (
            ("skipped", report.skipped), ("kept", report.kept), ("merged", report.merged)
        ):
            for note in notes:
                click.echo(f"{path}: line {note.line}: {kind} {note.email}: {note.reason}")
        if report.rejected:
            click.echo(f"{len(report.rejected)} row(s) rejected: nothing imported", err=True)
        else:
            click.echo(
                f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                f"{len(report.kept)} kept (changed by the subscriber), "
                f"{len(report.skipped)} skipped, {len(report.merged)} merged "
                f"({report.encoding}, {report.delimiter!r})"
            )
    if report.rejected:
        raise SystemExit(2)


@subscribers.command("list", context_settings=CONTEXT)
@click.option("--list", "list_slug", help="Only subscribers of this list.")
@click.option(
    "--status", type=click.Choice(STATUSES),
    help="Only subscribers with this status, with the reason (e.g. bounced, complained).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def list_(app: App, list_slug: str | None, status: str | None, as_json: bool) -> None:
    """List subscribers with their status on each list."""
    if list_slug is not None:
        app.cfg.get_list(list_slug)  # a typo is an error, not "0 subscriber(s)"
    with app.store.session() as s:
        docs = subs.listing(s, list_slug, status)
    if as_json:
        emit_json(docs)
        return
    if status is not None:
        table(
            f"{len(docs)} subscriber(s) {status}",
            ["email", "lang", "status", "lists", "reason"],
            [
                (d["email"], d["language"], d["status"],
                 ", ".join(f"{k}:{v}" for k, v in d["lists"].items()), d["reason"])
                for d in docs
            ],
        )
        return
    table(
        f"{len(docs)} subscriber(s)",
        ["email", "name", "lang", "timezone", "status", "lists"],
        [
            (d["email"], d["name"], d["language"], d["timezone"], d["status"],
             ", ".join(f"{k}:{v}" for k, v in d["lists"].items()))
            for d in docs
        ],
    )


@subscribers.command("add", context_settings=CONTEXT)
@click.argument("email")
@click.option("--list", "list_slug", required=True, help="Slug of the configured list.")
@click.option("--name", default="", help="Name used in the greeting.")
@click.option("--language", type=click.Choice(LANGUAGES), help="Default: the list's language.")
@click.option("--timezone", "zone", help="IANA timezone (default: the list's).")
@pass_app
def add(
    app: App, email: str, list_slug: str, name: str, language: str | None, zone: str | None
) -> None:
    """Add an address that already consented (no confirmation email is sent)."""
    lcfg = app.cfg.get_list(list_slug)
    if zone is not None and not subs.valid_timezone(zone):
        raise InputError(f"--timezone: unknown timezone {zone!r}", "use e.g. Asia/Almaty")
    try:
        with app.store.session() as s:
            result = subs.add(
                s, email, list_slug=list_slug, language=language, name=name,
                timezone=zone,
                default_language=lcfg.default_language, default_timezone=lcfg.timezone,
            )
            address = result.subscriber.email
    except subs.AddressError as exc:
        raise InputError(f"{email!r}: invalid email address: {exc}") from None
    if subs.needs_smtputf8(address):
        warn(f"{address}: {subs.SMTPUTF8_NOTE}")
    if result.outcome == "skipped":
        click.echo(f"{address}: skipped (unsubscribed or bounced; only a new opt-in can undo it)")
    else:
        click.echo(f"{address}: {result.outcome}")


@subscribers.command("remove", context_settings=CONTEXT)
@click.argument("email")
@click.option("--list", "list_slug", help="Only from this list (default: from every list).")
@click.option("--erase", is_flag=True, help="Forget the address (a later import may add it again).")
@pass_app
def remove(app: App, email: str, list_slug: str | None, erase: bool) -> None:
    """Unsubscribe an address (kept as unsubscribed so imports never bring it back)."""
    if list_slug is not None:
        app.cfg.get_list(list_slug)
    try:
        with app.store.session() as s:
            outcome = subs.remove(s, email, list_slug=list_slug, erase=erase)
    except subs.AddressError as exc:
        raise InputError(f"{email!r}: invalid email address: {exc}") from None
    click.echo(f"{email}: {outcome}")


@subscribers.command("export", context_settings=CONTEXT)
@click.option("--list", "list_slug", required=True, help="Slug of the list.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="CSV file (default: stdout).")
@click.option(
    "--raw", is_flag=True,
    help="Write cells exactly as stored (no \"'\" before a cell a spreadsheet would run "
    "as a formula).",
)
@pass_app
def export(app: App, list_slug: str, output: str | None, raw: bool) -> None:
    """Write the active subscribers of a list as CSV (UTF-8), importable again."""
    app.cfg.get_list(list_slug)  # a typo must not produce an empty backup with exit 0
    with app.store.session() as s:
        rows = csvfile.export_rows(s, list_slug, raw=raw)
    if output is None:
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        return
    target = Path(output)
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    tmp.replace(target)
    click.echo(f"{len(rows) - 1} subscriber(s) written to {target}", err=True)


COMMANDS = [subscribers]
