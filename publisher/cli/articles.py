from __future__ import annotations

from typing import Any

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, table
from publisher.store import edits
from publisher.store.articles import all_articles
from publisher.store.articles import as_json as article_doc


@click.group("articles", context_settings=CONTEXT)
def articles() -> None:
    """Look at the articles in the store and fix them: show, edit, hide, unhide, delete."""


@articles.command("list", context_settings=CONTEXT)
@click.option(
    "--lang", type=click.Choice(LANGUAGES), help="Only articles whose source language is L."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def list_(app: App, lang: str | None, as_json: bool) -> None:
    """List articles, newest first."""
    with app.store.session() as s:
        docs = [article_doc(a) for a in all_articles(s, include_hidden=True)
                if lang is None or a.source_lang == lang]
    if as_json:
        emit_json(docs)
        return
    table(
        f"{len(docs)} article(s)",
        ["id", "lang", "date", "title", "kk", "ru", "en"],
        [
            (d["id"], d["lang"], d["date"] or "—",
             ("[hidden] " if d["hidden"] else "") + d["title"][:70],
             *(d["translations"][x] for x in LANGUAGES))
            for d in docs
        ],
    )


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@articles.command("show", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def show(app: App, ref: str, as_json: bool) -> None:
    """An article's metadata and its kk, ru and en slots (ID or slug)."""
    doc = edits.show(app.store, ref)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"{doc['id']}  {doc['slug']}" + ("  [hidden]" if doc["hidden"] else ""))
    date = doc["published_at"].date().isoformat() if doc["date_stated"] else "no stated date"
    click.echo(f"source {doc['source_lang']}, {date}; imported {_when(doc['created_at'])}, "
               f"updated {_when(doc['updated_at'])}; from {doc['origin'] or '-'}")
    table("Slots", ["lang", "status", "title", "blocks", "updated (UTC)"],
          [(lang, t["status"], t["title"][:70], t["blocks"], _when(t["updated_at"]))
           if t else (lang, "missing", "", "", "") for lang, t in doc["texts"].items()])


@articles.command("edit", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@click.option("--title", help="The corrected title.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="The date, YYYY-MM-DD.")
@click.option("--lang", type=click.Choice(LANGUAGES),
              help="Which slot's title (default: the source text's).")
@pass_app
def edit(app: App, ref: str, title: str | None, day: Any, lang: str | None) -> None:
    """Fix an article's title or date; the next site build and digest show the fix."""
    done = edits.edit(app.store, ref, title=title, day=day.date() if day else None, lang=lang,
                      tz=app.cfg.i18n.timezone)
    changed = [f"{done['lang']} title" if title else "", "date" if day else ""]
    click.echo(f"Article {done['id']}: {' and '.join(c for c in changed if c)} changed.")


@articles.command("hide", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@pass_app
def hide(app: App, ref: str) -> None:
    """Take an article off the site, the feeds and future digests (the next build prunes
    its pages); `unhide` puts it back."""
    aid = edits.set_hidden(app.store, ref, True)
    click.echo(f"Article {aid} hidden; `publisher site build` removes its pages.")


@articles.command("unhide", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@pass_app
def unhide(app: App, ref: str) -> None:
    """Put a hidden article back on the site, the feeds and future digests."""
    aid = edits.set_hidden(app.store, ref, False)
    click.echo(f"Article {aid} shown again from the next `publisher site build`.")


@articles.command("delete", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def delete(app: App, ref: str, yes: bool) -> None:
    """Delete an article and its translations (re-importing its dump brings it back;
    `hide` keeps it out for good)."""
    edits.show(app.store, ref)  # an unknown ID is an error before any question
    if not yes:
        click.confirm(f"Delete article {ref} and all its translations?", abort=True)
    aid = edits.remove(app.store, ref)
    click.echo(f"Article {aid} deleted; `publisher site build` removes its pages.")


COMMANDS = [articles]
