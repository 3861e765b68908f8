"""The source text each translation was made from, kept inside the translation's blocks.

An import that changes an article rewrites its source slot in place, and a translation
then only knows (by fingerprint) that it is outdated, not what it was translated from. A
translator reviewing it wants the old text beside the new (`#| msgid` in the PO export), so
each translation slot keeps it: every block carries the text of the source block it
renders under "source", and the first block also the source title and summary. There is no
column for this and adding one would need a migration; the readers of `blocks` (site,
feeds, mail) only look at "kind" and "text".

It is recorded when a PO file fills the slot (the msgid each entry was translated from)
and, for translations that came another way or before this was kept, by the importer just
before it replaces a source text they were made from.
"""

from __future__ import annotations

from typing import Any

from publisher.store.articles import Block, derive_summary
from publisher.store.models import Article, ArticleText

SOURCE = "source"
SOURCE_TITLE = "source_title"
SOURCE_SUMMARY = "source_summary"


def made_from(slot: ArticleText | None, src: ArticleText, name: str) -> str:
    """The source text field `name` (title | summary | block:N) of `slot` was translated
    from, or "" when it was not recorded or the slot's blocks no longer line up with the
    source's."""
    if slot is None or not slot.blocks:
        return ""
    if name in ("title", "summary"):
        key = SOURCE_TITLE if name == "title" else SOURCE_SUMMARY
        return str(slot.blocks[0].get(key, ""))
    n = int(name.split(":")[1]) - 1
    if n < len(slot.blocks) and n < len(src.blocks) and (
        slot.blocks[n].get("kind") == src.blocks[n]["kind"]
    ):
        return str(slot.blocks[n].get(SOURCE, ""))
    return ""


def with_sources(blocks: list[dict[str, Any]], sources: dict[str, str]) -> list[dict[str, Any]]:
    """A copy of a translation's `blocks` carrying `sources` ({field name: source text});
    a field without a known source drops any older record rather than keep a wrong one."""
    out: list[dict[str, Any]] = []
    for n, block in enumerate(blocks, start=1):
        new = {k: v for k, v in block.items() if k not in (SOURCE, SOURCE_TITLE, SOURCE_SUMMARY)}
        marks = [(SOURCE, f"block:{n}")]
        if n == 1:
            marks += [(SOURCE_TITLE, "title"), (SOURCE_SUMMARY, "summary")]
        for key, name in marks:
            if sources.get(name):
                new[key] = sources[name]
        out.append(new)
    return out


def _custom(summary: str, blocks: list[dict[str, Any]]) -> bool:
    return bool(summary) and summary != derive_summary(
        [Block(b["kind"], b["text"]) for b in blocks])


def custom_summary(src: ArticleText) -> bool:
    """True when the summary was given, not derived from the lead (it is then a field of its
    own to translate)."""
    return _custom(src.summary, src.blocks)


def _sources(title: str, summary: str, blocks: list[dict[str, Any]],
             slot_blocks: list[dict[str, Any]]) -> dict[str, str]:
    """The fields of a source text (`title`, `summary`, `blocks`) that a translation's
    `slot_blocks` line up with."""
    sources = {"title": title}
    if _custom(summary, blocks):
        sources["summary"] = summary
    for n, block in enumerate(blocks, start=1):
        if n <= len(slot_blocks) and slot_blocks[n - 1].get("kind") == block["kind"]:
            sources[f"block:{n}"] = str(block["text"])
    return sources


def record(art: Article) -> None:
    """Each translation made from the article's current source text records that text (call
    it before an import replaces the source)."""
    src = art.source_text
    for slot in art.texts:
        if slot.status == "source" or slot.outdated:
            continue  # an outdated slot already lost sight of its text; keep what it recorded
        blocks = with_sources(slot.blocks,
                              _sources(src.title, src.summary, src.blocks, slot.blocks))
        if blocks != slot.blocks:
            slot.blocks = blocks


def record_rows(article: dict[str, Any], slots: list[dict[str, Any]]) -> None:
    """`record` on the bulk writer's rows (store/bulk.py): `article` the article's row,
    `slots` its translation slots' rows, whose "blocks" it replaces where they change."""
    src = next((t for t in slots if t["lang"] == article["source_lang"]), None)
    if src is None:  # pragma: no cover - the store never writes an article without it
        raise LookupError(f"article {article['id']} has no source text")
    for slot in slots:
        # An outdated slot (made from another source text) keeps what it recorded.
        if slot["status"] == "source" or slot["source_fingerprint"] != article["fingerprint"]:
            continue
        blocks = with_sources(slot["blocks"], _sources(src["title"], src["summary"],
                                                       src["blocks"], slot["blocks"]))
        if blocks != slot["blocks"]:
            slot["blocks"] = blocks
