"""Full site build for N synthetic articles x 3 languages, against a minimal lxml Atom writer.

    .venv/bin/python benchmarks/site_build.py [--articles 10000] [--keep DIR]

Prints one JSON document. The figures are ratios measured in the same run on the same
machine, not pass/fail timings:

- build: `publisher.site.build` on a fresh site dir (every page and feed written, fsynced),
  then again with nothing changed (no page rendered: input fingerprints match); peak RSS of the
  process around the build, and the Python heap peak (tracemalloc) of a third build;
- atom: the Atom feeds of the three languages with every article in them (feed_size = N),
  by publisher.feeds.atom (one entry serialised at a time) and by a minimal writer that
  builds the whole tree with lxml directly; the outputs are checked to be byte-identical,
  and the Python heap peak (tracemalloc) of each is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import platform
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher import LANGUAGES
from publisher.core import config
from publisher.publish import feeds, site
from publisher.store.articles import all_articles, slugify
from publisher.store.engine import open_store
from publisher.store.models import Article, ArticleText

TITLES = {
    "kk": "Университетте жаңа зертхана ашылды: ғылыми жоба №{n}",
    "ru": "В университете открылась новая лаборатория: научный проект №{n}",
    "en": "A new laboratory opens at the university: research project no. {n}",
}
PARAGRAPHS = {
    "kk": "Бүгін университетте студенттер мен оқытушыларға арналған жаңа ғылыми зертхана "
    "ашылды. Зертхана заманауи құрылғылармен жабдықталған және өңірдегі емханалармен "
    "бірлесіп жұмыс істейді.",
    "ru": "Сегодня в университете открылась новая научная лаборатория для студентов и "
    "преподавателей. Лаборатория оснащена современным оборудованием и работает вместе "
    "с клиниками региона.",
    "en": "A new research laboratory for students and lecturers opened at the university "
    "today. It has modern equipment and works together with the region's clinics.",
}
HEADINGS = {"kk": "Жобаның мақсаты", "ru": "Цели проекта", "en": "Aims of the project"}
ITEMS = {
    "kk": "- клиникалық зерттеулер\n- студенттердің тәжірибесі\n- халықаралық серіктестік",
    "ru": "- клинические исследования\n- практика студентов\n- международное партнёрство",
    "en": "- clinical research\n- student practice\n- international partnership",
}
START = datetime(2020, 1, 1, 12, tzinfo=UTC)


def _populate(cfg: config.Config, count: int) -> None:
    """Insert `count` articles with kk, ru and en slots (runs in a child process)."""
    store = open_store(cfg)
    batch = 1000
    for first in range(0, count, batch):
        with store.session() as s:
            for n in range(first, min(first + batch, count)):
                published = START + timedelta(hours=6 * n)
                lang = LANGUAGES[n % 3]
                aid = hashlib.sha256(f"bench-{n}".encode()).hexdigest()[:16]
                art = Article(
                    id=aid, key=f"bench {n}", slug=f"{slugify(TITLES['en'].format(n=n))}-{n}",
                    source_lang=lang, published_at=published, date_stated=True,
                    created_at=published, updated_at=published, categories=["ғылым"],
                    fingerprint=aid * 4, origin=f"bench:{n}",
                )
                for tl in LANGUAGES:
                    # Every seventh article lacks its en slot: the fallback path is exercised.
                    if tl == "en" and tl != lang and n % 7 == 0:
                        continue
                    art.texts.append(ArticleText(
                        lang=tl, title=TITLES[tl].format(n=n), summary=PARAGRAPHS[tl][:160],
                        blocks=[
                            {"kind": "paragraph", "text": PARAGRAPHS[tl]},
                            {"kind": "heading", "text": HEADINGS[tl]},
                            {"kind": "list", "text": ITEMS[tl]},
                            {"kind": "paragraph", "text": PARAGRAPHS[tl]},
                        ],
                        status="source" if tl == lang else "ready", ready_at=published,
                        source_fingerprint=aid * 4, updated_at=published,
                    ))
                s.add(art)
    store.close()


# --- the minimal writer: the same Atom document, built with lxml and nothing else ---------

A = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, A + tag, attrs)
    if text is not None:
        el.text = text
    return el


def _link(parent: etree._Element, href: str, hreflang: str | None) -> None:
    el = _sub(parent, "link", href=href, rel="alternate", type="text/html")
    if hreflang:
        el.set("hreflang", hreflang)


def minimal_atom(ch: feeds.Channel) -> bytes:
    root = etree.Element(A + "feed", nsmap={None: A[1:-1]})
    root.set(XML_LANG, ch.lang)
    _sub(root, "id", ch.home_url)
    _sub(root, "title", ch.title)
    _sub(root, "updated", ch.updated.isoformat())
    _sub(_sub(root, "author"), "name", ch.author)
    _sub(root, "link", href=ch.feed_urls["atom"], rel="self", type="application/atom+xml")
    _sub(root, "link", href=ch.home_url, rel="alternate", type="text/html", hreflang=ch.lang)
    _sub(root, "generator", "publisher")
    _sub(root, "subtitle", ch.description)
    for item in ch.items:
        entry = _sub(root, "entry")
        entry.set(XML_LANG, item.lang)
        _sub(entry, "id", item.id)
        _sub(entry, "title", item.title)
        _sub(entry, "updated", item.updated.isoformat())
        _sub(entry, "content", item.content_html, type="html")
        if item.summary:
            _sub(entry, "summary", item.summary)
        for term in item.categories:
            _sub(entry, "category", term=term)
        _sub(entry, "published", item.published.isoformat())
        _link(entry, item.url, None)
        for other, url in item.translations:
            _link(entry, url, other)
        if item.translations:
            _link(entry, item.url, item.wanted)
    etree.indent(root, space="  ")
    data: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return data + b"\n"


def _best(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` runs (the least disturbed by the other jobs on the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def compare_atom(channels: list[feeds.Channel], repeat: int) -> dict[str, object]:
    """publisher.feeds.atom against minimal_atom on the same channels."""
    ours = _best(lambda: [feeds.atom(ch) for ch in channels], repeat)
    minimal = _best(lambda: [minimal_atom(ch) for ch in channels], repeat)
    heap = {}
    for name, writer in (("publisher", feeds.atom), ("minimal_lxml", minimal_atom)):
        tracemalloc.start()
        for ch in channels:
            writer(ch)
        heap[name] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    return {
        "entries": sum(len(ch.items) for ch in channels),
        "bytes": sum(len(minimal_atom(ch)) for ch in channels),
        "byte_identical": all(feeds.atom(ch) == minimal_atom(ch) for ch in channels),
        "publisher_seconds": round(ours, 4),
        "minimal_lxml_seconds": round(minimal, 4),
        "ratio_publisher_over_lxml": round(ours / minimal, 2),
        "heap_peak_mb": heap,
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each feed writer")
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: temp dir)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(work / "var")})
    try:
        started = time.perf_counter()
        fork = multiprocessing.get_context("fork")
        child = fork.Process(target=_populate, args=(cfg, args.articles))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"populating the store failed (exit {child.exitcode})")
        populate_s = time.perf_counter() - started

        store = open_store(cfg)
        rss_before = _rss_mb()
        first = site.build(cfg, store)
        rss_after = _rss_mb()
        second = site.build(cfg, store)
        shutil.rmtree(cfg.site_dir)
        tracemalloc.start()
        site.build(cfg, store)
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        with store.session() as s:
            arts = all_articles(s)
        store.close()
        # The three Atom feeds exactly as the build writes them (cfg.site.feed_size entries)...
        as_built = compare_atom([feeds.make_channel(cfg, x, arts) for x in LANGUAGES], 20)
        # ...and with every article in them, where the writers' own cost dominates.
        full = replace(cfg, site=replace(cfg.site, feed_size=len(arts)))
        channels = [feeds.make_channel(full, x, arts) for x in LANGUAGES]
        everything = compare_atom(channels, args.repeat)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(json.dumps({
        "benchmark": "site_build",
        "machine": {"python": platform.python_version(), "cpus": multiprocessing.cpu_count()},
        "articles": args.articles,
        "languages": list(LANGUAGES),
        "populate_seconds": round(populate_s, 2),
        "build": {
            "pages": first.pages,
            "feeds": first.feeds,
            "seconds_full": round(first.seconds, 2),
            "pages_per_second": round(first.pages / first.seconds),
            "seconds_unchanged_rebuild": round(second.seconds, 2),
            "unchanged_files": second.unchanged,
            "skipped_pages": second.skipped,
            # The target of issue 17: a rebuild with no changes costs <= 10% of a full one.
            "ratio_unchanged_over_full": round(second.seconds / first.seconds, 3),
            "peak_rss_mb": round(rss_after, 1),
            "rss_before_build_mb": round(rss_before, 1),
            "python_heap_peak_mb": round(heap_peak / 2**20, 1),
        },
        "atom_as_built": as_built,
        "atom_all_entries": everything,
        # The whole build (pages, three formats, atomic fsynced writes) per unit of the bare
        # lxml cost of the Atom feeds it publishes.
        "ratio_full_build_over_minimal_atom": round(
            first.seconds / float(as_built["minimal_lxml_seconds"]), 1  # type: ignore[arg-type]
        ),
    }, indent=2))


if __name__ == "__main__":
    main()
