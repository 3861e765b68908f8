"""`articles merge` and `articles split`: fix the importer's title/subheading split in the store.

Each command changes the stored articles in one transaction and records the rule that
re-imports replay (ingest/corrections.py), so the stored result is always what the rules
make of the dump. Undoing a rule with the opposite command (a merge of A and B, then `split
A --at` B's heading, or a split, then merging the two again) removes the rule instead of
stacking a second one, and gives back the fingerprints the articles had before it: the
next re-import then finds them unchanged, and translations made from the text before the
rule count as current again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from publisher.core.errors import InputError
from publisher.ingest import corrections, detect, provenance
from publisher.ingest.corrections import MERGE, SPLIT, short
from publisher.store.articles import (
    Block,
    article_id,
    as_json,
    derive_summary,
    normalise_key,
    slugify,
)
from publisher.store.edits import find
from publisher.store.models import Article, ArticleText, Correction, utcnow

_LISTED = 12  # headings named in the "no such heading" message


def _blocks(slot: ArticleText) -> list[Block]:
    return [Block(str(b["kind"]), str(b["text"])) for b in slot.blocks]


def _set_source(art: Article, blocks: list[Block], fp: str, now: datetime) -> None:
    """New source blocks and fingerprint: the translations made from the text before become
    outdated, as after an import that changed it, having recorded that text first (the PO
    export shows it to translators as `#| msgid`)."""
    src = art.source_text
    keep_summary = provenance.custom_summary(src)
    provenance.record(art)
    src.blocks = [b.as_dict() for b in blocks]
    if not keep_summary:
        src.summary = derive_summary(blocks)
    art.fingerprint = src.source_fingerprint = fp
    src.updated_at = now
    art.updated_at = max(now, art.published_at)


def _latest(rules: list[Correction], keys: set[str]) -> Correction | None:
    """The newest rule that names one of `keys`: only it can be undone without rewriting
    the rules made after it."""
    return next((r for r in reversed(rules) if r.key in keys or r.other in keys), None)


def _translations(art: Article) -> list[str]:
    return sorted(t.lang for t in art.texts if t.status != "source")


def _outdated(art: Article) -> list[str]:
    return sorted(t.lang for t in art.texts if t.outdated)


def _unique_slug(session: Session, wanted: str, own_id: str) -> str:
    rows = session.execute(
        select(Article.slug, Article.id).where(
            or_(Article.slug == wanted, Article.slug.like(f"{wanted}-%")))
    ).all()
    taken = {slug for slug, aid in rows if aid != own_id}
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}-{n}" in taken:
        n += 1
    return f"{wanted}-{n}"


def _snapshot(art: Article) -> dict[str, Any]:
    """What a merge needs to give the appended article back as it was."""
    return {
        "slug": art.slug, "source_lang": art.source_lang,
        "published_at": art.published_at.isoformat(), "date_stated": art.date_stated,
        "created_at": art.created_at.isoformat(), "categories": list(art.categories or []),
        "origin": art.origin, "hidden": art.hidden,
    }


def merge(store: Any, ref: str, other_ref: str, *, now: datetime | None = None
          ) -> dict[str, Any]:
    """Append article `other_ref` to `ref` under its title as a heading and remove it.

    The translations of `ref` become outdated; those of `other_ref` are dropped. Undoes an
    earlier `split` of `ref` at `other_ref`'s title when that is the newest rule naming them.
    """
    now = now or utcnow()
    with store.session() as s:
        art, other = find(s, ref), find(s, other_ref)
        if art.id == other.id:
            raise InputError(f"cannot merge article {art.id} into itself",
                             "give two different ids")
        rules = corrections.rules(s)
        last = _latest(rules, {art.key, other.key})
        undo = last if (last is not None and last.kind == SPLIT and last.key == art.key
                        and last.other == other.key) else None
        heading = undo.heading if undo is not None else other.source_text.title
        blocks = [*_blocks(art.source_text), Block("heading", heading),
                  *_blocks(other.source_text)]
        before, other_before = art.fingerprint, other.fingerprint
        fp = corrections.joined_fingerprint(before, other_before)
        if undo is not None:
            old = undo.undo.get("fingerprints", {})
            exact = (
                before == corrections.cut_fingerprint(old.get("key", ""), undo.other, "head")
                and other_before == corrections.cut_fingerprint(old.get("key", ""),
                                                                undo.other, "tail"))
            fp = str(old["key"]) if exact else fp
            s.delete(undo)
        else:
            s.add(Correction(
                kind=MERGE, key=art.key, other=other.key, heading=heading, created_at=now,
                undo={"fingerprints": {"key": before, "other": other_before},
                      "at": len(art.source_text.blocks), "article": _snapshot(other)},
            ))
        dropped = _translations(other)
        gone = {"id": other.id, "slug": other.slug, "hidden": other.hidden,
                "lang": other.source_lang}
        _set_source(art, blocks, fp, now)
        s.delete(other)
        s.flush()
        return {
            "action": MERGE, "id": art.id, "merged": gone, "heading": heading,
            "outdated": _outdated(art), "dropped_translations": dropped,
            "undid_split": undo is not None, "article": as_json(art),
        }


def _seam(art: Article, heading: str, undo: Correction | None) -> int:
    """Index of the heading to cut at, or InputError naming the headings there are."""
    blocks = _blocks(art.source_text)
    key = normalise_key(heading)
    at = undo.undo.get("at") if undo is not None else None
    if isinstance(at, int) and 0 < at < len(blocks) - 1 and (
        blocks[at].kind == "heading" and normalise_key(blocks[at].text) == key
    ):
        return at  # where the merge put it, even if an earlier heading reads the same
    found = corrections.seam_index(blocks, key)
    if found is not None:
        return found
    if key == normalise_key(art.source_text.title):
        raise InputError(f"{heading!r} is the title of article {art.id}, not a heading in it",
                         "`publisher articles list --json` shows its blocks")
    headings = [b.text for b in blocks if b.kind == "heading"]
    matches = [i for i, b in enumerate(blocks) if b.kind == "heading"
               and normalise_key(b.text) == key]
    if matches and matches[0] == 0:
        raise InputError(f"heading {heading!r} opens article {art.id}; nothing would be left "
                         "before it", "`publisher articles edit ID --title` fixes a title")
    if matches:
        raise InputError(f"heading {heading!r} ends article {art.id}; nothing follows it",
                         "a new article needs a body")
    listed = "; ".join(f"'{short(h)}'" for h in headings[:_LISTED])
    more = f" and {len(headings) - _LISTED} more" if len(headings) > _LISTED else ""
    has = f"its headings: {listed}{more}" if headings else "it has no headings"
    raise InputError(f"article {art.id} has no heading {heading!r}; {has}",
                     "`publisher articles list --json` shows its blocks")


def split(store: Any, ref: str, heading: str, *, now: datetime | None = None
          ) -> dict[str, Any]:
    """Make a new article of `ref` from `heading` on: the heading is its title, the blocks
    after it its body. The new article has the source language and date of `ref` unless its
    lead states a full date, and only its source slot; the translations of `ref` become
    outdated. Undoes an earlier `merge` that appended `heading`'s article when that is the
    newest rule naming `ref`.
    """
    now = now or utcnow()
    if not " ".join(heading.split()):
        raise InputError("--at is empty", "give the text of a heading of the article")
    with store.session() as s:
        art = find(s, ref)
        rules = corrections.rules(s)
        last = _latest(rules, {art.key})
        undo = last if (last is not None and last.kind == MERGE and last.key == art.key
                        and normalise_key(last.heading) == normalise_key(heading)
                        and _latest(rules, {art.key, last.other}) is last) else None
        at = _seam(art, heading, undo)
        blocks = _blocks(art.source_text)
        title, body = blocks[at].text, blocks[at + 1:]
        key = undo.other if undo is not None else normalise_key(title)
        new_id = article_id(key)
        clash = s.scalars(select(Article).where(
            or_(Article.id == new_id, Article.key == key))).first()
        if clash is not None:
            raise InputError(
                f"article {clash.id} already has the title {short(title)!r}",
                f"`publisher articles merge {art.id} {clash.id}` or `articles edit` its title")
        before = art.fingerprint
        head_fp = corrections.cut_fingerprint(before, key, "head")
        tail_fp = corrections.cut_fingerprint(before, key, "tail")
        meta: dict[str, Any] = {}
        if undo is not None:
            old = undo.undo.get("fingerprints", {})
            if before == corrections.joined_fingerprint(old.get("key", ""),
                                                        old.get("other", "")):
                head_fp, tail_fp = str(old["key"]), str(old["other"])
            meta = dict(undo.undo.get("article") or {})
            s.delete(undo)
        else:
            s.add(Correction(kind=SPLIT, key=art.key, other=key, heading=title, created_at=now,
                             undo={"fingerprints": {"key": before}, "at": at}))
        new = _new_article(s, art, key, title, body, tail_fp, meta, now)
        _set_source(art, blocks[:at], head_fp, now)
        s.flush()
        return {
            "action": SPLIT, "id": art.id, "heading": title, "outdated": _outdated(art),
            "undid_merge": undo is not None, "article": as_json(art), "new": as_json(new),
        }


def _when(value: Any, default: datetime) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else default


def _new_article(s: Session, whole: Article, key: str, title: str, body: list[Block],
                 fp: str, meta: dict[str, Any], now: datetime) -> Article:
    """The article cut off `whole`, with only its source slot. `meta` is what a merge kept
    of it when this undoes that merge; otherwise it takes the language, categories, origin
    and visibility of `whole`, and its date unless its lead states a full one."""
    aid = article_id(key)
    day = corrections.stated_date(body)
    published, stated = whole.published_at, whole.date_stated
    if day is not None:
        published, stated = detect.at_noon(day), True
    published = _when(meta.get("published_at"), published)
    stated = bool(meta.get("date_stated", stated))
    art = Article(
        id=aid, key=key,
        slug=_unique_slug(s, str(meta.get("slug") or slugify(title)), aid),
        source_lang=str(meta.get("source_lang") or whole.source_lang),
        published_at=published, date_stated=stated,
        # Its text came with `whole`: digests, which send what became available after a
        # subscriber's cursor (from max(published_at, created_at)), do not send it twice.
        created_at=_when(meta.get("created_at"), whole.created_at),
        # As an import of a new article: its date, so feeds do not announce it as updated.
        updated_at=published,
        categories=list(meta.get("categories", whole.categories or [])),
        fingerprint=fp, origin=str(meta.get("origin", whole.origin)),
        hidden=bool(meta.get("hidden", whole.hidden)),
    )
    art.texts.append(ArticleText(
        lang=art.source_lang, title=title, summary=derive_summary(body),
        blocks=[b.as_dict() for b in body], status="source", ready_at=published,
        source_fingerprint=fp, updated_at=now,
    ))
    s.add(art)
    return art
