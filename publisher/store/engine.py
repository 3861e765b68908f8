"""Opening the store: engine, sessions, SQLite pragmas and automatic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from publisher.core.config import Config
from publisher.core.errors import PublisherError
from publisher.store.parsed import to_json

MIGRATIONS = Path(__file__).with_name("migrations")
# How long a write waits for another writer's lock before giving up. Batch work (imports,
# sends) may wait this long; a web request asks for less with `Store.session(wait=...)`.
BUSY_TIMEOUT_MS = 30_000
# What a store that is locked by another writer, unreachable or out of connections raises.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
_WAIT_KEY = "publisher_busy_timeout_ms"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (site build, web) run while an import or a send writes.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_restore_wait(dbapi_conn: Any, record: Any) -> None:
    """A connection lent to a short-waiting session goes back to the pool with the default."""
    if record.info.pop(_WAIT_KEY, None) is None or dbapi_conn is None:
        return
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


class RawJSON(str):
    """A value that is JSON text already: written to a JSON column as it is."""


def _json(value: Any) -> str:
    """JSON columns as UTF-8 text: Kazakh and Russian bodies stored as letters are a third
    the size of their \\u escapes, and quicker to write (the values read back the same)."""
    if isinstance(value, RawJSON):
        return str(value)
    return to_json(value)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                               json_serializer=_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _sqlite_restore_wait)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, json_serializer=_json)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig

    acfg = AlembicConfig()
    acfg.set_main_option("script_location", str(MIGRATIONS))
    acfg.attributes["engine"] = engine
    return acfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; run on every open)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    acfg = _alembic_config(engine)
    head = ScriptDirectory.from_config(acfg).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        command.upgrade(acfg, "head")


class Store:
    """The open store: `with store.session() as s:` is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self, *, wait: float | None = None) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception.

        `wait` bounds, in seconds, how long a write in it waits for another writer's lock
        (SQLite busy_timeout, PostgreSQL lock_timeout) before one of UNAVAILABLE is raised;
        by default it is BUSY_TIMEOUT_MS, long enough for any batch.
        """
        with self._sessions() as s, s.begin():
            if wait is not None:
                self._bound_wait(s, wait)
            yield s

    def _bound_wait(self, session: Session, wait: float) -> None:
        ms = max(1, int(wait * 1000))
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")
            # Restored when the connection returns to the pool (_sqlite_restore_wait).
            conn.connection.info[_WAIT_KEY] = ms
        elif conn.dialect.name == "postgresql":
            # LOCAL: ends with this transaction, so the pooled connection keeps no trace.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ms}ms'")

    def new_session(self) -> Session:
        """A session the caller commits itself (per-delivery commits)."""
        return self._sessions()

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()


def open_store(cfg: Config) -> Store:
    """Open (and create or migrate) the configured store."""
    url = cfg.store_url
    if url.startswith("sqlite:///"):
        folder = Path(url[len("sqlite:///") :]).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublisherError(
                f"cannot create the data directory {folder}: {exc.strerror}",
                "check data_dir in publisher.toml or PUBLISHER_DATA_DIR",
            ) from None
    try:
        engine = make_engine(url)
        migrate(engine)
    except (OperationalError, SQLAlchemyError) as exc:
        shown = make_engine(url).url.render_as_string(hide_password=True) if url else url
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise PublisherError(
            f"cannot open the store {shown}: {reason}",
            "check [store] url in publisher.toml or PUBLISHER_STORE__URL",
        ) from None
    return Store(engine)
