"""One active scheduler per store: a lease row taken atomically and renewed by heartbeat.

The row (name, holder, expires_at, heartbeat_at) is taken with one conditional UPDATE that
succeeds only when the lease has expired or is already ours, so two processes can never
both believe they hold it (SQLite serialises writers; PostgreSQL re-checks the WHERE clause
after the row lock). On PostgreSQL the database's clock is used, so machines sharing the
store need not agree on the time; SQLite is one machine, whose clock is used.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from publisher.core.clock import Clock
from publisher.store.engine import Store
from publisher.store.models import Lease as LeaseRow

SCHEDULER = "scheduler"
# Core statements on the table (the ORM's bulk paths do not report rowcount).
_TABLE = cast(Table, LeaseRow.__table__)


def make_holder() -> str:
    """host:pid:random, unique per process start (a restarted pid is another holder)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    expires_at: datetime
    heartbeat_at: datetime
    active: bool  # not expired at the time of reading

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "holder": self.holder, "active": self.active,
            "heartbeat_at": self.heartbeat_at, "expires_at": self.expires_at,
        }


def _db_now(session: Session, clock: Clock | None) -> datetime:
    if clock is not None:
        return clock()
    if session.get_bind().dialect.name == "postgresql":
        value: datetime = session.execute(select(func.now())).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


class Lease:
    """`acquire()` takes or renews the lease; call it at least every ttl/3 while acting."""

    def __init__(
        self, store: Store, *, name: str = SCHEDULER, holder: str | None = None,
        ttl: float = 30.0, clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.holder = holder or make_holder()
        self.ttl = timedelta(seconds=ttl)
        self.clock = clock

    def acquire(self) -> bool:
        """True when this holder has the lease for the next ttl seconds."""
        with self.store.session() as s:
            now = _db_now(s, self.clock)
            values = {"holder": self.holder, "expires_at": now + self.ttl, "heartbeat_at": now}
            taken = s.execute(
                update(_TABLE)
                .where(
                    _TABLE.c.name == self.name,
                    or_(_TABLE.c.expires_at < now, _TABLE.c.holder == self.holder),
                )
                .values(**values)
            )
            if cast(Any, taken).rowcount == 1:
                return True
            dialect = s.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            created = s.execute(
                insert(_TABLE).values(name=self.name, **values)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(_TABLE.c.name)
            ).scalar_one_or_none()
            return created is not None

    def release(self) -> None:
        """Give the lease up now (clean shutdown), so a standby need not wait for expiry."""
        with self.store.session() as s:
            now = _db_now(s, self.clock)
            s.execute(
                update(_TABLE)
                .where(_TABLE.c.name == self.name, _TABLE.c.holder == self.holder)
                .values(expires_at=now)
            )


def current(store: Store, name: str = SCHEDULER, clock: Clock | None = None) -> LeaseInfo | None:
    """The lease row as stored, with whether it is still in force."""
    with store.session() as s:
        now = _db_now(s, clock)
        row = s.get(LeaseRow, name)
        if row is None:
            return None
        active = row.expires_at >= now
        return LeaseInfo(row.name, row.holder, row.expires_at, row.heartbeat_at, active)
