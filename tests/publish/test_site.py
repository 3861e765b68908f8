"""The static site: indexes, article pages, the root chooser, atomic and concurrent builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from publisher import LANGUAGES
from publisher.core import atomic, config
from publisher.i18n.content import fallback_note, pick
from publisher.i18n.locale import gettext
from publisher.publish import site
from publisher.store.engine import Store
from tests.conftest import Cli
from tests.helpers.site import HOSTILE, RECTOR_RU, SHOWN, populate

ROOT = Path(__file__).resolve().parents[2]
FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/feed+json"}


def _page(path: Path) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(path.read_bytes())


ITEMS = '//ol[@class="articles"]/li'
PAGER = '//nav[@class="pager"]/a'


def _titles(doc: lxml_html.HtmlElement) -> list[str]:
    return [a.text_content() for a in doc.xpath(ITEMS + "/h2/a")]


@pytest.fixture
def built(store_cfg: config.Config, store: Store) -> config.Config:
    populate(store)
    site.build(store_cfg, store)
    return store_cfg


def _slug_of(cfg: config.Config, lang: str, title: str) -> str:
    doc = _page(cfg.site_dir / lang / "index.html")
    link = next(a for a in doc.xpath(ITEMS + "/h2/a") if a.text_content() == title)
    return str(link.get("href")).rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_index_lists_articles_newest_first_in_the_readers_language(
    built: config.Config, lang: str
) -> None:
    """/{lang}/ lists every article newest first, in that language or its fallback."""
    doc = _page(built.site_dir / lang / "index.html")
    assert _titles(doc) == [title for title, _ in SHOWN[lang]]
    assert [li.get("lang") for li in doc.xpath(ITEMS)] == [
        real for _, real in SHOWN[lang]
    ]
    # Fallback items carry the localized note; items in the reader's language do not.
    badges = [bool(li.xpath('.//*[@class="badge"]')) for li in doc.xpath(ITEMS)]
    assert badges == [real != lang for _, real in SHOWN[lang]]


def test_index_is_paginated(store_cfg: config.Config, store: Store) -> None:
    """With two articles a page, /kk/ has pages 1-3 linked newer/older, none beyond."""
    cfg = replace(store_cfg, site=replace(store_cfg.site, page_size=2))
    populate(store)
    site.build(cfg, store)
    kk = cfg.site_dir / "kk"
    pages = [kk / "index.html", kk / "page/2/index.html", kk / "page/3/index.html"]
    titles = [t for p in pages for t in _titles(_page(p))]
    assert titles == [t for t, _ in SHOWN["kk"]]
    assert not (kk / "page/4").exists()
    first, middle, last = (_page(p) for p in pages)
    assert [a.get("href") for a in first.xpath(PAGER)] == ["../kk/page/2/"]
    assert [a.get("href") for a in middle.xpath(PAGER)] == ["../../../kk/", "../../../kk/page/3/"]
    assert [a.get("rel") for a in last.xpath(PAGER)] == ["prev"]
    expected = gettext("kk", "Page %(num)d of %(total)d") % {"num": 2, "total": 3}
    assert expected in middle.xpath("//title")[0].text_content()


def test_article_page_shows_fallback_text_with_note_and_real_lang(built: config.Config) -> None:
    """A Russian-only article on the Kazakh site is marked lang="ru" under a Kazakh note."""
    slug = _slug_of(built, "kk", RECTOR_RU)
    doc = _page(built.site_dir / "kk" / slug / "index.html")
    assert doc.get("lang") == "kk" and doc.get("dir") == "ltr"
    article = doc.xpath("//article")[0]
    assert article.get("lang") == "ru"
    assert article.xpath(".//h1")[0].text_content() == RECTOR_RU
    note = doc.xpath('//main/*[@class="note"]')[0].text_content()
    # The note is the kk catalog's sentence naming the real language in Kazakh: nobody has
    # started a kk translation of this article, and the note says so.
    template = gettext("kk", "Not translated yet: this article is shown in %(language)s")
    assert note.startswith(template.split("%(language)s")[0]) and "орыс" in note.lower()
    # The Russian page of the same article is not a fallback: no note.
    ru = _page(built.site_dir / "ru" / slug / "index.html")
    assert ru.xpath("//article")[0].get("lang") == "ru" and not ru.xpath('//main/*[@class="note"]')


def test_fallback_note_is_the_shared_localized_sentence(built: config.Config, store: Store) -> None:
    """The page note is exactly content.fallback_note, so site, feeds and emails agree."""
    from publisher.store.articles import all_articles

    with store.session() as s:
        art = next(a for a in all_articles(s) if a.source_text.title == RECTOR_RU)
        note = fallback_note(pick(art, "en", built.i18n.fallback))
    assert note
    doc = _page(built.site_dir / "en" / art.slug / "index.html")
    assert doc.xpath('//main/*[@class="note"]')[0].text_content() == note


def test_language_switcher_links_the_same_article(built: config.Config) -> None:
    """Every article page links the same article in each language and marks the current one."""
    slug = _slug_of(built, "ru", HOSTILE)
    for lang in LANGUAGES:
        doc = _page(built.site_dir / lang / slug / "index.html")
        links = doc.xpath('//nav[@class="languages"]//a')
        assert [(a.get("hreflang"), a.get("href")) for a in links] == [
            (other, f"../../{other}/{slug}/") for other in LANGUAGES
        ]
        assert [a.get("aria-current") for a in links] == [
            "page" if other == lang else None for other in LANGUAGES
        ]
        assert [a.get("lang") for a in links] == list(LANGUAGES)


def test_every_page_has_lang_dir_hreflang_and_feed_discovery(built: config.Config) -> None:
    """Each page declares <html lang dir>, hreflang alternates and its language's three feeds."""
    pages = sorted(built.site_dir.rglob("*.html"))
    assert len(pages) == 1 + 3 * (2 + len(SHOWN["kk"]))  # root; per language: index, archive
    for path in pages:
        doc = _page(path)
        rel = path.relative_to(built.site_dir).parts
        lang = rel[0] if len(rel) > 1 else "kk"
        assert doc.get("lang") == lang and doc.get("dir") == "ltr", path
        feeds = {
            (link.get("type"), link.get("href"))
            for link in doc.xpath('//head/link[@rel="alternate"][@type]')
        }
        if len(rel) > 1:
            assert feeds == {
                ("application/rss+xml", f"https://news.example.kz/{lang}/feed.rss"),
                ("application/atom+xml", f"https://news.example.kz/{lang}/feed.atom"),
                ("application/feed+json", f"https://news.example.kz/{lang}/feed.json"),
            }, path
        else:
            assert {t for t, _ in feeds} == FEED_TYPES and len(feeds) == 9
        hreflang = [link.get("hreflang") for link in doc.xpath("//head/link[@hreflang]")]
        assert hreflang, path
        canonical = doc.xpath('//head/link[@rel="canonical"]')
        assert len(rel) == 1 or canonical[0].get("href").startswith("https://news.example.kz/")


