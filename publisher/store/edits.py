"""An admin's fixes to stored articles: look, retitle, redate, hide, delete.

Edits change the stored article and keep its import identity (the key and the import
fingerprint), so re-importing the unchanged dump leaves the fix in place; a dump whose text
of that article really changed replaces it, as any newer source does. The next site build
re-renders what an edit changed and deletes the pages of hidden or deleted articles.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.core.errors import InputError
from publisher.store.models import Article, ArticleText, utcnow


def find(session: Session, ref: str) -> Article:
    """The article with id or slug `ref`, or an InputError naming it."""
    found = select(Article).where(or_(Article.id == ref, Article.slug == ref))
    art = session.scalars(found).first()
    if art is None:
        raise InputError(f"no article {ref!r}",
                         "`publisher articles list` shows ids; a slug works too")
    return art


def show(store: Any, ref: str) -> dict[str, Any]:
    """Metadata and every translation slot of one article."""
    with store.session() as s:
        art = find(s, ref)
        slots = {}
        for lang in LANGUAGES:
            t = art.text(lang)
            slots[lang] = None if t is None else {
                "status": "outdated" if t.outdated else t.status, "title": t.title,
                "summary": t.summary, "blocks": len(t.blocks), "updated_at": t.updated_at,
                "ready_at": t.ready_at,
            }
        return {
            "id": art.id, "slug": art.slug, "source_lang": art.source_lang,
            "published_at": art.published_at, "date_stated": art.date_stated,
            "created_at": art.created_at, "updated_at": art.updated_at,
            "categories": list(art.categories or []), "origin": art.origin,
            "hidden": art.hidden, "texts": slots,
        }


def edit(
    store: Any, ref: str, *, title: str | None = None, day: date | None = None,
    lang: str | None = None, tz: str = "Asia/Almaty",
) -> dict[str, Any]:
    """Fix the title of one slot (default: the source text) and/or the article's date.

    A date becomes noon of that day in `tz` (the configured zone), stated from now on.
    """
    if title is None and day is None:
        raise InputError("nothing to change", "give --title and/or --date")
    if title is not None and not " ".join(title.split()):
        raise InputError("--title is empty")
    now = utcnow()
    with store.session() as s:
        art = find(s, ref)
        lang = lang or art.source_lang
        if title is not None:
            slot: ArticleText | None = art.text(lang)
            if slot is None:
                raise InputError(f"article {art.id} has no {lang} text to retitle",
                                 "import a translation first (`publisher translations`)")
            slot.title = " ".join(title.split())
            slot.updated_at = now
        if day is not None:
            art.published_at = datetime.combine(day, time(12), ZoneInfo(tz))
            art.date_stated = True
        art.updated_at = max(now, art.published_at)
        return {"id": art.id, "lang": lang, "title": title, "date": day}


def set_hidden(store: Any, ref: str, hidden: bool) -> str:
    """Take an article off the site, the feeds and future digests, or put it back."""
    with store.session() as s:
        art = find(s, ref)
        # updated_at stays: hiding is not a change of the text feeds would announce.
        art.hidden = hidden
        return art.id


def remove(store: Any, ref: str) -> str:
    """Delete an article and its slots. A re-import of its dump brings it back as new."""
    with store.session() as s:
        art = find(s, ref)
        s.execute(delete(ArticleText).where(ArticleText.article_id == art.id))
        s.execute(delete(Article).where(Article.id == art.id))
        return art.id
