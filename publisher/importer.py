"""Importing files into the store: one file = one transaction, rejected files store nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from publisher import articles, formats
from publisher.console import progress
from publisher.errors import InputError
from publisher.store import Store

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
        return {"dry_run": self.dry_run, "totals": self.totals(), "files": [asdict(f) for f in self.files]}


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
    show_progress: bool = False,
) -> ImportReport:
    files = list(expand(paths))
    report = ImportReport(dry_run=dry_run)
    with progress("importing", len(files), show_progress) as bar:
        for path in files:
            report.files.append(import_file(store, path, dry_run=dry_run, lenient=lenient))
            bar.advance(1, path.name)
    return report


def import_file(store: Store, path: Path, *, dry_run: bool = False, lenient: bool = False) -> FileReport:
    fr = FileReport(path=str(path))
    try:
        parsed = formats.read(path, lenient=lenient, warnings=fr.warnings)
    except InputError as exc:
        fr.status, fr.error = "rejected", str(exc)
        return fr
    fr.articles = len(parsed)
    session = store.new_session()
    try:
        for art in parsed:
            outcome = articles.save(session, art)
            setattr(fr, outcome, getattr(fr, outcome) + 1)
            # Flush so a repeat later in the same file is found by the identity lookup.
            session.flush()
        if dry_run:
            fr.status = "checked"
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return fr
