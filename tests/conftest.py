"""Shared fixtures: a configuration rooted in a temp dir, a real store, the CLI runner."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from publisher.cli.main import main
from publisher.core import config
from publisher.store.engine import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
# The three sample dumps of the project brief, copied into the repository (see samples/README).
CORPUS = SAMPLES / "import"
PG_URL = os.environ.get("PUBLISHER_TEST_PG_URL", "")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PUBLISHER_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("PUBLISHER_") and not name.startswith("PUBLISHER_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    return config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})


def _pg_database() -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


STORE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORE_KINDS)
def store_cfg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[config.Config]:
    """A configuration whose store is SQLite, or a fresh PostgreSQL database when one is given."""
    env = {"PUBLISHER_DATA_DIR": str(tmp_path / "var")}
    if request.param == "sqlite":
        yield config.load(environ=env)
        return
    if not PG_URL:
        pytest.skip("PUBLISHER_TEST_PG_URL not set (.ci/run starts a server)")
    for url in _pg_database():
        yield config.load(environ={**env, "PUBLISHER_STORE__URL": url})


@pytest.fixture
def store(store_cfg: config.Config) -> Iterator[Store]:
    s = open_store(store_cfg)
    yield s
    s.close()


class Cli:
    """Runs `publisher` end to end with CliRunner against one data_dir."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(
            main, list(args), env=self.env, input=input, catch_exceptions=False
        )


@pytest.fixture
def cli(store_cfg: config.Config) -> Cli:
    env = {"PUBLISHER_DATA_DIR": str(store_cfg.data_dir)}
    if store_cfg.store.url:
        env["PUBLISHER_STORE__URL"] = store_cfg.store.url
    return Cli(env)
