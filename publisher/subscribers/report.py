"""What a CSV import is made of and what it did: rows to write, notes, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RowNote:
    line: int
    email: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "email": self.email, "reason": self.reason}


@dataclass
class CsvReport:
    """What a CSV import did, row by row; nothing is written when `rejected` is not empty.

    Each distinct address counts once: added, updated, unchanged, kept (a field the
    subscriber set on the preferences page differed and was left alone) or skipped.
    """

    path: str
    list_slug: str
    encoding: str = ""
    delimiter: str = ","
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[RowNote] = field(default_factory=list)
    merged: list[RowNote] = field(default_factory=list)
    rejected: list[RowNote] = field(default_factory=list)
    warnings: list[RowNote] = field(default_factory=list)
    kept: list[RowNote] = field(default_factory=list)

    @property
    def imported(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "list": self.list_slug, "encoding": self.encoding,
            "delimiter": self.delimiter, "rows": self.rows, "imported": self.imported,
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "kept": [n.as_dict() for n in self.kept],
            "skipped": [n.as_dict() for n in self.skipped],
            "merged": [n.as_dict() for n in self.merged],
            "rejected": [n.as_dict() for n in self.rejected],
            "warnings": [n.as_dict() for n in self.warnings],
        }


@dataclass(slots=True)
class Row:
    """One address to import, after merging duplicates (`line`: where it first appears)."""

    line: int
    email: str
    name: str
    language: str
    timezone: str
    language_given: bool
    timezone_given: bool = False
