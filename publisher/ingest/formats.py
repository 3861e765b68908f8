"""Reading one import file into ParsedArticles, by format (text dump, JSON Lines, Markdown)."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from pathlib import Path

from publisher.ingest import dumps, jsonl, markdown, textio
from publisher.store.parsed import ParsedArticle

JSONL = {".jsonl", ".ndjson"}
MARKDOWN = {".md", ".markdown"}


def read(
    path: Path, *, lenient: bool = False, warnings: list[str] | None = None,
    known_titles: AbstractSet[str] | None = None, max_bytes: int = textio.DEFAULT_MAX_BYTES,
    derived: set[str] | None = None, decisions: list[dumps.Decision] | None = None,
    passed: set[str] | None = None, relisted: dumps.Relisted | None = None,
) -> list[ParsedArticle]:
    """Parse `path`; raises InputError naming the file (and byte offset or line) when rejected.

    `known_titles` (`known_entry` of the articles already known: title key and lead, read
    only) help a dump tell a repeated article's title from a subheading. The origins of
    articles whose title was made from their first sentence (only dumps have title-less
    articles) go into `derived`, and a dump's title-or-subheading calls close to the
    threshold into `decisions`, and into `passed` and `relisted` the heading candidates
    whose call or close-call listing a known title would change (dumps.split).
    """
    sink = warnings if warnings is not None else []
    text = textio.read_text(path, lenient=lenient, warnings=sink, max_bytes=max_bytes)
    suffix = path.suffix.lower()
    if suffix in JSONL:
        return jsonl.parse(text, str(path))
    if suffix in MARKDOWN:
        return markdown.parse(text, str(path))
    return dumps.parse(text, str(path), known_titles, derived, decisions, passed, relisted)
