"""The parsed article's derived values: the content fingerprint."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.store.parsed import (
    LEAD_CHARS,
    Block,
    ParsedArticle,
    TextInput,
    blocks_text,
    fingerprint,
    known_entry,
    normalise_key,
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
                           date=when, translations={"en": TextInput("T", blocks[:1], "s")}
                           if translated else {})
    payload = {
        "title": title, "blocks": [b.as_dict() for b in blocks],
        "date": when.isoformat() if when else None, "lang": "kk", "categories": categories,
        "translations": {"en": ["T", [b.as_dict() for b in blocks[:1]], "s", "ready"]}
        if translated else {},
    }
    want = hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    assert fingerprint(parsed) == want
    assert fingerprint(parsed, blocks_text([b.as_dict() for b in blocks])) == want


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=30), lead=st.text(max_size=600))
def test_a_known_entry_keys_the_start_of_the_whole_lead(title: str, lead: str) -> None:
    """Normalising only the start of a long lead gives the entry the whole lead would."""
    assert known_entry(title, lead) == (
        f"{normalise_key(title)}|{normalise_key(lead)[:LEAD_CHARS]}")
