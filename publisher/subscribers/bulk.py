"""Writing checked subscriber rows in chunks: one lookup per table, executemany writes.

Each chunk of CHUNK rows is its own short transaction, so the web's writes (one-click
unsubscribes) get the store between chunks instead of waiting for a whole file.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import DateTime, Integer, String, Table, and_, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from publisher.core.console import Progress
from publisher.core.errors import PublisherError
from publisher.store.engine import Store
from publisher.store.models import MailingList, Subscriber, Subscription, utcnow
from publisher.subscribers.registry import SUPPRESSED, ensure_list
from publisher.subscribers.report import CsvReport, Row, RowNote

# Rows per transaction: big enough that per-statement costs vanish, small enough that a
# chunk holds SQLite's write lock for a few tens of milliseconds.
CHUNK = 2000

_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
_SUBSCRIPTIONS: Table = Subscription.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class _Target:
    """Where a chunk goes, with its statements built once per import."""

    list_id: int
    list_created: datetime
    slug: str
    overwrite: bool
    add_subscribers: Any
    add_subscriptions: Any
    update_open: Any
    update_any: Any
    update_name: Any
    tokens: Iterator[str]


def _target(session: Session, mlist: MailingList, now: datetime, overwrite: bool) -> _Target:
    """The import's statements, with `now` bound once as a constant.

    Run through the column types row by row, the timestamps alone cost seconds on a large
    list; converted once here, they go to the driver as they are.
    """
    dialect = session.get_bind().dialect

    def const(key: str, column: Any, value: Any) -> Any:
        convert = column.type.bind_processor(dialect)
        stored = convert(value) if convert else value
        # A type the driver takes as it is (NullType would be replaced by the column's).
        types: dict[type, TypeEngine[Any]] = {str: String(), int: Integer()}
        plain = types.get(type(stored), DateTime(timezone=True))
        if plain.bind_processor(dialect) is not None:
            return bindparam(key, value=value, type_=column.type)
        return bindparam(key, value=stored, type_=plain)

    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    s, m = _SUBSCRIBERS.c, _SUBSCRIPTIONS.c
    stamp = const("c_now", s.created_at, now)
    # ON CONFLICT DO NOTHING: an address or subscription the web added meanwhile stays as is.
    add_subscribers = insert(_SUBSCRIBERS).values(
        status=const("c_active", s.status, "active"), created_at=stamp, updated_at=stamp,
        confirmed_at=stamp,
    ).on_conflict_do_nothing()
    add_subscriptions = insert(_SUBSCRIPTIONS).values(
        list_id=const("c_list", m.list_id, mlist.id), status=const("c_active", m.status, "active"),
        cursor=stamp, created_at=stamp, updated_at=stamp,
    ).on_conflict_do_nothing()
    full = {"name": bindparam("b_name"), "language": bindparam("b_language"),
            "timezone": bindparam("b_timezone"), "updated_at": stamp}
    by_id = s.id == bindparam("b_id")
    return _Target(
        list_id=mlist.id, list_created=mlist.created_at, slug=mlist.slug, overwrite=overwrite,
        add_subscribers=add_subscribers, add_subscriptions=add_subscriptions,
        # Checked again at write time: a subscriber who saves the preferences page while the
        # import runs keeps the choice.
        update_open=update(_SUBSCRIBERS).where(and_(by_id, s.prefs_changed_at.is_(None)))
        .values(**full),
        update_any=update(_SUBSCRIBERS).where(by_id).values(**full),
        # The name is the office's field: it changes even when the preferences are theirs.
        update_name=update(_SUBSCRIBERS).where(by_id).values(name=bindparam("b_name"),
                                                             updated_at=stamp),
        tokens=_token_ids(),
    )


def _token_ids() -> Iterator[str]:
    """Unique opaque ids in ascending order: random ones would land all over the token_id
    index, so that every chunk rewrote most of its pages (seconds of I/O per 100,000 rows).
    A random prefix per import and a random tail keep them unguessable all the same."""
    prefix = secrets.token_hex(6)
    for seq in itertools.count():
        yield f"{prefix}{seq:010x}{secrets.token_hex(5)}"


_S = _SUBSCRIBERS.c


def _write_chunk(session: Session, chunk: Sequence[Row], to: _Target, report: CsvReport) -> None:
    """One chunk: one SELECT per table, then executemany INSERTs and UPDATEs.

    Existing rows are never given another status: an import adds subscriptions that do not
    exist yet and changes names, languages and time zones, so a suppressed address or a
    left list cannot come back, whatever the web does between the SELECT and the writes.
    """
    found = {
        r.email: r
        for r in session.execute(
            select(_S.id, _S.email, _S.name, _S.language, _S.timezone, _S.status,
                   _S.prefs_changed_at)
            .where(_S.email.in_([row.email for row in chunk]))
        )
    }
    links: dict[int, str] = {}
    if found:
        links = {
            sub_id: status
            for sub_id, status in session.execute(
                select(Subscription.subscriber_id, Subscription.status).where(
                    Subscription.list_id == to.list_id,
                    Subscription.subscriber_id.in_([r.id for r in found.values()]),
                )
            )
        }
    fresh: list[dict[str, Any]] = []
    open_updates: list[dict[str, Any]] = []
    any_updates: list[dict[str, Any]] = []
    name_updates: list[dict[str, Any]] = []
    join: list[int] = []
    for row in chunk:
        sub = found.get(row.email)
        if sub is None:
            fresh.append({
                "email": row.email, "name": row.name, "language": row.language,
                "timezone": row.timezone, "token_id": next(to.tokens),
            })
            continue
        if sub.status in SUPPRESSED:
            report.skipped.append(RowNote(row.line, row.email, f"address is {sub.status}"))
            continue
        link = links.get(sub.id)
        if link == "unsubscribed":
            # Left this list (one-click or preferences): only the subscriber may come back.
            why = f"address is unsubscribed from {to.slug}"
            report.skipped.append(RowNote(row.line, row.email, why))
            continue
        name = row.name or sub.name
        language = row.language if row.language_given else sub.language
        zone = row.timezone if row.timezone_given else sub.timezone
        owned = sub.prefs_changed_at is not None and not to.overwrite
        kept: list[str] = []
        joins = link is None
        if owned:
            if language != sub.language:
                kept.append(f"language {sub.language}")
                language = sub.language
            if zone != sub.timezone:
                kept.append(f"time zone {sub.timezone}")
                zone = sub.timezone
            # Lists they chose on the page: a list created since then was never offered.
            if joins and sub.prefs_changed_at >= to.list_created:
                kept.append(f"lists (not added to {to.slug})")
                joins = False
        params = {"b_id": sub.id, "b_name": name, "b_language": language, "b_timezone": zone}
        changed = (name, language, zone) != (sub.name, sub.language, sub.timezone)
        if changed:
            if owned:
                name_updates.append(params)
            elif to.overwrite:
                any_updates.append(params)
            else:
                open_updates.append(params)
        if joins:
            join.append(sub.id)
        if kept:
            reason = "changed by the subscriber, kept: " + ", ".join(kept)
            report.kept.append(RowNote(row.line, row.email, reason))
        elif changed or joins:
            report.updated += 1
        else:
            report.unchanged += 1
    if fresh:
        session.execute(to.add_subscribers, fresh)
        tokens = {r["email"]: r["token_id"] for r in fresh}
        for sub_id, email, token_id in session.execute(
            select(_S.id, _S.email, _S.token_id).where(_S.email.in_(list(tokens)))
        ):
            join.append(sub_id)
            if token_id == tokens[email]:
                report.added += 1
            else:  # the web added this address between the SELECT and the INSERT
                report.updated += 1
    for statement, params_list in (
        (to.update_open, open_updates), (to.update_any, any_updates),
        (to.update_name, name_updates),
    ):
        if params_list:
            session.execute(statement, params_list)
    if join:
        session.execute(to.add_subscriptions, [{"subscriber_id": sub_id} for sub_id in join])


def write_rows(
    store: Store, report: CsvReport, rows: Sequence[Row], *, now: datetime | None = None,
    overwrite_preferences: bool = False, progress: Progress | None = None,
    chunk_size: int = CHUNK,
) -> CsvReport:
    """Store checked rows, `chunk_size` per transaction; the report's counts are filled in.

    A failure part-way leaves the chunks before it stored; the error says how far it got,
    and running the same import again finishes it (a second run changes nothing twice).
    """
    if not rows:
        return report
    now = now or utcnow()
    # In address order each chunk touches one narrow band of the email index instead of
    # pages all over it; the notes are put back in line order at the end.
    rows = sorted(rows, key=attrgetter("email"))
    with store.session() as s:
        target = _target(s, ensure_list(s, report.list_slug, now), now, overwrite_preferences)
    done = 0
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        try:
            with store.session() as s:
                _write_chunk(s, chunk, target, report)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise PublisherError(
                f"{report.path}: stopped after {done} of {len(rows)} addresses: {reason}",
                "the addresses before it are stored; run the same import again to finish",
            ) from None
        done += len(chunk)
        if progress is not None:
            progress.advance(len(chunk))
    for notes in (report.skipped, report.kept):
        notes.sort(key=attrgetter("line"))
    return report
