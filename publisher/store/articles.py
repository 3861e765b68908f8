"""Articles in the store: the parsed shape every importer produces, and saving it idempotently."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.store.models import Article, ArticleText, utcnow
from publisher.store.parsed import (
    BLOCK_KINDS,
    Block,
    Outcome,
    ParsedArticle,
    TextInput,
    article_id,
    derive_summary,
    fingerprint,
    normalise_key,
    slugify,
)

__all__ = [
    "BLOCK_KINDS", "Block", "Outcome", "ParsedArticle", "TextInput", "all_articles",
    "article_id", "as_json", "derive_summary", "fingerprint", "normalise_key", "preload",
    "save", "slugify",
]


def _pending(session: Session) -> dict[str, Article]:
    """Articles this session added and may not have flushed yet, by id.

    save() does not flush per article (one unit of work per article was most of the import
    time); lookups consult this map first so a repeat within one file is still found.
    """
    found: dict[str, Article] = session.info.setdefault("articles.pending", {})
    return found


def _pending_slugs(session: Session) -> dict[str, str]:
    """Slug -> id of the pending articles (kept beside _pending to avoid a scan per save)."""
    found: dict[str, str] = session.info.setdefault("articles.pending_slugs", {})
    return found


def preload(session: Session, batch: list[ParsedArticle]) -> None:
    """Load a batch's existing articles in a few queries instead of one lookup per save()."""
    ids = sorted({article_id(normalise_key(p.title)) for p in batch})
    absent: set[str] = session.info.setdefault("articles.absent", set())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        with session.no_autoflush:
            found = set(session.scalars(select(Article.id).where(Article.id.in_(chunk))))
            # Loading the rows puts them in the identity map, where session.get finds them.
            list(session.scalars(select(Article).where(Article.id.in_(found))))
        absent.update(set(chunk) - found)


def _unique_slug(session: Session, base: str, own_id: str) -> str:
    slugs = _pending_slugs(session)
    if slugs.get(base, own_id) == own_id:
        with session.no_autoflush:
            owner = session.scalar(select(Article.id).where(Article.slug == base))
        if owner is None or owner == own_id:
            return base  # the common case: one indexed lookup
    # Taken: one query for every numbered variant (probing base-2, base-3, ... one by one is
    # quadratic when many articles share a title prefix).
    with session.no_autoflush:
        rows = session.execute(
            select(Article.slug, Article.id).where(Article.slug.like(f"{base}-%"))
        ).all()
    taken = {slug for slug, aid in rows if aid != own_id}
    taken.update(slug for slug, aid in slugs.items() if aid != own_id and slug.startswith(base))
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _blocks_json(blocks: list[Block]) -> list[dict[str, str]]:
    return [b.as_dict() for b in blocks]


def _lookup(session: Session, key: str) -> tuple[str, Article | None]:
    aid = article_id(key)
    art = _pending(session).get(aid)
    if art is None and aid not in session.info.get("articles.absent", ()):
        with session.no_autoflush:
            art = session.get(Article, aid)
    return aid, art


def save(session: Session, parsed: ParsedArticle, now: datetime | None = None) -> Outcome:
    """Insert or update one article inside the caller's transaction.

    Same key and same content: nothing changes. Same key, other content: the source slot
    is rewritten and `updated_at` moves; translations made from the old text become outdated.
    """
    if parsed.lang not in LANGUAGES:
        raise ValueError(f"unknown language {parsed.lang!r}")
    now = now or utcnow()
    key = normalise_key(parsed.title)
    fp = fingerprint(parsed)
    aid, art = _lookup(session, key)
    if (
        art is not None and art.date_stated and parsed.date is not None
        and art.published_at.date() != parsed.date.date()
    ):
        # The same title on another stated day is another article ("Announcement" every
        # month), not an edit; the dated key keeps both apart, and stable across re-imports.
        key = f"{key} {parsed.date.date().isoformat()}"
        aid, art = _lookup(session, key)
    pending = _pending(session)
    summary = parsed.summary or derive_summary(parsed.blocks)
    if art is not None and art.fingerprint == fp:
        return "unchanged"
    if art is None:
        art = Article(
            id=aid,
            key=key,
            slug=_unique_slug(session, parsed.slug or slugify(parsed.title), aid),
            source_lang=parsed.lang,
            published_at=parsed.date or now,
            date_stated=parsed.date is not None,
            created_at=now,
            updated_at=parsed.date or now,
            categories=list(parsed.categories),
            fingerprint=fp,
            origin=parsed.origin,
        )
        session.add(art)
        pending[aid] = art
        _pending_slugs(session)[art.slug] = aid
        outcome: Outcome = "new"
    else:
        outcome = "updated"
        if art.source_lang != parsed.lang:
            old = art.text(art.source_lang)
            if old is not None:
                old.status, old.source_fingerprint = "ready", ""
        art.source_lang = parsed.lang
        if parsed.date is not None:
            art.published_at, art.date_stated = parsed.date, True
        art.updated_at = max(now, art.published_at)
        art.categories = list(parsed.categories)
        art.fingerprint = fp
        art.origin = parsed.origin or art.origin
    src = art.text(parsed.lang)
    if src is None:
        src = ArticleText(lang=parsed.lang, updated_at=now)
        art.texts.append(src)
    src.title, src.summary, src.blocks = parsed.title, summary, _blocks_json(parsed.blocks)
    src.status, src.ready_at = "source", art.published_at
    src.source_fingerprint, src.updated_at = fp, now
    for lang, tr in parsed.translations.items():
        if lang == parsed.lang or lang not in LANGUAGES:
            continue
        slot = art.text(lang)
        if slot is None:
            slot = ArticleText(lang=lang, updated_at=now)
            art.texts.append(slot)
        slot.title, slot.blocks = tr.title, _blocks_json(tr.blocks)
        slot.summary = tr.summary or derive_summary(tr.blocks)
        slot.status = "ready" if tr.status == "ready" else "draft"
        slot.ready_at = now if slot.status == "ready" else None
        slot.source_fingerprint, slot.updated_at = fp, now
    return outcome


def as_json(art: Article) -> dict[str, Any]:
    """The `articles list --json` shape (DESIGN.md: id, lang, title, date, blocks, translations)."""
    src = art.source_text
    return {
        "id": art.id,
        "slug": art.slug,
        "lang": art.source_lang,
        "title": src.title,
        "date": art.published_at.date().isoformat() if art.date_stated else None,
        "published": art.published_at.isoformat(),
        "updated": art.updated_at.isoformat(),
        "summary": src.summary,
        "blocks": src.blocks,
        "categories": art.categories,
        "translations": {
            lang: ("outdated" if (t := art.text(lang)) is not None and t.outdated
                   else (t.status if t is not None else "missing"))
            for lang in LANGUAGES
        },
        "origin": art.origin,
        "hidden": art.hidden,
    }


def all_articles(session: Session, *, include_hidden: bool = False) -> list[Article]:
    """Every article, newest first (stable order for equal dates); hidden ones only when
    asked: the site, the feeds and digests never show them."""
    stmt = select(Article).order_by(Article.published_at.desc(), Article.id)
    if not include_hidden:
        stmt = stmt.where(Article.hidden.is_(False))
    return list(session.scalars(stmt))
