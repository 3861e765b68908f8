"""`publisher digest preview|list|show`: look at the next digest and at past issues."""

from __future__ import annotations

from pathlib import Path

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.atomic import write_text
from publisher.core.console import emit_json, table
from publisher.mail import history
from publisher.mail.digest import preview as make_preview


@click.group("digest", context_settings=CONTEXT)
def digest() -> None:
    """Look at the next digest before it is sent, and at the issues already sent."""


@digest.command("preview", context_settings=CONTEXT)
@click.option("--list", "list_slug", required=True, help="The list (see [[lists]]).")
@click.option("--lang", required=True, type=click.Choice(LANGUAGES), help="Reader language.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the HTML part here (the subject and text part go to stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print subject, text and HTML as JSON.")
@pass_app
def preview(app: App, list_slug: str, lang: str, output: str | None, as_json: bool) -> None:
    """Show the subject, text part and HTML part of the list's next digest in LANG (what is
    new since the last issue). Nothing is stored or sent."""
    app.cfg.get_list(list_slug)
    shown = make_preview(app.cfg, app.store, list_slug, lang)
    if as_json:
        emit_json({"list": list_slug, "lang": lang, **shown.as_dict()})
        return
    click.echo(f"Subject: {shown.subject}")
    click.echo(f"Articles: {shown.articles}\n")
    click.echo("----- text/plain -----")
    click.echo(shown.text.rstrip("\n"))
    if output:
        write_text(Path(output), shown.html)
        click.echo(f"----- text/html: written to {output} -----")
    else:
        click.echo("----- text/html -----")
        click.echo(shown.html, nl=False)


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


@digest.command("list", context_settings=CONTEXT)
@click.option("--list", "list_slug", help="Only this list's issues.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def list_(app: App, list_slug: str | None, as_json: bool) -> None:
    """Past issues, newest first: recipients, sent, deferred, failed, bounced, next retry."""
    if list_slug is not None:
        app.cfg.get_list(list_slug)
    found = history.issues(app.store, list_slug)
    if as_json:
        emit_json({"issues": found})
        return
    if not found:
        click.echo("No issue yet." + (f" (list {list_slug})" if list_slug else ""))
        return
    table("Issues", ["id", "list", "no.", "created (UTC)", "recipients", "sent", "deferred",
                     "failed", "bounced", "next retry (UTC)"],
          [(i["id"], i["list"], i["number"], _when(i["created_at"]), i["recipients"],
            i["sent"], i["deferred"], i["failed"], i["bounced"], _when(i["next_retry_at"]))
           for i in found])


@digest.command("show", context_settings=CONTEXT)
@click.argument("issue_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def show(app: App, issue_id: int, as_json: bool) -> None:
    """One issue (ISSUE_ID from `digest list`): counts per language, and every failed,
    bounced or deferred address with the server's reason."""
    doc = history.issue(app.store, issue_id)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"Issue {doc['id']}: list {doc['list']} No. {doc['number']}, created "
               f"{_when(doc['created_at'])} UTC, {doc['status']}, {doc['recipients']} "
               "recipient(s)")
    table("Per language", ["lang", "articles", *history.STATES],
          [(lang, doc["articles"].get(lang, 0), *(c.get(st, 0) for st in history.STATES))
           for lang, c in sorted(doc["languages"].items())])
    if doc["problems"]:
        table("Not delivered", ["address", "state", "attempts", "reason", "next retry (UTC)"],
              [(p["email"], p["state"], p["attempts"], p["reason"], _when(p["next_attempt_at"]))
               for p in doc["problems"]])


COMMANDS = [digest]
