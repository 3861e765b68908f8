from __future__ import annotations

from typing import Any

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, table
from publisher.ingest import regroup
from publisher.store import edits
from publisher.store.articles import all_articles
from publisher.store.articles import as_json as article_doc


@click.group("articles", context_settings=CONTEXT)
def articles() -> None:
    """Look at the articles in the store and fix them: show, edit, merge, split, hide, unhide,
    delete."""


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


def _langs(langs: list[str]) -> str:
    return ", ".join(langs)


@articles.command("merge", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@click.argument("other", metavar="ID2")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def merge(app: App, ref: str, other: str, as_json: bool) -> None:
    """Append article ID2 to ID under ID2's title as a subheading, and remove ID2.

    For a subheading the importer took for a title; re-importing the dump keeps the merge.
    The translations of ID become outdated, those of ID2 are dropped.
    `articles split ID --at "ID2's title"` undoes it.
    """
    done = regroup.merge(app.store, ref, other)
    if as_json:
        emit_json(done)
        return
    gone = done["merged"]["id"]
    click.echo(f"Article {gone} merged into {done['id']} under the heading "
               f"\"{done['heading']}\"" + (" (the split is undone)." if done["undid_split"]
                                            else "."))
    if done["outdated"]:
        click.echo(f"Translations of {done['id']} now outdated: {_langs(done['outdated'])}.")
    if done["dropped_translations"]:
        click.echo(f"Translations of {gone} dropped: {_langs(done['dropped_translations'])}.")
    if done["merged"]["lang"] != done["article"]["lang"]:
        click.echo(f"Note: {gone} was written in {done['merged']['lang']}; the merged article "
                   f"stays {done['article']['lang']}.")
    if done["merged"]["hidden"] and not done["article"]["hidden"]:
        click.echo(f"Note: {gone} was hidden; its text is now shown as part of {done['id']}.")


@articles.command("split", context_settings=CONTEXT)
@click.argument("ref", metavar="ID")
@click.option("--at", "heading", required=True, metavar="HEADING",
              help="The text of the subheading that starts the new article.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def split(app: App, ref: str, heading: str, as_json: bool) -> None:
    """Make a new article of ID from a subheading on: the heading becomes its title, the
    blocks after it its body.

    For a title the importer took for a subheading; re-importing the dump keeps the split.
    The new article has ID's language and date (unless its lead states a date) and only its
    source text; the translations of ID become outdated. `articles merge ID NEW-ID` undoes it.
    """
    done = regroup.split(app.store, ref, heading)
    if as_json:
        emit_json(done)
        return
    new = done["new"]
    click.echo(f"Article {done['id']} split at \"{done['heading']}\": new article {new['id']} "
               f"({new['date'] or 'no stated date'}, {len(new['blocks'])} block(s)); "
               f"{done['id']} keeps {len(done['article']['blocks'])} block(s)"
               + ("; the merge is undone." if done["undid_merge"] else "."))
    if done["outdated"]:
        click.echo(f"Translations of {done['id']} now outdated: {_langs(done['outdated'])}; "
                   f"{new['id']} has only its {new['lang']} source text.")


COMMANDS = [articles]
