"""Reading one import file into ParsedArticles, by format (text dump, JSON Lines, Markdown)."""

from __future__ import annotations

from pathlib import Path

from publisher import dumps, textio
from publisher.articles import ParsedArticle

JSONL = {".jsonl", ".ndjson"}
MARKDOWN = {".md", ".markdown"}


def read(path: Path, *, lenient: bool = False, warnings: list[str] | None = None) -> list[ParsedArticle]:
    """Parse `path`; raises InputError naming the file (and byte offset or line) when rejected."""
    text = textio.read_text(path, lenient=lenient, warnings=warnings if warnings is not None else [])
    suffix = path.suffix.lower()
    if suffix in JSONL:
        from publisher import jsonl

        return jsonl.parse(text, str(path))
    if suffix in MARKDOWN:
        from publisher import markdown

        return markdown.parse(text, str(path))
    return dumps.parse(text, str(path))
