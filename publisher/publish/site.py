"""The static site: per-language indexes and article pages, the root chooser, and the feeds.

Links between pages are relative, so the output works under any base_url path, behind
`publisher serve` or straight from a file server; canonical, hreflang and feed URLs are
absolute because crawlers and feed readers need them so.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import select

from publisher import LANGUAGES
from publisher.core.atomic import write_bytes
from publisher.core.config import Config
from publisher.core.console import progress
from publisher.core.errors import ConfigError
from publisher.i18n.content import fallback_note, pick, translations_of
from publisher.i18n.locale import (
    environment,
    format_date,
    language_name,
    template_problem,
    zone,
)
from publisher.publish import feeds
from publisher.publish.manifest import Manifest, article_inputs, global_inputs
from publisher.store.articles import all_articles
from publisher.store.engine import Store
from publisher.store.models import Article, DigestIssue, MailingList

FEED_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


@dataclass
class BuildReport:
    site_dir: Path
    pages: int = 0
    feeds: int = 0
    written: int = 0
    unchanged: int = 0  # files left as they were (skipped ones included)
    skipped: int = 0  # pages whose inputs did not change: not even rendered
    pruned: int = 0  # pages of articles that are gone, deleted
    articles: int = 0
    seconds: float = 0.0
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))

    def as_dict(self) -> dict[str, Any]:
        return {
            "site_dir": str(self.site_dir),
            "articles": self.articles,
            "languages": self.languages,
            "pages": self.pages,
            "feeds": self.feeds,
            "written": self.written,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "pruned": self.pruned,
            "seconds": round(self.seconds, 3),
        }


class _Output:
    """Writes files under the site dir atomically and counts what changed.

    Each write ends in an fsync, which waits on the disk; a few writer threads overlap those
    waits (fsync releases the GIL) while the main thread renders. The queue is bounded so
    memory stays flat however many pages there are.
    """

    WORKERS = 8
    MAX_PENDING = 256

    def __init__(self, root: Path, report: BuildReport) -> None:
        self.root = root
        self.report = report
        self.pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="site-write")
        self.pending: deque[Future[bool]] = deque()

    def write(self, rel: str, data: bytes, kind: str) -> None:
        if kind == "feed":
            self.report.feeds += 1
        else:
            self.report.pages += 1
        self.pending.append(self.pool.submit(write_bytes, self.root / rel, data))
        while len(self.pending) > self.MAX_PENDING:
            self._settle(self.pending.popleft())

    def _settle(self, done: Future[bool]) -> None:
        if done.result():
            self.report.written += 1
        else:
            self.report.unchanged += 1

    def close(self) -> None:
        """Wait for every write; the first failure is raised after the others finished."""
        try:
            while self.pending:
                self._settle(self.pending.popleft())
        finally:
            for left in self.pending:
                left.cancel()
            self.pool.shutdown(wait=True)


@dataclass(frozen=True)
class PastIssue:
    list_slug: str
    number: int
    window_end: datetime
    languages: tuple[str, ...]


def _past_issues(store: Store) -> list[PastIssue]:
    with store.session() as s:
        rows = s.execute(
            select(MailingList.slug, DigestIssue.number, DigestIssue.window_end,
                   DigestIssue.articles)
            .join(MailingList, MailingList.id == DigestIssue.list_id)
            .order_by(DigestIssue.window_end.desc(), MailingList.slug, DigestIssue.number)
        ).all()
    return [PastIssue(slug, n, end, tuple(sorted(k for k, v in (arts or {}).items() if v)))
            for slug, n, end, arts in rows]


def _prefix(rel_dir: str) -> str:
    """The relative path from a page in `rel_dir` back to the site root."""
    depth = len([p for p in rel_dir.split("/") if p])
    return "../" * depth


def _feed_links(base: str, lang: str) -> list[dict[str, str]]:
    return [
        {"type": feeds.FEED_TYPES[k], "url": f"{base}/{lang}/{name}", "name": FEED_NAMES[k]}
        for k, name in feeds.FEED_FILES.items()
    ]


def _blocks(blocks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for b in blocks:
        kind, text = str(b.get("kind", "paragraph")), str(b.get("text", ""))
        lines = feeds.list_items(text) if kind == "list" else []
        out.append({"kind": kind, "text": text, "lines": lines})
    return out


class _Pages:
    """Renders the pages of one language."""

    def __init__(self, cfg: Config, base: str, lang: str) -> None:
        self.cfg = cfg
        self.base = base
        self.lang = lang
        self.env = environment(lang, cfg.template_dir)
        self.common = {
            "site_title": cfg.site.title.get(lang) or cfg.site.title.get("en", "News"),
            "site_description": cfg.site.description.get(lang, ""),
            "feeds": _feed_links(base, lang),
        }

    def link(self, path: str) -> str:
        """A folder link as written in pages: `kk/slug/`, or `kk/slug/index.html` for disk."""
        return path if self.cfg.site.pretty_urls or not path.endswith("/") else path + "index.html"

    def _switcher(self, root: str, path_of: dict[str, str]) -> list[dict[str, Any]]:
        return [
            {"lang": other, "name": language_name(other),
             "href": root + self.link(path_of[other]), "current": other == self.lang}
            for other in LANGUAGES
        ]

    def _date(self, art: Article) -> tuple[str, str]:
        tz = self.cfg.i18n.timezone
        local = art.published_at.astimezone(zone(tz))
        return format_date(art.published_at, self.lang, tz), local.date().isoformat()

    def index(self, arts: Sequence[Article], page: int, pages: int) -> tuple[str, bytes]:
        rel_dir = f"{self.lang}/" if page == 1 else f"{self.lang}/page/{page}/"
        root = _prefix(rel_dir)
        items = []
        for art in arts:
            shown = pick(art, self.lang, self.cfg.i18n.fallback)
            date, iso = self._date(art)
            items.append({
                "title": shown.text.title, "summary": shown.text.summary, "lang": shown.lang,
                "note": fallback_note(shown),
                "href": root + self.link(f"{self.lang}/{art.slug}/"), "date": date,
                "iso_date": iso,
            })

        def page_path(lang: str, n: int) -> str:
            return f"{lang}/" if n == 1 else f"{lang}/page/{n}/"

        html = self.env.get_template("site/index.html").render(
            **self.common,
            root=root,
            home=root + self.link(f"{self.lang}/"),
            digests_href=root + self.link(f"{self.lang}/digests/"),
            canonical=f"{self.base}/{page_path(self.lang, page)}",
            alternates=[(o, f"{self.base}/{page_path(o, page)}") for o in LANGUAGES],
            switcher=self._switcher(root, {o: page_path(o, page) for o in LANGUAGES}),
            items=items,
            page=page,
            pages=pages,
            newer=(root + self.link(page_path(self.lang, page - 1))) if page > 1 else None,
            older=(root + self.link(page_path(self.lang, page + 1))) if page < pages else None,
        )
        return rel_dir + "index.html", html.encode("utf-8")

    def digests(self, issues: Sequence[PastIssue]) -> tuple[str, bytes]:
        """The language's digest archive: every past issue that has a copy in it."""
        rel_dir = f"{self.lang}/digests/"
        root = _prefix(rel_dir)
        tz = self.cfg.i18n.timezone
        items = []
        for issue in issues:
            try:
                lcfg = self.cfg.get_list(issue.list_slug)
                title = (lcfg.title.get(self.lang) or lcfg.title.get(lcfg.default_language)
                         or lcfg.slug)
            except ConfigError:  # a list removed from the configuration keeps its past
                title = issue.list_slug
            items.append({
                "list_title": title, "number": issue.number,
                "date": format_date(issue.window_end, self.lang, tz),
                "iso_date": issue.window_end.astimezone(zone(tz)).date().isoformat(),
                "href": root + self.link(f"{self.lang}/digests/{issue.list_slug}/"
                                         f"{issue.number}/"),
            })
        html = self.env.get_template("site/digests.html").render(
            **self.common,
            root=root,
            home=root + self.link(f"{self.lang}/"),
            canonical=f"{self.base}/{rel_dir}",
            alternates=[(o, f"{self.base}/{o}/digests/") for o in LANGUAGES],
            switcher=self._switcher(root, {o: f"{o}/digests/" for o in LANGUAGES}),
            items=items,
        )
        return rel_dir + "index.html", html.encode("utf-8")

    def article(self, art: Article) -> tuple[str, bytes]:
        rel_dir = f"{self.lang}/{art.slug}/"
        root = _prefix(rel_dir)
        shown = pick(art, self.lang, self.cfg.i18n.fallback)
        date, iso = self._date(art)
        html = self.env.get_template("site/article.html").render(
            **self.common,
            root=root,
            home=root + self.link(f"{self.lang}/"),
            canonical=f"{self.base}/{rel_dir}",
            # hreflang names the language of a page's text: only languages with their own.
            alternates=[(o, f"{self.base}/{o}/{art.slug}/") for o in translations_of(art)],
            switcher=self._switcher(root, {o: f"{o}/{art.slug}/" for o in LANGUAGES}),
            title=shown.text.title,
            summary=shown.text.summary,
            text_lang=shown.lang,
            note=fallback_note(shown),
            date=date,
            iso_date=iso,
            blocks=_blocks(shown.text.blocks),
        )
        return rel_dir + "index.html", html.encode("utf-8")


