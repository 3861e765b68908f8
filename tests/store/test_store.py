"""The store: migrations on first use, WAL, migrations matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from publisher.core.config import Config
from publisher.store.engine import Store, open_store
from publisher.store.models import Base


def test_first_open_creates_every_table(store: Store) -> None:
    """Opening an empty store applies the migrations; no manual step exists."""
    assert {"articles", "article_texts", "subscribers", "deliveries"} <= set(store.tables())


def test_migrations_match_the_models(store: Store) -> None:
    """A model changed without a migration is caught here."""
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    assert diff == []


def test_sqlite_uses_wal(cfg: Config) -> None:
    """The embedded SQLite store runs in WAL mode so readers never block the writer."""
    store = open_store(cfg)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()
    assert open_store(cfg).tables() == store.tables()  # reopening is a no-op