def test_head_hreflang_names_only_languages_with_own_text(built: config.Config) -> None:
    """An article translated into kk and ru lists hreflang kk and ru only, not the en fallback."""
    slug = _slug_of(built, "kk", "ҚазҰМУ студенттері республикалық олимпиадада жеңіске жетті")
    doc = _page(built.site_dir / "en" / slug / "index.html")
    alternates = {
        link.get("hreflang"): link.get("href") for link in doc.xpath("//head/link[@hreflang]")
    }
    assert alternates == {
        "kk": f"https://news.example.kz/kk/{slug}/",
        "ru": f"https://news.example.kz/ru/{slug}/",
    }


def test_root_page_links_the_three_languages(built: config.Config) -> None:
    """/index.html offers Kazakh, Russian and English by their own names."""
    doc = _page(built.site_dir / "index.html")
    links = [(a.get("href"), a.text_content(), a.get("hreflang")) for a in doc.xpath("//main//a")]
    assert links == [
        ("kk/", "Қазақ тілі", "kk"),
        ("ru/", "Русский", "ru"),
        ("en/", "English", "en"),
    ]


def test_hostile_title_is_text_on_every_page(built: config.Config) -> None:
    """A title made of markup is shown literally on indexes and pages, never interpreted."""
    slug = _slug_of(built, "en", HOSTILE)
    for lang in LANGUAGES:
        index, article = built.site_dir / lang / "index.html", built.site_dir / lang / slug
        for path in (index, article / "index.html"):
            raw = path.read_text(encoding="utf-8")
            assert "<script>" not in raw and "<b>bold" not in raw and "<i>" not in raw
            doc = _page(path)
            assert not doc.xpath("//body//script | //body//b")
            assert HOSTILE in [e.text_content() for e in doc.xpath("//h1 | //h2/a")]
        page = _page(built.site_dir / lang / slug / "index.html")
        assert page.xpath("//title")[0].text_content().startswith(HOSTILE)
        hrefs = [a.get("href") for a in page.xpath("//a[@href]")]
        assert not [h for h in hrefs if ":" in h and not h.startswith("https://")]


