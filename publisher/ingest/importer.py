"""Importing files into the store: one file = one transaction, rejected files store nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.core.console import progress
from publisher.core.errors import InputError
from publisher.ingest import corrections, dumps, formats, provenance, review, textio
from publisher.store import articles
from publisher.store.engine import Store
from publisher.store.models import Article, utcnow

SUFFIXES = {".txt", ".text", ".jsonl", ".ndjson", ".md", ".markdown"}


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
    now: datetime | None = None,
) -> ImportReport:
    """Import files and folders; each file is one transaction, a rejected file stores nothing."""
    now = now or utcnow()
    files = list(expand(paths))
    report = ImportReport(dry_run=dry_run)
    with store.session() as s:
        known = set(s.scalars(select(Article.key)))
    # A dry run keeps one uncommitted session across files, so that it reports what a real
    # run would (an article repeated in a later file is "unchanged", not "new").
    shared = store.new_session() if dry_run else None
    try:
        with progress("importing", len(files), show_progress) as bar:
            for path in files:
                report.files.append(
                    import_file(store, path, dry_run=dry_run, lenient=lenient, known=known,
                                max_bytes=max_bytes, session=shared, now=now)
                )
                bar.advance(1, path.name)
    finally:
        if shared is not None:
            shared.rollback()
            shared.close()
    return report


def _keep_sources(session: Session, parsed: articles.ParsedArticle) -> None:
    """Translations made from the text this import is about to replace record it first, so
    that their PO export can show translators what changed."""
    aid = articles.article_id(articles.normalise_key(parsed.title))
    # preload() noted the ids the store does not have: no query for each new article.
    if aid in session.info.get("articles.absent", ()):
        return
    with session.no_autoflush:
        art = session.get(Article, aid)
    if art is not None and len(art.texts) > 1 and art.fingerprint != articles.fingerprint(parsed):
        provenance.record(art)


def import_file(
    store: Store, path: Path, *, dry_run: bool = False, lenient: bool = False,
    known: set[str] | None = None, max_bytes: int = textio.DEFAULT_MAX_BYTES,
    session: Session | None = None, now: datetime | None = None,
) -> FileReport:
    """One file in one transaction (or inside the dry run's `session`, never committed).

    `now` is the import time: the date of articles that state none, and the year of those
    that give only a day and month when no other article of the file states one.
    """
    now = now or utcnow()
    fr = FileReport(path=str(path))
    known = known if known is not None else set()
    derived: set[str] = set()
    decisions: list[dumps.Decision] = []
    try:
        parsed = formats.read(path, lenient=lenient, warnings=fr.warnings, known_titles=known,
                              max_bytes=max_bytes, derived=derived, decisions=decisions)
    except InputError as exc:
        fr.status, fr.error = "rejected", str(exc)
        return fr
    fr.uncertain = [d.as_dict() for d in decisions]
    parsed = corrections.apply(store, parsed, fr.warnings)  # an admin's merges and splits
    fr.warnings.extend(review.review(parsed, derived, now))
    fr.articles = len(parsed)
    own = session is None
    session = store.new_session() if session is None else session
    try:
        articles.preload(session, parsed)
        for art in parsed:
            _keep_sources(session, art)
            outcome = articles.save(session, art, now=now)
            setattr(fr, outcome, getattr(fr, outcome) + 1)
        if dry_run:
            fr.status = "checked"
        if own and dry_run:
            session.rollback()
        elif own:
            session.commit()
        known.update(articles.normalise_key(a.title) for a in parsed)
    except BaseException:
        if own:
            session.rollback()
        raise
    finally:
        if own:
            session.close()
    return fr
