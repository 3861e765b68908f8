"""Watching import folders: a file is imported once it has stopped growing, and only once.

A file counts as complete when its size and mtime are the same at two consecutive polls
(writers copying a large dump are not interrupted mid-file). Imported files are remembered
by content hash in `imported_files`, so a restart, a rename or a second copy does not import
them again; a changed file has another hash and is imported (the importer updates the
articles it already has). The importer commits before the hash is recorded: a crash between
the two re-imports the file on restart, which changes nothing (re-import is idempotent).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from publisher.core.clock import Clock, system_clock
from publisher.ingest import importer
from publisher.store.engine import Store
from publisher.store.models import Article, ArticleText, ImportedFile

Signature = tuple[int, int]  # size, mtime_ns


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:  # deleted or moved between listing and stat
        return None
    return st.st_size, st.st_mtime_ns


class FolderWatch:
    """Remembers what each poll saw; `stable_files()` lists files unchanged since the last poll."""

    def __init__(self, folders: Sequence[str | Path]) -> None:
        self.folders = [Path(f) for f in folders]
        self._seen: dict[Path, Signature] = {}
        self._handled: dict[Path, Signature] = {}

    def missing(self) -> list[Path]:
        return [f for f in self.folders if not f.is_dir()]

    def stable_files(self) -> list[Path]:
        present = [f for f in self.folders if f.is_dir()]
        now: dict[Path, Signature] = {}
        for path in importer.expand(present):
            sig = _signature(path)
            if sig is not None:
                now[path] = sig
        stable = [
            p for p, sig in now.items() if self._seen.get(p) == sig and self._handled.get(p) != sig
        ]
        self._seen = now
        self._handled = {p: s for p, s in self._handled.items() if p in now}
        return stable

    def handled(self, path: Path, sig: Signature | None = None) -> None:
        """Do not offer this file again until it changes."""
        sig = sig or _signature(path)
        if sig is not None:
            self._handled[path] = sig


@dataclass
class WatchReport:
    imported: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)  # same content imported before
    rejected: list[dict[str, str]] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported, "known": self.known, "rejected": self.rejected,
            "new": self.new, "updated": self.updated, "unchanged": self.unchanged,
        }


def import_stable(
    store: Store, watch: FolderWatch, paths: Sequence[Path], clock: Clock = system_clock
) -> WatchReport:
    """Import the given stable files not imported before (by content); remember them."""
    report = WatchReport()
    for path in paths:
        sig = _signature(path)
        if sig is None:
            continue
        try:
            digest = file_sha256(path)
        except OSError:
            continue
        with store.session() as s:
            known = s.get(ImportedFile, digest) is not None
        if known:
            report.known.append(str(path))
            watch.handled(path, sig)
            continue
        fr = importer.import_paths(store, [path]).files[0]
        watch.handled(path, sig)
        if fr.status == "rejected":
            # Not remembered in the store: a fixed file has another hash anyway, and a
            # restart reporting the rejection once more is useful.
            report.rejected.append({"path": str(path), "error": fr.error or ""})
            continue
        with store.session() as s:
            s.merge(ImportedFile(sha256=digest, path=str(path), imported_at=clock()))
        report.imported.append(str(path))
        report.new += fr.new
        report.updated += fr.updated
        report.unchanged += fr.unchanged
    return report


def content_signature(store: Store) -> tuple[Any, ...]:
    """Changes whenever an article or a translation slot is added or updated (any process)."""
    with store.session() as s:
        arts = s.execute(select(func.count(), func.max(Article.updated_at))).one()
        texts = s.execute(select(func.count(), func.max(ArticleText.updated_at))).one()
    return (*arts, *texts)


def last_import(store: Store) -> datetime | None:
    with store.session() as s:
        found: datetime | None = s.scalar(select(func.max(ImportedFile.imported_at)))
        return found


class Debounce:
    """When to rebuild after a burst of changes: `delay` after the last, at most `longest`
    after the first, so a steady trickle of imports still gets a rebuild."""

    def __init__(self, delay: float, longest: float | None = None) -> None:
        self.delay = timedelta(seconds=delay)
        self.longest = timedelta(seconds=longest if longest is not None else max(delay * 5, 1.0))
        self.first: datetime | None = None

    def request(self, now: datetime) -> datetime:
        if self.first is None:
            self.first = now
        return min(now + self.delay, self.first + self.longest)

    def done(self) -> None:
        self.first = None
