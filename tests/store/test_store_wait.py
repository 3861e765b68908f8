"""Short waits for the web, the default for batches; migration 0003 on an existing store."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text, update

from publisher.core.config import Config
from publisher.store.engine import UNAVAILABLE, Store, _alembic_config, make_engine, open_store
from publisher.store.models import Subscriber
from tests.helpers.web import store_locked


def _lock_wait(store: Store) -> str:
    """The lock wait a plain session has (SQLite busy_timeout, PostgreSQL lock_timeout)."""
    query = "PRAGMA busy_timeout" if store.engine.dialect.name == "sqlite" else "SHOW lock_timeout"
    with store.session() as s:
        return str(s.execute(text(query)).scalar())


def test_a_short_wait_gives_up_quickly_and_leaves_no_trace(
    store: Store, store_cfg: Config
) -> None:
    """wait=0.2 on a locked store fails within seconds; later sessions wait the default again."""
    default = _lock_wait(store)
    assert default in ("30000", "0")
    rename = update(Subscriber).values(name="Renamed")
    with store_locked(store_cfg):
        started = time.monotonic()
        with pytest.raises(UNAVAILABLE), store.session(wait=0.2) as s:
            s.execute(rename)
        assert time.monotonic() - started < 5
    assert _lock_wait(store) == default
    with store.session(wait=0.2) as s:
        s.execute(rename)
    assert _lock_wait(store) == default


def test_migration_0003_keeps_existing_subscribers(store_cfg: Config) -> None:
    """A store made before 0003 opens with its subscribers intact and no preference saved."""
    from alembic import command

    store_cfg.data_dir.mkdir(parents=True)
    engine = make_engine(store_cfg.store_url)
    try:
        command.upgrade(_alembic_config(engine), "0002")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO subscribers (email, name, language, timezone, status, token_id, "
                "created_at, updated_at) VALUES ('old@example.org', 'Old', 'kk', 'Asia/Almaty', "
                "'active', 'abc', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
            ))
    finally:
        engine.dispose()
    store = open_store(store_cfg)
    try:
        with store.session() as s:
            row = s.execute(text(
                "SELECT email, prefs_changed_at FROM subscribers"
            )).one()
        assert tuple(row) == ("old@example.org", None)
    finally:
        store.close()
