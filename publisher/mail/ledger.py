"""The delivery ledger in the store: claim due deliveries, record each answer durably.

- A delivery is marked `sent` right after the server's 250, together with its
  subscription cursor, by the ledger writer's next commit. The writer never waits to fill
  a batch: it commits whatever answers arrived while the previous commit ran (group
  commit), so a mark is as early as one commit per message would make it, and SQLite
  keeps up with the SMTP pool. After a crash only unmarked rows are sent again.
- 4xx (or no connection) -> `deferred`, retried with exponential backoff until
  [smtp] retry_lifetime_hours after the issue was created, then `failed`.
- 5xx -> `failed`; a hard bounce (5.1.x) -> `bounced` and the subscriber too.
- Connection lost after DATA -> logged as possibly delivered, retried once (same
  Message-ID, so the receiver can drop a duplicate); lost again -> `failed`.
- A subscriber or subscription that is no longer active when its row is claimed ->
  `cancelled`, never sent.
- Claims are per batch, with a lease ([worker] claim_seconds) renewed while the claiming
  process lives. PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED and the claim in the same
  transaction, so any number of workers on any number of machines take disjoint batches.
  SQLite: one UPDATE whose subquery picks the due rows (SQLite has one writer, so the
  statement is the claim). A batch whose lease ran out is due again; only its rows not
  marked sent are sent again.
- Every mark names its claim: a worker that stalled past its lease while another took the
  row over records nothing (the row's owner does), and logs that it lost the row.
- Claims carry host:pid so a rerun on the same host takes over at once the rows of a
  process that died; on another host they wait for the lease to expire.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, union_all, update

from publisher.core.config import Config
from publisher.core.processes import alive
from publisher.mail.transport import Outcome
from publisher.store.models import (
    Delivery,
    DigestIssue,
    MailingList,
    Subscriber,
    Subscription,
    utcnow,
)

# The ledger logs as the delivery run it belongs to: one logger for the whole send.
log = logging.getLogger("publisher.delivery")

BACKOFF_FIRST = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=4)
POSSIBLY = "possibly delivered"
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]
_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Job:
    id: int
    issue_id: int
    list_id: int
    list_slug: str
    number: int
    window_end: datetime
    issue_created: datetime
    lang: str
    article_ids: tuple[str, ...]
    cursor_to: datetime
    attempts: int
    last_reply: str
    subscriber_id: int
    email: str
    name: str
    token_id: str
    timezone: str
    claimer: str  # the claim this job was taken under; only it may record the answer


def claimer_id() -> str:
    """host:pid:random, the prefix of a process's claims (a batch number follows it).

    claimed_by is 64 characters: host:pid:random:batch must fit.
    """
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_lease(cfg: Config) -> timedelta:
    return timedelta(seconds=max(cfg.worker.claim_seconds, 1.0))


def _due(now: datetime) -> Any:
    return or_(
        Delivery.state == "queued",
        and_(Delivery.state == "deferred", Delivery.next_attempt_at <= now),
        and_(Delivery.state == "sending", Delivery.claimed_until < now),
    )


def release_dead_claims(store: Any) -> int:
    """Rows claimed by a process of this host that no longer runs become due again."""
    host, me = socket.gethostname()[:32], os.getpid()
    released = 0
    with store.session() as s:
        owners = s.scalars(
            select(Delivery.claimed_by).where(Delivery.state == "sending").distinct()
        ).all()
    for owner in owners:
        o_host, _, rest = owner.partition(":")
        pid_text = rest.split(":", 1)[0]
        if o_host != host or not pid_text.isdigit() or int(pid_text) == me:
            continue
        if alive(int(pid_text)):
            continue
        # One short transaction per dead owner: other workers write between them.
        with store.session() as s:
            result = s.execute(
                update(Delivery).where(Delivery.state == "sending", Delivery.claimed_by == owner)
                .values(state="queued", claimed_by="", claimed_until=None)
            )
        released += int(getattr(result, "rowcount", 0) or 0)
    if released:
        log.warning("took over %d delivery(ies) claimed by a process that died", released)
    return released


def count_due(store: Any, issue_id: int | None = None, now: datetime | None = None) -> int:
    now = now or utcnow()
    with store.session() as s:
        q = select(func.count()).select_from(Delivery).where(_due(now))
        if issue_id is not None:
            q = q.where(Delivery.issue_id == issue_id)
        return int(s.scalar(q) or 0)


def _due_branches(now: datetime, issue_id: int | None) -> list[Any]:
    """The three kinds of due row, each in the order of the index on (state, next_attempt_at).

    One query with OR would take every due row and sort them all for each batch, so that a
    claim on a 100,000-row issue costs tens of milliseconds, inside SQLite's write lock or
    PostgreSQL's row locks, and two workers mostly wait for each other's claims. Each branch
    here reads its first rows straight from the index instead; within an issue queued rows
    share next_attempt_at, so they still come out in id order.
    """
    branches = [  # rows that were due earliest first: a dead worker's, retries, new ones
        select(Delivery.id).where(Delivery.state == "sending", Delivery.claimed_until < now)
        .order_by(Delivery.id),
        select(Delivery.id).where(Delivery.state == "deferred", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id),
        select(Delivery.id).where(Delivery.state == "queued")
        .order_by(Delivery.next_attempt_at, Delivery.id),
    ]
    if issue_id is not None:
        branches = [q.where(Delivery.issue_id == issue_id) for q in branches]
    return branches


def _claim(
    store: Any, claimer: str, limit: int, issue_id: int | None, lease: timedelta
) -> tuple[list[Job], int]:
    """Claim up to `limit` due deliveries; returns (jobs to send, rows cancelled)."""
    now = utcnow()
    branches = _due_branches(now, issue_id)
    with store.session() as s:
        claim = dict(state="sending", claimed_by=claimer, claimed_until=now + lease)
        if s.get_bind().dialect.name == "postgresql":
            # Workers skip each other's locked rows instead of queueing behind them; the
            # lock lasts until the claim below commits, so no row is taken twice.
            ids: list[int] = []
            for q in branches:
                if len(ids) < limit:
                    ids += s.scalars(
                        q.limit(limit - len(ids)).with_for_update(skip_locked=True)
                    ).all()
            if not ids:
                return [], 0
            s.execute(
                update(Delivery).where(Delivery.id.in_(ids)).values(**claim)
                .execution_options(synchronize_session=False)
            )
        else:
            # One writer at a time: this single statement picks and claims atomically.
            firsts = union_all(*(select(q.limit(limit).subquery().c.id) for q in branches))
            picked = select(firsts.subquery().c.id).order_by("id").limit(limit)
            taken = s.execute(
                update(Delivery).where(Delivery.id.in_(picked.scalar_subquery()))
                .values(**claim).execution_options(synchronize_session=False)
            )
            if not getattr(taken, "rowcount", 0):
                return [], 0
            ids = list(s.scalars(
                select(Delivery.id).where(Delivery.state == "sending",
                                          Delivery.claimed_by == claimer)
            ).all())
        rows = s.execute(
            select(
                Delivery.id, Delivery.issue_id, DigestIssue.list_id, MailingList.slug,
                DigestIssue.number, DigestIssue.window_end, DigestIssue.created_at,
                Delivery.lang, Delivery.article_ids, Delivery.cursor_to, Delivery.last_reply,
                Delivery.attempts, Subscriber.id, Subscriber.email, Subscriber.name,
                Subscriber.token_id, Subscriber.status, Subscription.status,
                Subscriber.timezone,
            )
            .join(DigestIssue, DigestIssue.id == Delivery.issue_id)
            .join(MailingList, MailingList.id == DigestIssue.list_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .outerjoin(Subscription, and_(
                Subscription.subscriber_id == Subscriber.id,
                Subscription.list_id == DigestIssue.list_id,
            ))
            .where(Delivery.id.in_(ids), Delivery.claimed_by == claimer)
            .order_by(Delivery.id)
        ).all()
        jobs, inactive = [], []
        for r in rows:
            if r[16] != "active" or r[17] != "active":
                inactive.append(r[0])
                continue
            jobs.append(Job(
                id=r[0], issue_id=r[1], list_id=r[2], list_slug=r[3], number=r[4],
                window_end=r[5], issue_created=r[6], lang=r[7], article_ids=tuple(r[8]),
                cursor_to=r[9], attempts=r[11], last_reply=r[10],
                subscriber_id=r[12], email=r[13], name=r[14], token_id=r[15],
                timezone=r[18], claimer=claimer,
            ))
        if inactive:
            s.execute(
                update(Delivery).where(Delivery.id.in_(inactive))
                .values(state="cancelled", claimed_by="", claimed_until=None, updated_at=now,
                        last_reply="not sent: no longer subscribed")
                .execution_options(synchronize_session=False)
            )
        return jobs, len(inactive)


def renew_claims(store: Any, prefix: str, lease: timedelta) -> int:
    """Extend the lease of every row still claimed by claimers starting with `prefix`."""
    with store.session() as s:
        result = s.execute(
            update(Delivery)
            .where(Delivery.state == "sending",
                   Delivery.claimed_by.startswith(prefix + ":", autoescape=True))
            .values(claimed_until=utcnow() + lease)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _backoff(attempts: int) -> timedelta:
    step: timedelta = BACKOFF_FIRST * (2 ** max(0, attempts - 1))
    return min(step, BACKOFF_MAX)


_MARK = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("d_id"), _DELIVERIES.c.state == "sending",
        _DELIVERIES.c.claimed_by == bindparam("d_claimer"),
    )
    .values(
        state=bindparam("d_state"), attempts=_DELIVERIES.c.attempts + 1,
        last_reply=bindparam("d_reply"), message_id=bindparam("d_mid"),
        next_attempt_at=bindparam("d_next"), sent_at=bindparam("d_sent"),
        claimed_by="", claimed_until=None, updated_at=bindparam("d_now"),
    )
)
_CURSOR = (
    update(_SUBSCRIPTIONS)
    .where(
        _SUBSCRIPTIONS.c.subscriber_id == bindparam("s_sub"),
        _SUBSCRIPTIONS.c.list_id == bindparam("s_list"),
        _SUBSCRIPTIONS.c.cursor < bindparam("s_cursor"),
    )
    .values(cursor=bindparam("s_cursor"), updated_at=bindparam("s_now"))
)
_BOUNCE = (
    update(_SUBSCRIBERS)
    .where(_SUBSCRIBERS.c.id == bindparam("b_id"), _SUBSCRIBERS.c.status == "active")
    .values(status="bounced", updated_at=bindparam("b_now"))
)


def _verdict(cfg: Config, job: Job, outcome: Outcome, now: datetime) -> tuple[str, str, datetime]:
    """(state, reply to record, next attempt) for one answer."""
    reply = outcome.describe()
    if outcome.kind == "accepted":
        return "sent", reply, now
    if outcome.kind == "permanent":
        return ("bounced" if outcome.hard_bounce else "failed"), reply, now
    if outcome.kind == "dropped":
        if job.last_reply.startswith(POSSIBLY):
            return "failed", f"{POSSIBLY} twice, not retried again: {reply}", now
        return "deferred", f"{POSSIBLY}: {reply}", now
    lifetime_end = job.issue_created + timedelta(hours=cfg.smtp.retry_lifetime_hours)
    if now >= lifetime_end:
        return "failed", f"gave up after {cfg.smtp.retry_lifetime_hours:g} h: {reply}", now
    return "deferred", reply, now + _backoff(job.attempts + 1)


@dataclass(frozen=True)
class _Answer:
    job: Job
    mid: str
    state: str
    reply: str
    next_at: datetime


class _LeaseLost(Exception):
    """A mark matched fewer rows than answers: some row is another claim's now."""


