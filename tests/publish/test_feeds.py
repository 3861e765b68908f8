"""Feeds as real readers see them: feedparser, the RFC 4287 RELAX NG schema, JSON Feed 1.1."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from publisher import LANGUAGES
from publisher.core import config
from publisher.publish import site
from publisher.store.articles import Block, ParsedArticle, save
from publisher.store.engine import Store
from tests.helpers.site import HOSTILE, IMPORTED, SHOWN, atom_schema, populate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "feeds"
# Read at import: the autouse fixture in conftest clears PUBLISHER_* before each test runs.
REGEN = os.environ.get("PUBLISHER_REGEN_GOLDEN") == "1"
A = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_FEEDS = ("rss", "atom")


@dataclass
class Built:
    cfg: config.Config
    store: Store

    @property
    def root(self) -> Path:
        return self.cfg.site_dir

    def feed(self, lang: str, kind: str) -> bytes:
        return (self.root / lang / f"feed.{kind}").read_bytes()

    def atom(self, lang: str) -> etree._Element:
        return etree.fromstring(self.feed(lang, "atom"))


@pytest.fixture
def built(store_cfg: config.Config, store: Store) -> Iterator[Built]:
    populate(store)
    site.build(store_cfg, store)
    yield Built(store_cfg, store)


@pytest.mark.parametrize("kind", XML_FEEDS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_feedparser_reads_every_feed_with_its_language_and_titles(
    built: Built, lang: str, kind: str
) -> None:
    """A feed reader parses each RSS and Atom feed cleanly, in its language, Cyrillic intact."""
    parsed = feedparser.parse(built.feed(lang, kind))
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if kind == "rss" else "atom10")
    assert parsed.feed.language == lang
    assert parsed.feed.title == config.SiteConfig().title[lang]
    assert [e.title for e in parsed.entries] == [title for title, _ in SHOWN[lang]]
    assert [e.title_detail.language for e in parsed.entries] == [real for _, real in SHOWN[lang]]
    for entry in parsed.entries:
        assert entry.link.startswith(f"https://news.example.kz/{lang}/")
        assert entry.published_parsed is not None


def test_feed_holds_only_the_latest_feed_size_articles(
    store_cfg: config.Config, store: Store
) -> None:
    """With feed_size = 2, every feed lists just the two newest articles."""
    cfg = replace(store_cfg, site=replace(store_cfg.site, feed_size=2))
    populate(store)
    site.build(cfg, store)
    for lang in LANGUAGES:
        for kind in XML_FEEDS:
            parsed = feedparser.parse((cfg.site_dir / lang / f"feed.{kind}").read_bytes())
            assert [e.title for e in parsed.entries] == [t for t, _ in SHOWN[lang][:2]]
        doc = json.loads((cfg.site_dir / lang / "feed.json").read_text(encoding="utf-8"))
        assert len(doc["items"]) == 2


@pytest.mark.parametrize("lang", LANGUAGES)
def test_atom_feed_is_valid_rfc4287(built: Built, lang: str) -> None:
    """Each Atom feed validates against the RFC 4287 schema and its Schematron rules."""
    root = built.atom(lang)
    schema = atom_schema()
    assert schema.validate(root), schema.error_log
    # The rules RELAX NG cannot say (RFC 4287 4.1.1, 4.1.2), checked as written there.
    assert root.find(f"{A}author/{A}name").text
    rels = {(link.get("rel"), link.get("type")) for link in root.findall(f"{A}link")}
    assert ("self", "application/atom+xml") in rels
    assert ("alternate", "text/html") in rels
    for entry in root.findall(f"{A}entry"):
        content = entry.find(f"{A}content")
        assert content is not None and content.get("type") == "html"
        alternates = [
            (link.get("type"), link.get("hreflang"))
            for link in entry.findall(f"{A}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert alternates and len(alternates) == len(set(alternates))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_entries_carry_real_language_and_link_translations(built: Built, lang: str) -> None:
    """Each Atom entry says the language of its text and links its translations by hreflang."""
    entries = built.atom(lang).findall(f"{A}entry")
    assert [e.get(XML_LANG) for e in entries] == [real for _, real in SHOWN[lang]]
    # The simulation-centre article exists in all three languages.
    centre = entries[0]
    hreflangs = {
        link.get("hreflang"): link.get("href")
        for link in centre.findall(f"{A}link")
        if link.get("hreflang")
    }
    assert sorted(hreflangs) == sorted(LANGUAGES)
    for other in LANGUAGES:
        assert re.fullmatch(rf"https://news\.example\.kz/{other}/[a-z0-9-]+/", hreflangs[other])
    # Whether a reader takes the first alternate or the last, it opens this language's page.
    for entry in entries:
        alternates = [link.get("href") for link in entry.findall(f"{A}link")]
        assert alternates[0] == alternates[-1]
        assert alternates[0].startswith(f"https://news.example.kz/{lang}/")


def test_fallback_entry_in_kazakh_feed_says_english(built: Built) -> None:
    """An English-only article in the kk feed is marked xml:lang="en" in RSS, Atom and JSON."""
    for kind in XML_FEEDS:
        entry = feedparser.parse(built.feed("kk", kind)).entries[2]
        assert entry.title == HOSTILE
        assert entry.title_detail.language == "en"
    item = json.loads(built.feed("kk", "json"))["items"][2]
    assert item["title"] == HOSTILE and item["language"] == "en"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_hostile_title_shows_literally_in_every_reader(built: Built, lang: str) -> None:
    """A title full of markup reaches readers as that literal text, never as HTML."""
    for kind in XML_FEEDS:
        raw = built.feed(lang, kind)
        assert b"<script>" not in raw and b"<b>" not in raw
        entry = next(e for e in feedparser.parse(raw).entries if "alert" in e.title)
        assert entry.title == HOSTILE
        assert "<i>" not in entry.content[0].value
        assert "&lt;i&gt;markup&lt;/i&gt;" in entry.content[0].value
    doc = json.loads(built.feed(lang, "json"))
    item = next(i for i in doc["items"] if "alert" in i["title"])
    assert item["title"] == HOSTILE
    assert "<i>" not in item["content_html"] and "<script" not in item["content_html"]


def test_every_link_in_every_feed_is_http(built: Built) -> None:
    """No feed carries a javascript: or other non-http(s) link."""
    for lang in LANGUAGES:
        for kind in XML_FEEDS:
            root = etree.fromstring(built.feed(lang, kind))
            hrefs = [el.get("href") for el in root.iter() if el.get("href") is not None]
            hrefs += [el.text for el in root.iter("link") if el.text]
            assert hrefs and all(h.startswith("https://news.example.kz/") for h in hrefs)
        doc = json.loads(built.feed(lang, "json"))
        urls = [doc["home_page_url"], doc["feed_url"], *(i["url"] for i in doc["items"])]
        assert all(u.startswith("https://news.example.kz/") for u in urls)


def test_ids_are_stable_tag_uris_shared_across_languages(built: Built) -> None:
    """Entry ids are tag: URIs from the site's domain and the article id, same in every feed."""
    ids = {}
    for lang in LANGUAGES:
        ids[lang] = [e.find(f"{A}id").text for e in built.atom(lang).findall(f"{A}entry")]
        for value in ids[lang]:
            assert re.fullmatch(r"tag:news\.example\.kz,2025-03-10:[0-9a-f]{16}", value)
        guids = [e.id for e in feedparser.parse(built.feed(lang, "rss")).entries]
        assert guids == ids[lang]
    assert ids["kk"] == ids["ru"] == ids["en"]
    assert len(set(ids["kk"])) == len(ids["kk"])


