"""`publisher demo`: the whole pipeline on samples/, printing what it did and where to look."""

from __future__ import annotations

from pathlib import Path

import click

from publisher import importer
from publisher.articles import all_articles
from publisher.config import Config
from publisher.console import table
from publisher.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def run(cfg: Config, store: Store) -> None:
    report = importer.import_paths(store, [SAMPLES / "import"], show_progress=True)
    t = report.totals()
    click.echo(f"Imported {t['files']} file(s): {t['new']} new, {t['updated']} updated, {t['unchanged']} unchanged.")
    with store.session() as s:
        arts = all_articles(s)
        rows = [
            (a.id, a.source_lang, a.published_at.date().isoformat() if a.date_stated else "—",
             len(a.source_text.blocks), a.source_text.title[:72])
            for a in arts
        ]
    table(f"{len(rows)} article(s) in {store.url}", ["id", "lang", "date", "blocks", "title"], rows)
