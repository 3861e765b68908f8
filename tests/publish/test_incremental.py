"""Rebuilds render only what changed: per-page input fingerprints, pruned pages of gone articles."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import delete, select

from publisher import LANGUAGES
from publisher.core import config
from publisher.publish import site
from publisher.store.engine import Store
from publisher.store.models import Article, ArticleText
from tests.helpers.site import RECTOR_RU, populate


def _rector(store: Store) -> Article:
    with store.session() as s:
        text = s.scalars(select(ArticleText).where(ArticleText.title == RECTOR_RU)).one()
        return text.article


def test_a_rebuild_without_changes_renders_nothing(store_cfg: config.Config, store: Store) -> None:
    """The second build renders no page and writes no file, and says so."""
    populate(store)
    first = site.build(store_cfg, store)
    again = site.build(store_cfg, store)
    assert first.skipped == 0 and first.written == first.pages + first.feeds
    assert again.skipped == again.pages + again.feeds == first.pages + first.feeds
    assert again.written == 0


def test_one_changed_article_rerenders_its_pages_indexes_and_feeds_only(
    store_cfg: config.Config, store: Store
) -> None:
    """Editing one article re-renders its three pages, the index pages and the feeds;
    every other article page is left alone, and the new text is on the site."""
    populate(store)
    first = site.build(store_cfg, store)
    rector = _rector(store)
    with store.session() as s:
        text = s.scalars(select(ArticleText).where(ArticleText.article_id == rector.id,
                                                   ArticleText.lang == "ru")).one()
        text.summary = "Новая краткая аннотация"
    again = site.build(store_cfg, store)
    rendered = again.pages + again.feeds - again.skipped
    indexes = len(LANGUAGES)  # five articles fit on one index page per language
    assert rendered == len(LANGUAGES) + indexes + 3 * len(LANGUAGES)
    assert again.skipped == first.pages + first.feeds - rendered
    page = store_cfg.site_dir / "ru" / rector.slug / "index.html"
    assert "Новая краткая аннотация" in page.read_text(encoding="utf-8")


def test_a_deleted_article_loses_its_pages(store_cfg: config.Config, store: Store) -> None:
    """An article removed from the store has its pages deleted by the next build."""
    populate(store)
    site.build(store_cfg, store)
    rector = _rector(store)
    pages = [store_cfg.site_dir / lang / rector.slug / "index.html" for lang in LANGUAGES]
    assert all(p.is_file() for p in pages)
    with store.session() as s:
        s.execute(delete(ArticleText).where(ArticleText.article_id == rector.id))
        s.execute(delete(Article).where(Article.id == rector.id))
    report = site.build(store_cfg, store)
    assert report.pruned == len(LANGUAGES)
    assert not any(p.exists() for p in pages)
    assert not (store_cfg.site_dir / "ru" / rector.slug).exists()
    assert RECTOR_RU not in (store_cfg.site_dir / "ru" / "index.html").read_text("utf-8")


def test_a_settings_change_rerenders_every_page(store_cfg: config.Config, store: Store) -> None:
    """Anything every page shows (here the site title) makes every page render again."""
    populate(store)
    site.build(store_cfg, store)
    titled = replace(store_cfg, site=replace(store_cfg.site, title={
        **store_cfg.site.title, "kk": "Жаңа атау"}))
    report = site.build(titled, store)
    assert report.skipped == 0
    assert "Жаңа атау" in (store_cfg.site_dir / "kk" / "index.html").read_text("utf-8")


def test_a_page_deleted_by_hand_comes_back(store_cfg: config.Config, store: Store) -> None:
    """A page missing from disk is rendered again even though its inputs did not change."""
    populate(store)
    site.build(store_cfg, store)
    page = store_cfg.site_dir / "en" / "index.html"
    page.unlink()
    report = site.build(store_cfg, store)
    assert page.is_file() and report.written == 1
