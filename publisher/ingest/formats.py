"""Reading one import file into ParsedArticles, by format (text dump, JSON Lines, Markdown)."""

from __future__ import annotations

from pathlib import Path

from publisher.ingest import dumps, jsonl, markdown, textio
from publisher.store.parsed import ParsedArticle

JSONL = {".jsonl", ".ndjson"}
MARKDOWN = {".md", ".markdown"}


def read(
    path: Path, *, lenient: bool = False, warnings: list[str] | None = None,
    max_bytes: int = textio.DEFAULT_MAX_BYTES, derived: set[str] | None = None,
    decisions: list[dumps.Decision] | None = None, review: float | None = None,
) -> list[ParsedArticle]:
    """Parse `path`; raises InputError naming the file (and byte offset or line) when rejected.

    The origins of articles whose title was made from their first sentence (only dumps have
    title-less articles) go into `derived`, and a dump's title-or-subheading calls close to
    the threshold (within `review`, default the model's margin) into `decisions`.
    """
    sink = warnings if warnings is not None else []
    text = textio.read_text(path, lenient=lenient, warnings=sink, max_bytes=max_bytes)
    suffix = path.suffix.lower()
    if suffix in JSONL:
        return jsonl.parse(text, str(path))
    if suffix in MARKDOWN:
        return markdown.parse(text, str(path))
    return dumps.parse(text, str(path), derived, decisions, review)
