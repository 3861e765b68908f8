"""Issue history for the admin: what each issue reached, what failed and why, what waits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from publisher.core.errors import InputError
from publisher.store.models import Delivery, DigestIssue, MailingList, Subscriber, utcnow

STATES = ("queued", "sending", "sent", "deferred", "failed", "bounced", "cancelled")


def issues(store: Any, list_slug: str | None = None) -> list[dict[str, Any]]:
    """Every issue, newest first, with its delivery counts and its next retry."""
    with store.session() as s:
        q = (select(DigestIssue.id, MailingList.slug, DigestIssue.number,
                    DigestIssue.created_at, DigestIssue.status)
             .join(MailingList, MailingList.id == DigestIssue.list_id)
             .order_by(DigestIssue.created_at.desc(), DigestIssue.id.desc()))
        if list_slug is not None:
            q = q.where(MailingList.slug == list_slug)
        rows = s.execute(q).all()
        ids = [r[0] for r in rows]
        counts: dict[int, dict[str, int]] = {i: {} for i in ids}
        retry: dict[int, datetime] = {}
        if ids:
            for issue_id, state, n in s.execute(
                select(Delivery.issue_id, Delivery.state, func.count())
                .where(Delivery.issue_id.in_(ids)).group_by(Delivery.issue_id, Delivery.state)
            ):
                counts[issue_id][state] = n
            retry = dict(s.execute(
                select(Delivery.issue_id, func.min(Delivery.next_attempt_at))
                .where(Delivery.issue_id.in_(ids), Delivery.state == "deferred")
                .group_by(Delivery.issue_id)
            ).all())
    return [{
        "id": r[0], "list": r[1], "number": r[2], "created_at": r[3], "status": r[4],
        "recipients": sum(counts[r[0]].values()),
        **{state: counts[r[0]].get(state, 0) for state in STATES},
        "next_retry_at": retry.get(r[0]),
    } for r in rows]


def issue(store: Any, issue_id: int) -> dict[str, Any]:
    """One issue: counts per language and state, and every failed address with its reason."""
    with store.session() as s:
        found = s.execute(
            select(DigestIssue, MailingList.slug)
            .join(MailingList, MailingList.id == DigestIssue.list_id)
            .where(DigestIssue.id == issue_id)
        ).first()
        if found is None:
            raise InputError(f"no issue with id {issue_id}",
                             "`publisher digest list` shows the issues and their ids")
        row, slug = found
        per_lang: dict[str, dict[str, int]] = {}
        for lang, state, n in s.execute(
            select(Delivery.lang, Delivery.state, func.count())
            .where(Delivery.issue_id == issue_id).group_by(Delivery.lang, Delivery.state)
        ):
            per_lang.setdefault(lang, {})[state] = n
        failed = [
            {"email": email, "state": state, "attempts": attempts, "reason": reply,
             "next_attempt_at": nxt if state == "deferred" else None}
            for email, state, attempts, reply, nxt in s.execute(
                select(Subscriber.email, Delivery.state, Delivery.attempts,
                       Delivery.last_reply, Delivery.next_attempt_at)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.issue_id == issue_id,
                       Delivery.state.in_(("failed", "bounced", "deferred")))
                .order_by(Delivery.state, Subscriber.email)
            )
        ]
        return {
            "id": row.id, "list": slug, "number": row.number, "created_at": row.created_at,
            "status": row.status, "articles": {k: len(v) for k, v in row.articles.items()},
            "languages": per_lang, "recipients": sum(sum(v.values()) for v in per_lang.values()),
            "problems": failed,
        }


def pending_retries(store: Any, list_slug: str | None = None) -> dict[str, Any]:
    """Deferred deliveries (of one list, or all): how many, and when the first one is due."""
    with store.session() as s:
        q = (select(func.count(), func.min(Delivery.next_attempt_at))
             .join(DigestIssue, DigestIssue.id == Delivery.issue_id)
             .join(MailingList, MailingList.id == DigestIssue.list_id)
             .where(Delivery.state == "deferred"))
        if list_slug is not None:
            q = q.where(MailingList.slug == list_slug)
        n, first = s.execute(q).one()
    return {"deferred": int(n or 0), "next_retry_at": first}


def retry_now(store: Any, list_slug: str) -> int:
    """Make the list's deferred deliveries due at once (after a relay outage is over)."""
    now = utcnow()
    with store.session() as s:
        ids = select(DigestIssue.id).join(MailingList).where(MailingList.slug == list_slug)
        result = s.execute(
            update(Delivery)
            .where(Delivery.state == "deferred", Delivery.issue_id.in_(ids.scalar_subquery()))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)
