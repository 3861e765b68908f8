"""The parsed article's derived values (content fingerprint, slug), and its pickling."""

from __future__ import annotations

import hashlib
import json
import pickle
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.store.parsed import (
    Block,
    ParsedArticle,
    TextInput,
    blocks_text,
    fingerprint,
    slugify,
)


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=40),
    texts=st.lists(st.text(max_size=60), max_size=4),
    categories=st.lists(st.text(max_size=10), max_size=3),
    dated=st.booleans(),
    translated=st.booleans(),
)
def test_fingerprint_is_the_hash_of_the_sorted_json(
    title: str, texts: list[str], categories: list[str], dated: bool, translated: bool,
) -> None:
    """The fingerprint, written out around the blocks' JSON (also as the bulk writer calls
    it, with that JSON made already), is still SHA-256 of the whole article as JSON with
    sorted keys: stored fingerprints stay valid."""
    blocks = [Block("paragraph", t) for t in texts]
    when = datetime(2025, 3, 1, 7, tzinfo=UTC) if dated else None
    parsed = ParsedArticle(title=title, blocks=blocks, lang="kk", categories=categories,
                           date=when, translations={"ru": TextInput("Т", blocks[:1], "с"),
                                                    "en": TextInput("T", blocks[:1], "s")}
                           if translated else {})
    payload = {
        "title": title, "blocks": [b.as_dict() for b in blocks],
        "date": when.isoformat() if when else None, "lang": "kk", "categories": categories,
        "translations": {"ru": ["Т", [b.as_dict() for b in blocks[:1]], "с", "ready"],
                         "en": ["T", [b.as_dict() for b in blocks[:1]], "s", "ready"]}
        if translated else {},
    }
    want = hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    assert fingerprint(parsed) == want
    assert fingerprint(parsed, blocks_text(blocks)) == want


def test_a_parsed_article_pickles_whole() -> None:
    """An article a parse worker sends, pickled in its compact form, reads back equal in
    every field, with Block objects for blocks."""
    article = ParsedArticle(
        title="Жаңа зертхана ашылды", lang="kk", date=datetime(2025, 3, 14, 12, tzinfo=UTC),
        blocks=[Block("paragraph", "Бірінші."), Block("heading", "Жоспарлар"),
                Block("list", "бір\nекі")],
        origin="a.txt:3", summary="Қысқаша", categories=["news", "science"],
        translations={"ru": TextInput("Открыта лаборатория", [Block("paragraph", "Первый.")])},
        slug="zhana-zerthana", derived_fingerprint="f" * 64)
    back = pickle.loads(pickle.dumps(article, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == article
    assert all(isinstance(b, Block) for b in back.blocks)


def _slug_word_by_word(title: str, limit: int) -> str:
    """slugify as first written: words added while the slug stays within `limit`."""
    joined = slugify(title, 10**6)  # every word, transliterated ("article": none)
    slug = ""
    for w in [] if joined == "article" else joined.split("-"):
        if len(slug) + len(w) + 1 > limit:
            break
        slug = f"{slug}-{w}" if slug else w
    return slug or "article"


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["a", "bb", "қазақ", "Мед", "x" * 9, "2025", "—", " ", "é"]),
                max_size=30).map(" ".join), st.integers(min_value=1, max_value=40))
def test_a_slug_keeps_the_words_that_fit(title: str, limit: int) -> None:
    """A slug is the title's words, transliterated, while they fit in `limit` characters
    (a first word needs room for a hyphen after it), else "article"."""
    assert slugify(title, limit) == _slug_word_by_word(title, limit)


def test_a_slug_of_one_word_as_long_as_the_limit_is_article() -> None:
    """The edge the join shortcut must keep: a lone word of exactly `limit` letters."""
    assert slugify("a" * 80) == "article"
    assert slugify("a" * 79) == "a" * 79


@given(st.lists(st.tuples(st.sampled_from(["paragraph", "heading", "list", "quote", "\"x\""]),
                          st.text()), max_size=5))
def test_blocks_text_is_the_json_of_their_dicts(blocks: list[tuple[str, str]]) -> None:
    """The blocks' JSON, made without dicts, is json.dumps of their dicts to the byte (the
    store keeps it and fingerprints hash it), for any text and any kind."""
    made = [Block(kind, text) for kind, text in blocks]
    assert blocks_text(made) == json.dumps([b.as_dict() for b in made], ensure_ascii=False)
