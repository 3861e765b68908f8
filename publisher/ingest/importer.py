"""Importing files into the store: one file = one transaction, rejected files store nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from publisher.core import collector
from publisher.core.console import progress
from publisher.ingest import corrections, parsing, provenance, review, textio
from publisher.store import articles, bulk
from publisher.store.engine import Store
from publisher.store.models import Article, utcnow

SUFFIXES = {".txt", ".text", ".jsonl", ".ndjson", ".md", ".markdown"}
# How a file's articles reach the store: set-based Core statements, or the ORM one by one.
Writer = Literal["bulk", "orm"]


@dataclass
class FileReport:
    path: str
    status: str = "imported"  # imported | rejected | checked (dry run)
    articles: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Title-or-subheading calls close to the model's threshold: {line, text, score, verdict}.
    uncertain: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "rejected"]

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "articles": sum(f.articles for f in self.files),
            "new": sum(f.new for f in self.files),
            "updated": sum(f.updated for f in self.files),
            "unchanged": sum(f.unchanged for f in self.files),
            "rejected": len(self.rejected),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "totals": self.totals(),
            "files": [asdict(f) for f in self.files],
        }


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, and the importable files inside folders (sorted, hidden ones skipped)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUFFIXES and not any(
                    part.startswith(".") for part in child.relative_to(path).parts
                ):
                    yield child
        else:
            yield path


def import_paths(
    store: Store, paths: Iterable[str | Path], *, dry_run: bool = False, lenient: bool = False,
    show_progress: bool = False, max_bytes: int = textio.DEFAULT_MAX_BYTES,
    now: datetime | None = None, workers: int | None = None, writer: Writer = "bulk",
    pause_gc: bool = False, review: float | None = None,
) -> ImportReport:
    """Import files and folders; each file is one transaction, a rejected file stores nothing.

    `workers` processes parse while this one stores (None: one per CPU when the run is big
    enough to repay starting them; 1: parse here). Workers fork from a fork server, and each
    runs the caller's main script once, so a script that imports with them needs the usual
    `if __name__ == "__main__":` guard. `pause_gc`: pause the cyclic garbage collector while
    this process parses or stores a file (core/collector.py): for a command, not for a
    service whose other threads go on meanwhile. `writer` "orm" is the article-at-a-time
    ORM path the bulk one replaced, kept to hold the bulk one to it (tests, benchmark).
    `review`: list the segmenter's calls within this distance of its threshold as close
    calls (None: the model's margin, 0.2); the split does not depend on it.
    """
    now = now or utcnow()
    files = list(expand(paths))
    report = ImportReport(dry_run=dry_run)
    options = parsing.Options(lenient=lenient, max_bytes=max_bytes, pause_gc=pause_gc,
                              review=review)
    # A dry run keeps one uncommitted session across files (and the bulk writer's overlay of
    # decisions), so that it reports what a real run would (an article repeated in a later
    # file is "unchanged", not "new").
    shared = store.new_session() if dry_run else None
    overlay = bulk.Overlay() if dry_run else None
    slug_numbers: dict[str, int] = {}
    try:
        with progress("importing", len(files), show_progress) as bar:
            for result in parsing.in_order(files, options, workers):
                with collector.paused() if pause_gc else nullcontext():
                    report.files.append(
                        store_file(store, result, dry_run=dry_run, session=shared, now=now,
                                   writer=writer, overlay=overlay, slug_numbers=slug_numbers)
                    )
                bar.advance(1, result.path.name)
    finally:
        if shared is not None:
            shared.rollback()
            shared.close()
    return report


def _keep_sources(session: Session, parsed: articles.ParsedArticle) -> None:
    """Translations made from the text this import is about to replace record it first, so
    that their PO export can show translators what changed (ORM path; bulk.save_all calls
    provenance.record under the same conditions)."""
    aid = articles.article_id(articles.normalise_key(parsed.title))
    # preload() noted the ids the store does not have: no query for each new article.
    if aid in session.info.get("articles.absent", ()):
        return
    with session.no_autoflush:
        art = session.get(Article, aid)
    if art is not None and len(art.texts) > 1 and art.fingerprint != articles.fingerprint(parsed):
        provenance.record(art)


def _save_orm(session: Session, parsed: list[articles.ParsedArticle], now: datetime,
              ) -> list[articles.Outcome]:
    articles.preload(session, parsed)
    outcomes: list[articles.Outcome] = []
    for art in parsed:
        _keep_sources(session, art)
        outcomes.append(articles.save(session, art, now=now))
    return outcomes


def import_file(
    store: Store, path: Path, *, dry_run: bool = False, lenient: bool = False,
    max_bytes: int = textio.DEFAULT_MAX_BYTES, session: Session | None = None,
    now: datetime | None = None, writer: Writer = "bulk",
) -> FileReport:
    """One file in one transaction (or inside the dry run's `session`, never committed).

    `now` is the import time: the date of articles that state none, and the year of those
    that give only a day and month when no other article of the file states one.
    """
    now = now or utcnow()
    options = parsing.Options(lenient=lenient, max_bytes=max_bytes)
    return store_file(store, parsing.parse_file(path, options), dry_run=dry_run,
                      session=session, now=now, writer=writer)


def store_file(
    store: Store, result: parsing.Parsed, *, dry_run: bool, session: Session | None,
    now: datetime, writer: Writer = "bulk", overlay: bulk.Overlay | None = None,
    slug_numbers: dict[str, int] | None = None,
) -> FileReport:
    """Store one parsed file in one transaction.

    A dry run's bulk writer decides without writing; `overlay` carries its decisions to
    the run's next files, and `slug_numbers` the numbered slugs it handed out.
    """
    fr = FileReport(path=str(result.path), warnings=list(result.warnings),
                    uncertain=list(result.uncertain))
    if result.articles is None:
        fr.status, fr.error = "rejected", result.error
        return fr
    # An admin's merges and splits first: the review then sees the articles as stored.
    parsed = corrections.apply(store, result.articles, fr.warnings)
    fr.warnings.extend(review.review(parsed, result.derived, now))
    fr.articles = len(parsed)
    # The parse's title keys unless a correction rewrote the file's articles.
    keys = (result.keys if parsed is result.articles and len(result.keys) == len(parsed)
            else None)
    own = session is None
    session = store.new_session() if session is None else session
    try:
        if writer == "orm":
            outcomes = _save_orm(session, parsed, now)
        else:
            if dry_run and overlay is None:
                overlay = bulk.Overlay()  # one file on its own
            outcomes = bulk.save_all(session, parsed, now=now,
                                     before_replace=provenance.record_rows,
                                     dry_run=overlay if dry_run else None,
                                     slug_numbers=slug_numbers, keys=keys)
        for outcome in outcomes:
            setattr(fr, outcome, getattr(fr, outcome) + 1)
        if dry_run:
            fr.status = "checked"
        if own and dry_run:
            session.rollback()
        elif own:
            session.commit()
    except BaseException:
        if own:
            session.rollback()
        raise
    finally:
        if own:
            session.close()
    return fr
