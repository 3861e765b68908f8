"""Markdown with a front-matter block: one article per file.

---
title: ...
date: 2025-04-07
lang: kk
categories: [news, science]
---
Paragraphs, `#`/`##` headings, `-`/`*`/`1.` lists.
"""

from __future__ import annotations

import re

from publisher import LANGUAGES
from publisher.core.errors import InputError
from publisher.ingest import detect
from publisher.ingest.jsonl import BadField, parse_date
from publisher.store.parsed import Block, ParsedArticle, lead_of

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
# The URL may hold one level of balanced parentheses (Wikipedia-style "Foo_(bar)").
_LINK = re.compile(r"!?\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_EMPH = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_HINT = "start the file with a front matter block: ---, key: value lines, ---"


def inline(text: str) -> str:
    """Markdown inline markup to plain text (links keep their words)."""
    text = _LINK.sub(r"\1", text)
    text = _EMPH.sub(r"\2", text)
    return " ".join(text.split())


def front_matter(text: str, origin: str) -> tuple[dict[str, str | list[str]], str, int]:
    """The `key: value` block and the body after it (with the body's first line number)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text, 1
    meta: dict[str, str | list[str]] = {}
    key = ""
    for n, line in enumerate(lines[1:], 2):
        if line.strip() in ("---", "..."):
            return meta, "\n".join(lines[n:]), n + 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"^\s+-\s+(.*)$", line)
        if item and key:
            current = meta.get(key)
            listed = current if isinstance(current, list) else []
            listed.append(_unquote(item.group(1)))
            meta[key] = listed
            continue
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$", line)
        if not m:
            raise InputError(f"{origin}: line {n}: front matter line is not 'key: value'", _HINT)
        key, value = m.group(1).lower(), m.group(2).strip()
        if value.startswith("[") and value.endswith("]"):
            meta[key] = [_unquote(v) for v in value[1:-1].split(",") if v.strip()]
        else:
            meta[key] = _unquote(value) if value else []
    raise InputError(f"{origin}: front matter is not closed with ---", _HINT)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def body_blocks(body: str) -> tuple[str, list[Block]]:
    """Blocks of a Markdown body, and the text of a leading `# ` heading if there is one."""
    blocks: list[Block] = []
    para: list[str] = []
    items: list[str] = []
    h1 = ""

    def flush() -> None:
        if para:
            blocks.append(Block("paragraph", inline(" ".join(para))))
            para.clear()
        if items:
            blocks.append(Block("list", "\n".join(items)))
            items.clear()

    for line in body.split("\n"):
        if not line.strip():
            if para:
                flush()
            continue
        h = _HEADING.match(line)
        if h:
            flush()
            text = inline(h.group(2))
            if h.group(1) == "#" and not h1 and not blocks:
                h1 = text
            elif text:
                blocks.append(Block("heading", text))
            continue
        item = _ITEM.match(line)
        if item:
            if para:
                blocks.append(Block("paragraph", inline(" ".join(para))))
                para.clear()
            items.append(inline(item.group(1)))
        elif items and line[:1].isspace():
            items[-1] = f"{items[-1]} {inline(line)}"
        else:
            if items:
                flush()
            para.append(line.strip())
    flush()
    return h1, [b for b in blocks if b.text]


def parse(text: str, origin: str) -> list[ParsedArticle]:
    meta, body, _ = front_matter(text, origin)
    h1, blocks = body_blocks(body)
    title = meta.get("title") or h1
    if not isinstance(title, str) or not title.strip():
        raise InputError(f"{origin}: field 'title': missing (front matter title or a # heading)",
                         _HINT)
    if not blocks:
        raise InputError(f"{origin}: no body text after the front matter", _HINT)
    lang = meta.get("lang") or detect.language(" ".join([title, *(b.text for b in blocks[:6])]))
    if lang not in LANGUAGES:
        raise InputError(f"{origin}: field 'lang': must be one of {', '.join(LANGUAGES)}", _HINT)
    raw_date = meta.get("date")
    stated = None
    if isinstance(raw_date, str) and raw_date:
        try:
            stated = parse_date(raw_date)
        except BadField as exc:
            raise InputError(f"{origin}: {exc}", _HINT) from None
    if stated is None:
        day = detect.find_date(lead_of(blocks))
        stated = detect.at_noon(day) if day else None
    cats = meta.get("categories", [])
    categories = [cats] if isinstance(cats, str) else list(cats)
    slug = meta.get("slug")
    summary = meta.get("summary")
    return [
        ParsedArticle(
            title=" ".join(title.split()), blocks=blocks, lang=str(lang), date=stated,
            origin=f"{origin}:1", summary=summary if isinstance(summary, str) else "",
            categories=[c for c in categories if c],
            slug=slug if isinstance(slug, str) and slug else None,
        )
    ]
