"""The parsed shape every importer produces, and what is derived from it alone (identity key,
id, slug, summary, content fingerprint).

Kept apart from `articles` (which saves it with SQLAlchemy): the readers in `ingest` need
the shape and these derivations, not the database layer.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from json.encoder import encode_basestring as _json_str  # json.dumps' own, for str
from operator import attrgetter
from typing import Any, Literal

BLOCK_KINDS = ("paragraph", "heading", "list")
# json.dumps(value, ensure_ascii=False), without the encoder json.dumps builds on every call
# that passes an option: an import encodes several values per article.
to_json = json.JSONEncoder(ensure_ascii=False).encode
Outcome = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class Block:
    kind: str  # paragraph | heading | list (list items separated by "\n")
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


@dataclass
class TextInput:
    """A translation supplied together with an article (JSONL, front matter)."""

    title: str
    blocks: list[Block]
    summary: str = ""
    status: str = "ready"


@dataclass
class ParsedArticle:
    title: str
    blocks: list[Block]
    lang: str
    date: datetime | None = None  # timezone-aware; None: no date stated in the source
    origin: str = ""  # "file:line", shown in translator comments and errors
    summary: str = ""
    categories: list[str] = field(default_factory=list)
    translations: dict[str, TextInput] = field(default_factory=dict)
    slug: str | None = None
    # Set by an admin's merge or split (ingest/corrections.py): derived from the fingerprints
    # of the parts, which the store keeps even after an edit of the title or date.
    derived_fingerprint: str = ""

    def __reduce__(self) -> tuple[Callable[..., ParsedArticle], tuple[object, ...]]:
        # A parse worker sends every article of its file to the importing process: blocks as
        # two lists of strings pickle in two thirds of the time Block objects take (each one
        # a class reference and a dict of its fields). Every other field as it is.
        return _unpickle, ([b.kind for b in self.blocks], [b.text for b in self.blocks],
                           _others(self))


def _unpickle(kinds: list[str], texts: list[str], others: tuple[Any, ...]) -> ParsedArticle:
    values = list(others)
    values.insert(_BLOCKS_AT, list(map(Block, kinds, texts)))
    return ParsedArticle(*values)


_NAMES = [f.name for f in fields(ParsedArticle)]
_BLOCKS_AT = _NAMES.index("blocks")
_others = attrgetter(*(name for name in _NAMES if name != "blocks"))  # the rest, in order


_NON_WORD = re.compile(r"[^\w]+")


@lru_cache(maxsize=8192)
def normalise_key(title: str) -> str:
    """Identity of an article across re-imports: case, punctuation and spacing do not count.

    Cached: an import asks for a title's key more than once (parsing, saving)."""
    # Checking is several times cheaper than normalising, and most titles are NFKC already.
    if not unicodedata.is_normalized("NFKC", title):
        title = unicodedata.normalize("NFKC", title)
    text = _NON_WORD.sub(" ", title.casefold())
    return " ".join(text.split())[:300]


def lead_of(blocks: Sequence[Block]) -> str:
    """An article's lead: its first paragraph, as its summary starts."""
    return next((b.text for b in blocks if b.kind == "paragraph"), "")


def article_id(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


_TRANSLIT = str.maketrans(
    {
        "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e", "ё": "e",
        "ж": "zh", "з": "z", "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n",
        "ң": "n", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "u",
        "ү": "u", "ф": "f", "х": "h", "һ": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch",
        "ъ": "", "ы": "y", "і": "i", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    }
)  # fmt: skip


_SLUG_WORD = re.compile(r"[a-z0-9]+")


def slugify(title: str, limit: int = 80) -> str:
    # Checking is several times cheaper than normalising, and most titles are NFKC already.
    if not unicodedata.is_normalized("NFKC", title):
        title = unicodedata.normalize("NFKC", title)
    text = title.casefold().translate(_TRANSLIT)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = _SLUG_WORD.findall(text)
    slug = "-".join(words)
    if len(slug) < limit:  # every word fits (the loop below allows a first word limit - 1)
        return slug or "article"
    slug = ""
    for w in words:
        if len(slug) + len(w) + 1 > limit:
            break
        slug = f"{slug}-{w}" if slug else w
    return slug or "article"


# Words after which a period does not end a sentence (titles, initials are handled apart).
_ABBREVIATIONS = frozenset(
    {
        "dr", "prof", "mr", "mrs", "ms", "st", "no", "vs", "etc", "assoc", "acad", "jsc", "llp",
        "г", "гг", "т", "им", "проф", "акад", "доц", "д", "ж", "к", "см", "др", "тел",
    }
)  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?…][\"»”’)]?\s")


def _ends_sentence(text: str, end: int) -> bool:
    """True when the stop at text[end] closes a sentence, not an abbreviation or initial."""
    word = text[:end].rsplit(None, 1)[-1] if text[:end].strip() else ""
    word = word.rsplit(".", 1)[-1]  # "S.K" -> "K"
    if len(word) == 1 and word.isupper():
        return False
    return word.casefold().strip("(«“\"") not in _ABBREVIATIONS


def derive_summary(blocks: list[Block], limit: int = 300) -> str:
    """The lead paragraph, cut at a sentence (or word) boundary near `limit` characters."""
    lead = lead_of(blocks)
    if len(lead) <= limit:
        return lead
    cut = lead[: limit + 1]
    ends = [
        m.end() - 1 for m in _SENTENCE_END.finditer(cut)
        if m.start() > limit // 3 and _ends_sentence(cut, m.start())
    ]
    if ends:
        return cut[: ends[-1]].rstrip()
    return lead[:limit].rsplit(" ", 1)[0].rstrip(",;:—-– ") + "…"


# Each block's JSON up to its text, by kind.
_OPENINGS = {kind: f'{{"kind": {_json_str(kind)}, "text": ' for kind in BLOCK_KINDS}


def blocks_text(blocks: Sequence[Block]) -> str:
    """Blocks in JSON, as the store keeps them and as the fingerprint hashes them: what
    json.dumps makes of their dicts (`Block.as_dict`), made without the dicts."""
    return "[" + ", ".join([
        (_OPENINGS.get(b.kind) or f'{{"kind": {_json_str(b.kind)}, "text": ')
        + _json_str(b.text) + "}" for b in blocks]) + "]"


def fingerprint(parsed: ParsedArticle, blocks: str | None = None) -> str:
    """Content hash of an article: SHA-256 of its fields in JSON with sorted keys. `blocks`
    is `blocks_text` of `parsed.blocks` when the caller has it (the import writes the same
    text to the store, so it is made once). A merged or split article carries the fingerprint
    its correction gave it."""
    if parsed.derived_fingerprint:
        return parsed.derived_fingerprint
    if blocks is None:
        blocks = blocks_text(parsed.blocks)
    # json.dumps(payload, ensure_ascii=False, sort_keys=True), written out key by key in
    # sorted order around the blocks' text (a block's own keys, "kind" and "text", already
    # are): the strings through json's own encoder, no payload dict built and sorted.
    when = _json_str(parsed.date.isoformat()) if parsed.date else "null"
    translations = to_json({
        k: [v.title, [b.as_dict() for b in v.blocks], v.summary, v.status]
        for k, v in sorted(parsed.translations.items())
    })
    raw = (f'{{"blocks": {blocks}, '
           f'"categories": {to_json(parsed.categories)}, '
           f'"date": {when}, "lang": {_json_str(parsed.lang)}, '
           f'"title": {_json_str(parsed.title)}, "translations": {translations}}}').encode()
    return hashlib.sha256(raw).hexdigest()