def _record(
    cfg: Config, store: Any, results: list[tuple[Job, Outcome, str]]
) -> tuple[Counter[str], list[tuple[int, str]]]:
    """One transaction for the answers that arrived since the previous commit.

    Returns the tally and (delivery id, state) of each answer recorded. An answer to a row
    whose lease ran out and that another claim took over is not recorded: that claim owns
    the row, and its own answer is the one that counts.
    """
    now = utcnow()
    tally, answers = Counter[str](), []
    for job, outcome, mid in results:
        state, reply, next_at = _verdict(cfg, job, outcome, now)
        answers.append(_Answer(job, mid, state, reply, next_at))
        if outcome.kind == "dropped":
            tally["possibly_delivered"] += 1
            log.warning("%s <%s>: %s", mid, job.email, reply)
    try:
        return tally, _write(store, answers, now, one_by_one=False)
    except _LeaseLost:  # rolled back: mark row by row to tell which rows are still ours
        return tally, _write(store, answers, now, one_by_one=True)


def _write(
    store: Any, answers: list[_Answer], now: datetime, *, one_by_one: bool
) -> list[tuple[int, str]]:
    marks = [{
        "d_id": a.job.id, "d_claimer": a.job.claimer, "d_state": a.state, "d_reply": a.reply,
        "d_mid": a.mid, "d_next": a.next_at, "d_sent": now if a.state == "sent" else None,
        "d_now": now,
    } for a in answers]
    with store.session() as s:
        conn = s.connection()
        if not one_by_one:
            # The common case, one statement: every mark matched its row.
            if conn.execute(_MARK, marks).rowcount != len(marks):
                raise _LeaseLost
            kept = answers
        else:
            kept = []
            for a, mark in zip(answers, marks, strict=True):
                if conn.execute(_MARK, mark).rowcount:
                    kept.append(a)
                    continue
                log.warning("delivery %d <%s>: answer %r came after claim %s ran out; another "
                            "claim owns the row now and records its own answer",
                            a.job.id, a.job.email, a.state, a.job.claimer)
        cursors = [{"s_sub": a.job.subscriber_id, "s_list": a.job.list_id,
                    "s_cursor": a.job.cursor_to, "s_now": now} for a in kept if a.state == "sent"]
        bounces = [{"b_id": a.job.subscriber_id, "b_now": now}
                   for a in kept if a.state == "bounced"]
        if cursors:
            conn.execute(_CURSOR, cursors)
        if bounces:
            conn.execute(_BOUNCE, bounces)
    return [(a.job.id, a.state) for a in kept]


def _release(store: Any, jobs: list[Job]) -> None:
    """Give claimed-but-unsent rows back (a stop request arrived before they were sent)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for j in jobs:
        # A row with earlier attempts came from `deferred`: keep its backoff history.
        state = "deferred" if j.attempts > 0 else "queued"
        groups.setdefault((state, j.claimer), []).append(j.id)
    if not groups:
        return
    with store.session() as s:
        for (state, claimer), ids in groups.items():
            # Only rows still ours: one taken over after our lease ran out is not ours to free.
            s.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state == "sending",
                       Delivery.claimed_by == claimer)
                .values(state=state, claimed_by="", claimed_until=None)
                .execution_options(synchronize_session=False)
            )
