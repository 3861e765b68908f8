"""JSON Lines: one article per line, as CMS exports produce them.

{"title": "...", "body": "paragraphs\\n\\nseparated by blank lines" | "blocks": [{"kind", "text"}],
 "date": "2025-04-07" | "2025-04-07T09:30:00+05:00", "lang": "kk|ru|en", "categories": [...],
 "summary": "...", "slug": "...", "translations": {"ru": {"title", "body"|"blocks", "summary"}}}
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from publisher import LANGUAGES
from publisher.core.errors import InputError
from publisher.ingest import detect, dumps
from publisher.ingest.textio import clean
from publisher.store.parsed import BLOCK_KINDS, Block, ParsedArticle, TextInput, lead_of

_HINT = "one JSON object per line with at least title and body (or blocks)"


class BadField(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r}: {problem}")


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadField(where + key, "missing")
        return ""
    if not isinstance(value, str):
        raise BadField(where + key, f"must be a string, not {type(value).__name__}")
    text = clean(value)
    if required and not text.strip():
        raise BadField(where + key, "empty")
    return text


def _blocks(obj: dict[str, Any], where: str) -> list[Block]:
    if "blocks" in obj and obj["blocks"] is not None:
        raw = obj["blocks"]
        if not isinstance(raw, list):
            raise BadField(where + "blocks", "must be a list of {kind, text}")
        out = []
        for n, b in enumerate(raw):
            if not isinstance(b, dict) or not isinstance(b.get("text"), str):
                raise BadField(f"{where}blocks[{n}]", "must be an object with a string 'text'")
            kind = b.get("kind", "paragraph")
            if kind not in BLOCK_KINDS:
                kinds = ", ".join(BLOCK_KINDS)
                raise BadField(f"{where}blocks[{n}].kind", f"must be one of {kinds}")
            text = " ".join(clean(b["text"]).split()) if kind != "list" else "\n".join(
                " ".join(line.split()) for line in clean(b["text"]).split("\n") if line.strip()
            )
            if text:
                out.append(Block(kind, text))
        if not out:
            raise BadField(where + "blocks", "empty")
        return out
    body = _str(obj, "body", where, required=True)
    return dumps.body_blocks(body)


def parse_date(value: Any) -> datetime | None:
    """An ISO date (stored at 12:00 UTC) or an ISO timestamp with an offset."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadField("date", "must be an ISO date string like 2025-04-07")
    try:
        if len(value) == 10:
            return detect.at_noon(date.fromisoformat(value))
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadField("date", f"{value!r} is not an ISO date (2025-04-07)") from None
    if parsed.tzinfo is None:
        raise BadField("date", f"{value!r} has a time but no timezone offset")
    return parsed.astimezone(UTC)


def _lang(obj: dict[str, Any], where: str, fallback: str) -> str:
    value = obj.get("lang")
    if value in (None, ""):
        return fallback
    if value not in LANGUAGES:
        raise BadField(where + "lang", f"must be one of {', '.join(LANGUAGES)}")
    return str(value)


def article(obj: Any, origin: str) -> ParsedArticle:
    if not isinstance(obj, dict):
        raise BadField("(line)", "must be a JSON object")
    title = " ".join(_str(obj, "title", "", required=True).split())
    blocks = _blocks(obj, "")
    lang = _lang(obj, "", detect.language(" ".join([title, *(b.text for b in blocks[:6])])))
    cats = obj.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise BadField("categories", "must be a list of strings")
    translations: dict[str, TextInput] = {}
    raw_tr = obj.get("translations") or {}
    if not isinstance(raw_tr, dict):
        raise BadField("translations", "must be an object {lang: {title, body|blocks}}")
    for code, tr in raw_tr.items():
        where = f"translations.{code}."
        if code not in LANGUAGES:
            langs = ", ".join(LANGUAGES)
            raise BadField(f"translations.{code}", f"language must be one of {langs}")
        if not isinstance(tr, dict):
            raise BadField(f"translations.{code}", "must be an object {title, body|blocks}")
        translations[code] = TextInput(
            title=" ".join(_str(tr, "title", where, required=True).split()),
            blocks=_blocks(tr, where),
            summary=_str(tr, "summary", where),
            status="draft" if tr.get("status") == "draft" else "ready",
        )
    slug = obj.get("slug")
    stated = parse_date(obj.get("date"))
    if stated is None:
        lead = lead_of(blocks)
        day = detect.find_date(lead)
        stated = detect.at_noon(day) if day else None
    return ParsedArticle(
        title=title, blocks=blocks, lang=lang, date=stated, origin=origin,
        summary=_str(obj, "summary", ""), categories=[c.strip() for c in cats if c.strip()],
        translations=translations, slug=slug if isinstance(slug, str) and slug else None,
    )


def _lone_surrogate(value: Any, path: str = "") -> str | None:
    """The field of the first string in `value` holding a lone surrogate (JSON's "\\ud800"
    escape decodes to one; a pair decodes to the character it spells), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(line)"
        return None
    items: Any = (value.items() if isinstance(value, dict)
                  else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
        found = _lone_surrogate(key, where) or _lone_surrogate(item, where)
        if found:
            return found
    return None


def parse(text: str, origin: str) -> list[ParsedArticle]:
    out: list[ParsedArticle] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{origin}: line {n}: not JSON ({exc.msg} at column {exc.colno})",
                             _HINT) from None
        # Only a \uD... escape can make a surrogate (the file itself is valid UTF-8).
        field = _lone_surrogate(obj) if "\\ud" in line.lower() else None
        if field is not None:
            raise InputError(
                f"{origin}: line {n}: field {field!r}: a lone surrogate escape (\\ud800-"
                "\\udfff), not a character",
                "a character above U+FFFF is written as a pair (\\ud83d\\ude00); fix the "
                "exporter's escaping")
        try:
            out.append(article(obj, f"{origin}:{n}"))
        except BadField as exc:
            raise InputError(f"{origin}: line {n}: {exc}", _HINT) from None
    if not out:
        raise InputError(f"{origin}: no articles (empty JSON Lines file)", _HINT)
    return out