def test_rebuild_without_changes_is_byte_identical(built: Built) -> None:
    """Building again with nothing changed rewrites no file and leaves every byte as it was."""
    def files() -> dict[Path, tuple[bytes, int]]:
        return {
            p: (p.read_bytes(), p.stat().st_mtime_ns) for p in built.root.rglob("*") if p.is_file()
        }

    before = files()
    report = site.build(built.cfg, built.store)
    after = files()
    assert report.written == 0 and report.unchanged == len(before)
    assert after == before


def test_changed_article_moves_only_its_own_updated(built: Built) -> None:
    """Editing one article changes that entry's `updated` (and the feed's), nothing else's."""
    def updated(lang: str) -> tuple[str, list[str]]:
        root = built.atom(lang)
        return (
            root.find(f"{A}updated").text,
            [e.find(f"{A}updated").text for e in root.findall(f"{A}entry")],
        )

    before = {lang: updated(lang) for lang in LANGUAGES}
    later = IMPORTED + timedelta(days=2)
    with built.store.session() as s:
        save(s, ParsedArticle(
            title="Ректор встретился с иностранными партнёрами", lang="ru",
            date=IMPORTED.replace(day=4, hour=12, minute=0),
            blocks=[Block("paragraph", "Исправленный текст: обсуждались программы обмена.")],
        ), now=later)
    site.build(built.cfg, built.store)
    for lang in LANGUAGES:
        feed_updated, entries = updated(lang)
        old_feed, old_entries = before[lang]
        changed = [i for i, (a, b) in enumerate(zip(old_entries, entries, strict=True)) if a != b]
        assert changed == [3], lang
        assert entries[3] == "2025-03-12T06:30:00+00:00"
        assert feed_updated == entries[3] != old_feed


def _check_json_feed(doc: dict[str, object], lang: str) -> None:
    """The MUSTs of https://www.jsonfeed.org/version/1.1/ for a feed and its items."""
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str) and doc["title"]
    assert doc["language"] == lang
    assert doc["feed_url"] == f"https://news.example.kz/{lang}/feed.json"
    items = doc["items"]
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item["id"], str) and item["id"]
        assert item.get("content_html") or item.get("content_text")
        for key in ("date_published", "date_modified"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item[key])
        assert all(k in JSON_ITEM_KEYS or k.startswith("_") for k in item)


JSON_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language",
    "attachments",
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_json_feed_follows_json_feed_1_1(built: Built, lang: str) -> None:
    """The JSON Feed of each language is JSON Feed 1.1 with per-item languages and titles."""
    doc = json.loads(built.feed(lang, "json"))
    _check_json_feed(doc, lang)
    assert [(i["title"], i["language"]) for i in doc["items"]] == SHOWN[lang]


def _compare_golden(path: Path, data: bytes) -> None:
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.is_file(), f"{path} missing: run `make golden` (PUBLISHER_REGEN_GOLDEN=1)"
    assert data.decode("utf-8") == path.read_text(encoding="utf-8"), (
        f"{path.name} differs from the golden file; if the change is intended, run `make golden`"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_feeds_match_golden_files(built: Built, lang: str) -> None:
    """The RSS, Atom and JSON feeds of each language are exactly the reviewed golden files."""
    for kind in ("rss", "atom", "json"):
        _compare_golden(GOLDEN / f"{lang}.{kind}", built.feed(lang, kind))
