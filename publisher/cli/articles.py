from __future__ import annotations

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, table
from publisher.store.articles import all_articles
from publisher.store.articles import as_json as article_doc


@click.group("articles", context_settings=CONTEXT)
def articles() -> None:
    """Look at the articles in the store."""


@articles.command("list", context_settings=CONTEXT)
@click.option(
    "--lang", type=click.Choice(LANGUAGES), help="Only articles whose source language is L."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def list_(app: App, lang: str | None, as_json: bool) -> None:
    """List articles, newest first."""
    with app.store.session() as s:
        docs = [article_doc(a) for a in all_articles(s) if lang is None or a.source_lang == lang]
    if as_json:
        emit_json(docs)
        return
    table(
        f"{len(docs)} article(s)",
        ["id", "lang", "date", "title", "kk", "ru", "en"],
        [
            (d["id"], d["lang"], d["date"] or "—", d["title"][:70],
             *(d["translations"][x] for x in LANGUAGES))
            for d in docs
        ],
    )


COMMANDS = [articles]