def _root_page(cfg: Config, base: str) -> bytes:
    default = cfg.i18n.default_language
    choices = [
        {
            "lang": lang,
            "name": language_name(lang),
            "title": cfg.site.title.get(lang, ""),
            "url": f"{base}/{lang}/",
            "feeds": _feed_links(base, lang),
        }
        for lang in LANGUAGES
    ]
    suffix = "" if cfg.site.pretty_urls else "index.html"
    html = environment(default, cfg.template_dir).get_template("site/root.html").render(
        choices=choices, canonical=f"{base}/", suffix=suffix
    )
    return html.encode("utf-8")


def build(cfg: Config, store: Store, *, show_progress: bool = False) -> BuildReport:
    """Write every page and feed of every language under cfg.site_dir.

    Pages whose inputs did not change since the last build are neither rendered nor
    written (see manifest.py); files whose bytes did not change are not rewritten; pages
    of articles no longer in the store are deleted.
    """
    started = time.perf_counter()
    base = feeds.base_url(cfg)
    with store.session() as s:
        arts = all_articles(s)
    issues = _past_issues(store)
    report = BuildReport(site_dir=cfg.site_dir, articles=len(arts))
    size = max(1, cfg.site.page_size)
    pages = max(1, -(-len(arts) // size))
    total = len(LANGUAGES) * (len(arts) + pages + 1) + 1
    manifest = Manifest(cfg)
    shared = global_inputs(cfg)
    out = _Output(cfg.site_dir, report)
    try:
        _write_all(cfg, base, arts, issues, manifest, shared, out, report, total,
                   show_progress)
    except TemplateError as exc:
        raise template_problem(exc, cfg.template_dir) from None
    report.pruned = _prune(cfg.site_dir, manifest.stale())
    manifest.save()
    report.seconds = time.perf_counter() - started
    return report


def _write_all(
    cfg: Config, base: str, arts: list[Article], issues: list[PastIssue], manifest: Manifest,
    shared: str,
    out: _Output, report: BuildReport, total: int, show_progress: bool,
) -> None:
    """Render and write every page whose inputs changed (see build)."""
    size = max(1, cfg.site.page_size)
    pages = max(1, -(-len(arts) // size))
    inputs = {art.id: article_inputs(art) for art in arts}

    def stale(rel: str, fingerprint: str, kind: str) -> bool:
        """True when the page must be rendered; an unchanged one is only counted."""
        if not manifest.fresh(rel, fingerprint):
            return True
        report.skipped += 1
        report.unchanged += 1
        if kind == "feed":
            report.feeds += 1
        else:
            report.pages += 1
        return False

    with closing(out), progress("Building site", total, show_progress) as bar:
        if stale("index.html", shared, "page"):
            out.write("index.html", _root_page(cfg, base), "page")
        bar.advance()
        for lang in LANGUAGES:
            renderer = _Pages(cfg, base, lang)
            for n in range(1, pages + 1):
                chunk = arts[(n - 1) * size : n * size]
                rel = f"{lang}/index.html" if n == 1 else f"{lang}/page/{n}/index.html"
                fp = _fingerprint(shared, lang, n, pages, [inputs[a.id] for a in chunk])
                if stale(rel, fp, "page"):
                    out.write(*renderer.index(chunk, n, pages), "page")
                bar.advance(note=f"{lang} index {n}/{pages}")
            past = [i for i in issues if lang in i.languages]
            fp = _fingerprint(shared, lang, [(i.list_slug, i.number, i.window_end) for i in past])
            if stale(f"{lang}/digests/index.html", fp, "page"):
                out.write(*renderer.digests(past), "page")
            for art in arts:
                fp = _fingerprint(shared, lang, inputs[art.id])
                if stale(f"{lang}/{art.slug}/index.html", fp, "page"):
                    out.write(*renderer.article(art), "page")
                bar.advance(note=lang)
            latest = arts[: cfg.site.feed_size]
            fp = _fingerprint(shared, lang, [inputs[a.id] for a in latest])
            names = list(feeds.FEED_FILES.values())
            # One channel makes all three feeds: render them together or not at all.
            if all([manifest.fresh(f"{lang}/{name}", fp) for name in names]):
                report.skipped += len(names)
                report.unchanged += len(names)
                report.feeds += len(names)
            else:
                for name, data in feeds.render_all(feeds.make_channel(cfg, lang, arts)).items():
                    out.write(f"{lang}/{name}", data, "feed")
            bar.advance(note=f"{lang} feeds")


def _fingerprint(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=16).hexdigest()


def _prune(site_dir: Path, stale: list[str]) -> int:
    """Delete pages the store no longer has (and folders left empty by them)."""
    removed = 0
    for rel in stale:
        path = site_dir / rel
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        parent = path.parent
        while parent != site_dir and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return removed
