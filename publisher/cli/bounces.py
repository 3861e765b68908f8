"""`publisher bounces process PATH...`: act on bounce and complaint reports."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, warn
from publisher.core.errors import InputError, PublisherError
from publisher.mail.bouncebox import process_imap, process_paths
from publisher.mail.send import signing_key


@click.group("bounces", context_settings=CONTEXT)
def bounces() -> None:
    """Read bounce and complaint reports and suppress the addresses they name."""


@bounces.command("process", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--imap", "use_imap", is_flag=True,
              help="Also read the unseen messages of the [bounces] imap_* mailbox.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
@pass_app
def process(app: App, paths: tuple[Path, ...], use_imap: bool, as_json: bool) -> None:
    """Process Maildir folders (new/ and cur/ messages not yet seen), .eml files, or --imap.

    Hard bounces suppress the subscriber, soft ones count toward [bounces] soft_limit,
    complaints unsubscribe from the list that sent the message. Each message is then
    moved (Maildir: cur/ with the Seen flag; a file: processed/), unreadable or unmatched
    ones to unmatched/, so a rerun changes nothing.
    """
    if not paths and not use_imap:
        raise InputError("give a Maildir folder or .eml file, or --imap",
                         "e.g. publisher bounces process /var/mail/bounces")
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
    try:
        key: str | None = signing_key(app.cfg)
    except PublisherError:
        # Without the key VERP tags cannot be checked; the other clues still work.
        key = None
        warn("PUBLISHER_SECRET_KEY is not set: VERP return paths cannot be verified")
    summary = process_paths(app.cfg, app.store, list(paths), key)
    if use_imap:
        summary.add(process_imap(app.cfg, app.store, key))
    if as_json:
        emit_json(summary.as_dict())
    else:
        click.echo(summary.line())


COMMANDS = [bounces]
