"""`publisher demo`: the whole pipeline on samples/, printing what it did and where to look."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from publisher.core.config import Config
from publisher.core.console import table
from publisher.i18n import translations
from publisher.ingest import importer
from publisher.publish import site
from publisher.store.articles import all_articles
from publisher.store.engine import Store
from publisher.store.models import utcnow

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(cfg: Config, store: Store) -> None:
    report = importer.import_paths(store, [SAMPLES / "import"], show_progress=True)
    t = report.totals()
    click.echo(f"Imported {t['files']} file(s): {t['new']} new, {t['updated']} updated, "
               f"{t['unchanged']} unchanged.")
    with store.session() as s:
        arts = all_articles(s)
        rows = [
            (a.id, a.source_lang, a.published_at.date().isoformat() if a.date_stated else "—",
             len(a.source_text.blocks), a.source_text.title[:72])
            for a in arts
        ]
    table(f"{len(rows)} article(s) in {store.url}", ["id", "lang", "date", "blocks", "title"], rows)
    for po_file in sorted((SAMPLES / "translations").glob("*.po")):
        done = translations.import_po(store, po_file)
        click.echo(f"Translations {po_file.name}: {done.ready} ready, {done.draft} draft, "
                   f"{done.unchanged} unchanged.")
    translations.print_status(translations.status(store))
    built = site.build(cfg, store, show_progress=True)
    click.echo(
        f"Site: {built.pages} page(s), {built.feeds} feed(s) in {built.site_dir} "
        f"({built.written} written, {built.unchanged} unchanged). "
        f"Open {built.site_dir / cfg.i18n.default_language / 'index.html'}"
    )
    send_sample_digest(cfg, store)
    # The last line: what to run next, with the exact command (a bare `publisher` is not on
    # PATH unless .venv is activated).
    click.echo(f"Serve the site, subscribe form and unsubscribe links: .venv/bin/publisher "
               f"serve --demo, then open http://{cfg.web.host}:{cfg.web.port}/"
               f"{cfg.i18n.default_language}/")


def send_sample_digest(cfg: Config, store: Store) -> None:
    """Load the sample subscribers and send them the digest into the Maildir outbox."""
    import asyncio
    from dataclasses import replace

    from sqlalchemy import func, select

    from publisher.mail.send import send_list
    from publisher.store.models import Article
    from publisher.subscribers import registry as subscribers
    from publisher.subscribers import tokens

    cfg = replace(cfg, mail=replace(cfg.mail, transport="maildir"))
    lcfg = cfg.lists[0]
    with store.session() as s:
        oldest = s.scalar(select(func.min(Article.created_at)))
    # Subscribed just before the samples arrived, so the first digest has them all.
    since = (oldest or utcnow()) - timedelta(seconds=1)
    csv = SAMPLES.parent / "subscribers" / f"{lcfg.slug}.csv"
    loaded = subscribers.import_csv(
        store, csv, lcfg.slug, default_language=lcfg.default_language, now=since
    )
    click.echo(f"Subscribers {csv.name}: {loaded.added} added, {loaded.unchanged} unchanged, "
               f"{len(loaded.skipped)} skipped.")
    key = tokens.secret_key(cfg.secret_key, demo=True)
    created, report = asyncio.run(send_list(cfg, store, lcfg.slug, key=key, show_progress=True))
    if created is None and not report.issues:
        click.echo(f"Digest {lcfg.slug}: nothing new since the last demo run.")
        return
    click.echo(f"Digest {lcfg.slug}: {report.sent} sent, {report.deferred} deferred, "
               f"{report.failed} failed. Messages (one .eml per recipient): "
               f"{cfg.outbox_dir / 'new'}  —  web copies: {cfg.site_dir}/<lang>/digests/")
