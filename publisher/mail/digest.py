"""Digest issues: freezing recipients and per-language article sets, and the web archive copy.

When does an article become *available* to a reader of language L?
- L is its source language: at its base time, max(published_at, created_at) — an article
  imported today with last month's date is new to everyone whose cursor is before today.
- L has a ready translation: when it became ready (never before the base time).
- Otherwise the reader gets a fallback text, held back by the list's `grace_hours` while
  the L translation is pending. The earlier of "ready" and "grace over" wins, so a
  translation finished after the fallback went out never makes the article new again:
  nobody gets an article twice from one list.

A recipient gets what became available after their subscription cursor up to the issue's
`window_end`; the cursor moves to `window_end` only when their delivery is marked sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.core.config import Config, ListConfig
from publisher.i18n.locale import gettext, template_problem
from publisher.store.articles import all_articles
from publisher.store.models import (
    Article,
    Delivery,
    DigestIssue,
    MailingList,
    Subscriber,
    Subscription,
    utcnow,
)
from publisher.subscribers.registry import ensure_list

# Deliveries that still belong to their issue's run; a subscriber with one of these waits.
UNFINISHED = ("queued", "sending", "deferred")
_PAGE = 2000  # subscribers fetched (and deliveries inserted) per round trip


def base_time(article: Article) -> datetime:
    return max(article.published_at, article.created_at)


def available_at(article: Article, lang: str, grace_hours: float) -> datetime:
    """The instant `article` became (or becomes) available to readers of `lang`."""
    base = base_time(article)
    if lang == article.source_lang:
        return base
    slot = article.text(lang)
    held_until = base + timedelta(hours=grace_hours)
    if slot is not None and slot.status == "ready" and slot.ready_at is not None:
        return max(base, min(slot.ready_at, held_until))
    return held_until


def recipient_language(lcfg: ListConfig, language: str) -> str:
    return language if language in lcfg.languages else lcfg.default_language


class _Catalog:
    """Per-language availability of every article, and the sets for each cursor (cached)."""

    def __init__(self, articles: Sequence[Article], lcfg: ListConfig, window_end: datetime):
        newest_first = sorted(articles, key=lambda a: (a.published_at, a.id), reverse=True)
        self.avail: dict[str, list[tuple[str, datetime]]] = {
            lang: [
                (a.id, t)
                for a in newest_first
                if (t := available_at(a, lang, lcfg.grace_hours)) <= window_end
            ]
            for lang in lcfg.languages
        }
        self._cache: dict[tuple[str, datetime], tuple[str, ...]] = {}

    def after(self, lang: str, cursor: datetime) -> tuple[str, ...]:
        key = (lang, cursor)
        found = self._cache.get(key)
        if found is None:
            found = tuple(aid for aid, t in self.avail[lang] if t > cursor)
            self._cache[key] = found
        return found


@dataclass
class IssuePlan:
    """What an issue holds (or would hold, in a dry run)."""

    list_slug: str
    issue_id: int | None = None
    number: int | None = None
    existing: bool = False
    window_end: datetime | None = None
    recipients: dict[str, int] = field(default_factory=dict)  # lang -> recipients
    articles: dict[str, list[str]] = field(default_factory=dict)  # lang -> union of ids

    @property
    def total(self) -> int:
        return sum(self.recipients.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "list": self.list_slug, "issue_id": self.issue_id, "number": self.number,
            "existing": self.existing, "window_end": self.window_end,
            "recipients": self.recipients, "recipients_total": self.total,
            "articles": {k: len(v) for k, v in self.articles.items()},
        }


def _recipients(
    session: Session, mlist: MailingList, window_end: datetime
) -> Iterator[list[tuple[int, str, datetime]]]:
    """Pages of (subscriber id, language, cursor) of active subscribers due a digest.

    Keyset pages keep memory flat for 100k subscribers. Anyone still waiting on an
    unfinished delivery of this list is left out: their cursor has not moved yet, so
    including them would send the same articles twice.
    """
    # Read once, before this issue adds its own rows: a correlated NOT EXISTS per
    # subscriber would scan the deliveries table again for each of them.
    busy = set(session.scalars(
        select(Delivery.subscriber_id)
        .join(DigestIssue, DigestIssue.id == Delivery.issue_id)
        .where(DigestIssue.list_id == mlist.id, Delivery.state.in_(UNFINISHED))
    ))
    last = 0
    while True:
        rows = session.execute(
            select(Subscriber.id, Subscriber.language, Subscription.cursor)
            .join(Subscription, and_(
                Subscription.subscriber_id == Subscriber.id, Subscription.list_id == mlist.id
            ))
            .where(
                Subscriber.id > last,
                Subscriber.status == "active",
                Subscription.status == "active",
                Subscription.created_at <= window_end,
            )
            .order_by(Subscriber.id)
            .limit(_PAGE)
        ).all()
        if not rows:
            return
        yield [(r[0], r[1], r[2]) for r in rows if r[0] not in busy]
        last = rows[-1][0]


def _failed_upto(session: Session, list_id: int) -> dict[int, datetime]:
    """Per subscriber, the cursor their latest permanently failed delivery would have set."""
    return {sub: upto for sub, upto in session.execute(
        select(Delivery.subscriber_id, func.max(Delivery.cursor_to))
        .join(DigestIssue, DigestIssue.id == Delivery.issue_id)
        .where(DigestIssue.list_id == list_id, Delivery.state.in_(("failed", "bounced")))
        .group_by(Delivery.subscriber_id)
    )}


def plan_issue(
    cfg: Config, store: Any, list_slug: str, *, now: datetime | None = None,
    slot: datetime | None = None, dry_run: bool = False,
) -> IssuePlan:
    """Create the list's issue for `slot` (default: now) in one transaction, or reuse it.

    Recipients and their article sets are frozen here; an issue with no recipient is
    not created unless the list says `send_empty`.
    """
    lcfg = cfg.get_list(list_slug)
    now = now or utcnow()
    slot = slot or now
    plan = IssuePlan(list_slug, window_end=now)
    session: Session = store.new_session()
    try:
        mlist = ensure_list(session, list_slug, now)
        found = session.scalar(
            select(DigestIssue).where(DigestIssue.list_id == mlist.id, DigestIssue.slot == slot)
        )
        if found is not None:
            session.rollback()
            return _existing(plan, found)
        number = (session.scalar(
            select(func.max(DigestIssue.number)).where(DigestIssue.list_id == mlist.id)
        ) or 0) + 1
        issue = DigestIssue(
            list_id=mlist.id, number=number, slot=slot, created_at=now, window_end=now,
            articles={}, status="open",
        )
        session.add(issue)
        session.flush()
        catalog = _Catalog(all_articles(session), lcfg, now)
        union: dict[str, set[str]] = {lang: set() for lang in lcfg.languages}
        failed_upto = _failed_upto(session, mlist.id)
        for page in _recipients(session, mlist, now):
            rows = []
            for sub_id, language, cursor in page:
                lang = recipient_language(lcfg, language)
                ids = catalog.after(lang, cursor)
                tried = failed_upto.get(sub_id)
                if ids and tried is not None and tried > cursor and not catalog.after(lang, tried):
                    # Their last delivery of these very articles failed for good (a 5xx):
                    # only something new makes an issue for them, the backlog included.
                    continue
                if not ids and not lcfg.send_empty:
                    continue
                union[lang].update(ids)
                plan.recipients[lang] = plan.recipients.get(lang, 0) + 1
                rows.append({
                    "issue_id": issue.id, "subscriber_id": sub_id, "lang": lang,
                    "article_ids": list(ids), "cursor_to": now, "state": "queued",
                    "attempts": 0, "next_attempt_at": now, "last_reply": "", "message_id": "",
                    "claimed_by": "", "claimed_until": None, "sent_at": None, "updated_at": now,
                })
            if rows and not dry_run:
                session.execute(insert(Delivery), rows)
        order = {lang: [aid for aid, _ in catalog.avail[lang]] for lang in lcfg.languages}
        plan.articles = {
            lang: [aid for aid in order[lang] if aid in ids] for lang, ids in union.items() if ids
        }
        if dry_run or (plan.total == 0 and not lcfg.send_empty):
            session.rollback()
            return plan
        issue.articles = plan.articles
        session.commit()
        plan.issue_id, plan.number = issue.id, number
        return plan
    except IntegrityError:
        # Another process created this slot's issue first: use theirs.
        session.rollback()
        again = session.scalar(
            select(DigestIssue).join(MailingList).where(
                MailingList.slug == list_slug, DigestIssue.slot == slot
            )
        )
        if again is None:
            # A concurrent one-off send numbered its issue first (another slot, the same
            # number). Its recipients are busy now, so this run has nothing to create; the
            # caller goes on to deliver the open issues, that one included.
            return IssuePlan(list_slug=list_slug)
        return _existing(plan, again)
    finally:
        session.close()


def _existing(plan: IssuePlan, issue: DigestIssue) -> IssuePlan:
    plan.issue_id, plan.number, plan.existing = issue.id, issue.number, True
    plan.window_end, plan.articles = issue.window_end, dict(issue.articles)
    return plan


def create_issue(
    cfg: Config, store: Any, list_slug: str, *, now: datetime | None = None,
    slot: datetime | None = None,
) -> int | None:
    """The id of the list's issue for `slot` (created now if needed); None when nothing is new.

    Also writes the issue's web archive copy per language.
    """
    plan = plan_issue(cfg, store, list_slug, now=now, slot=slot)
    if plan.issue_id is not None and not plan.existing:
        from publisher.mail.message import write_archive

        write_archive(cfg, store, plan.issue_id)
    return plan.issue_id


def close_finished(session: Session, issue_ids: Sequence[int]) -> None:
    """Mark issues `done` once none of their deliveries is unfinished."""
    for issue_id in issue_ids:
        pending = session.scalar(
            select(func.count()).select_from(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.state.in_(UNFINISHED))
        )
        if not pending:
            issue = session.get(DigestIssue, issue_id)
            if issue is not None and issue.status != "done":
                issue.status = "done"


def open_issues(store: Any, list_slug: str) -> list[int]:
    """Issues of the list that still have deliveries to make, oldest first."""
    with store.session() as s:
        return list(s.scalars(
            select(DigestIssue.id).join(MailingList)
            .where(MailingList.slug == list_slug, DigestIssue.status == "open")
            .order_by(DigestIssue.number)
        ).all())


@dataclass(frozen=True)
class NextIssue:
    """What the list's next digest in one language would hold for a new reader."""

    list_slug: str
    lang: str
    number: int
    window_end: datetime
    articles: list[Article]