def test_unchanged_rebuild_rewrites_nothing(built: config.Config, store: Store) -> None:
    """A second build reports every file unchanged and keeps their modification times."""
    files = {p: p.stat().st_mtime_ns for p in built.site_dir.rglob("*") if p.is_file()}
    report = site.build(built, store)
    assert (report.written, report.unchanged) == (0, len(files))
    assert report.pages + report.feeds == len(files)
    assert {p: p.stat().st_mtime_ns for p in files} == files


def test_atomic_write_leaves_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rename fails the reader still has the complete old file and no temp is left."""
    target = tmp_path / "kk" / "feed.atom"
    assert atomic.write_bytes(target, b"old")
    assert not atomic.write_bytes(target, b"old")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError):
        atomic.write_bytes(target, b"new, longer content")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["feed.atom"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_two_concurrent_builds_are_safe(store_cfg: config.Config, store: Store) -> None:
    """Two `publisher site build` processes at once both succeed and leave a complete site."""
    populate(store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env["PUBLISHER_DATA_DIR"] = str(store_cfg.data_dir)
    if store_cfg.store.url:
        env["PUBLISHER_STORE__URL"] = store_cfg.store.url
    cmd = [sys.executable, "-m", "publisher", "site", "build", "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1].decode() for r in results]
    reports = [json.loads(out) for out, _ in results]
    assert [r["pages"] + r["feeds"] for r in reports] == [31, 31]
    leftovers = [p for p in store_cfg.site_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    snapshot = {p: p.read_bytes() for p in store_cfg.site_dir.rglob("*") if p.is_file()}
    again = site.build(store_cfg, store)
    assert again.written == 0
    assert {p: p.read_bytes() for p in store_cfg.site_dir.rglob("*") if p.is_file()} == snapshot


def test_cli_site_build_prints_summary_and_json(cli: Cli, store: Store) -> None:
    """`publisher site build` says what it wrote; with --json it prints one JSON document."""
    populate(store)
    first = cli("site", "build")
    assert first.exit_code == 0
    assert "31 written, 0 unchanged" in first.output and "22 page(s) and 9 feed(s)" in first.output
    second = cli("site", "build", "--json")
    doc = json.loads(second.output)
    assert doc["written"] == 0 and doc["unchanged"] == 31
    assert (doc["pages"], doc["feeds"], doc["articles"]) == (22, 9, 5)


def test_non_http_base_url_is_rejected_before_writing(cli: Cli, store: Store) -> None:
    """base_url = javascript:… exits 2 with a one-line reason and writes no file."""
    populate(store)
    bad = Cli({**cli.env, "PUBLISHER_SITE__BASE_URL": "javascript:alert(1)//x"})
    result = bad("site", "build")
    assert result.exit_code == 2
    assert "base_url must be an http(s) URL" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (Path(cli.env["PUBLISHER_DATA_DIR"]) / "site").exists()


def test_empty_store_builds_valid_empty_site(store_cfg: config.Config, store: Store) -> None:
    """With no articles yet, every index says so and the feeds are valid and empty."""
    from tests.helpers.site import atom_schema

    report = site.build(store_cfg, store)
    assert (report.pages, report.feeds, report.articles) == (7, 9, 0)
    for lang in LANGUAGES:
        doc = _page(store_cfg.site_dir / lang / "index.html")
        assert doc.xpath("//main/p")[0].text_content() == gettext(lang, "No articles yet.")
        feed = etree.fromstring((store_cfg.site_dir / lang / "feed.atom").read_bytes())
        assert atom_schema().validate(feed)
        assert feed.findtext("{http://www.w3.org/2005/Atom}updated") == "1970-01-01T00:00:00+00:00"


def test_without_pretty_urls_every_link_opens_a_file_from_disk(
    store_cfg: config.Config, store: Store
) -> None:
    """[site] pretty_urls = false: each relative link of every page names an existing file,
    so the site works opened from disk instead of showing directory listings."""
    cfg = replace(store_cfg, site=replace(store_cfg.site, pretty_urls=False))
    populate(store)
    site.build(cfg, store)
    checked = 0
    for page in cfg.site_dir.rglob("*.html"):
        for href in _page(page).xpath("//a/@href"):
            if "://" in href or href.startswith(("#", "/", "mailto:")):
                continue
            target = (page.parent / href.split("#")[0]).resolve()
            assert target.is_file(), f"{page.relative_to(cfg.site_dir)}: {href}"
            checked += 1
    assert checked > 20


def test_pretty_urls_link_to_folders(built: config.Config) -> None:
    """By default links name folders (served as /kk/slug/), not index.html files."""
    hrefs = _page(built.site_dir / "kk" / "index.html").xpath(ITEMS + "/h2/a/@href")
    assert hrefs and all(h.endswith("/") for h in hrefs)


def test_each_language_has_a_digest_archive_linked_from_its_index(cli: Cli, store: Store) -> None:
    """After a send, /{lang}/digests/ lists the issue with a working link to its web copy,
    and every language index links to that archive."""
    from tests.helpers.mail import article, subscriber

    article(store, "Университетте жаңа зертхана ашылды",
            translations={"ru": "В университете открылась лаборатория", "en": "A new lab"})
    subscriber(store, "reader@example.org", "ru")
    cli.env["PUBLISHER_SECRET_KEY"] = "test-signing-key-0123456789abcdef"
    site_dir = Path(cli.env["PUBLISHER_DATA_DIR"]) / "site"
    cli("site", "build")
    empty = _page(site_dir / "ru" / "digests" / "index.html")
    assert "Пока не отправлено ни одного дайджеста." in empty.text_content()
    assert cli("send", "--list", "weekly").exit_code == 0
    cli("site", "build")
    archive = site_dir / "ru" / "digests" / "index.html"
    doc = _page(archive)
    assert doc.xpath("//h1")[0].text_content() == "Архив дайджестов"
    (href,) = doc.xpath('//ol[@class="articles"]/li/h2/a/@href')
    assert (archive.parent / href / "index.html").is_file()
    assert "Еженедельный дайджест" in doc.text_content() and "№ 1" in doc.text_content()
    index = _page(site_dir / "kk" / "index.html")
    assert any(h.endswith("kk/digests/") for h in index.xpath("//a/@href"))