def next_issue(
    cfg: Config, store: Any, list_slug: str, lang: str, *, now: datetime | None = None
) -> NextIssue:
    """Articles that became available in `lang` since the last issue (all, before the first).

    Read-only: nothing is stored, no cursor moves.
    """
    lcfg = cfg.get_list(list_slug)
    now = now or utcnow()
    with store.session() as s:
        last = s.execute(
            select(DigestIssue.number, DigestIssue.window_end).join(MailingList)
            .where(MailingList.slug == list_slug).order_by(DigestIssue.number.desc()).limit(1)
        ).first()
        start = datetime.min.replace(tzinfo=now.tzinfo)
        number, since = (last[0] + 1, last[1]) if last else (1, start)
        arts = all_articles(s)
        catalog = _Catalog(arts, lcfg if lang in lcfg.languages else _with_lang(lcfg, lang), now)
        by_id = {a.id: a for a in arts}
        chosen = [by_id[i] for i in catalog.after(lang, since)]
    # Texts load eagerly and sessions do not expire on commit: the articles stay readable.
    return NextIssue(list_slug, lang, number, now, chosen)


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    articles: int

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "articles": self.articles, "text": self.text,
                "html": self.html}


def preview(
    cfg: Config, store: Any, list_slug: str, lang: str, *, now: datetime | None = None
) -> Preview:
    """Subject, HTML and text of the list's next digest in `lang` as a new reader would get
    it, unsent, with placeholder links."""
    from publisher.mail.message import render_bodies, subject

    lcfg = cfg.get_list(list_slug)
    nxt = next_issue(cfg, store, list_slug, lang, now=now)
    base = cfg.site.base_url.rstrip("/")
    try:
        html_body, text_body = render_bodies(
            cfg, lcfg, nxt.number, nxt.window_end, lang, nxt.articles,
            greeting=gettext(lang, "Hello!"),
            view_url=f"{base}/{lang}/digests/{list_slug}/{nxt.number}/",
            unsubscribe_url=f"{base}/unsubscribe/preview",
            preferences_url=f"{base}/preferences/preview",
        )
    except TemplateError as exc:
        raise template_problem(exc, cfg.template_dir) from None
    return Preview(subject(lcfg, nxt.number, nxt.window_end, lang), html_body, text_body,
                   len(nxt.articles))


def _with_lang(lcfg: ListConfig, lang: str) -> ListConfig:
    return replace(lcfg, languages=[*lcfg.languages, lang])
