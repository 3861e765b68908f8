"""Security headers on every response, and request bodies capped before they are parsed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publisher.core import config
from publisher.core.config import Config
from publisher.publish import site
from publisher.store.engine import Store, open_store
from publisher.store.models import Subscriber
from publisher.web import create_app
from tests.helpers.web import KEY, Client


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    return config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})


@pytest.fixture
def store(cfg: Config) -> Iterator[Store]:
    s = open_store(cfg)
    yield s
    s.close()


@pytest.fixture
def client(cfg: Config, store: Store) -> Client:
    site.build(cfg, store)
    return Client(create_app(cfg, store))


@pytest.mark.parametrize("path", ["/kk/", "/kk/feed.atom", "/healthz", "/ru/subscribe",
                                  "/unsubscribe/forged", "/no/such/page"])
def test_every_response_carries_the_security_headers(client: Client, path: str) -> None:
    """Static pages, feeds, forms, error pages: CSP with frame-ancestors 'none', nosniff,
    and no Referer that could carry a link's token elsewhere."""
    headers = client.get(path).headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def _subscribers(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(Subscriber)) or 0)


def test_a_huge_form_is_refused_before_it_is_parsed(client: Client, store: Store) -> None:
    """300 fields of 1 MB never reach the form parser: 413, and nothing is stored."""
    body = "&".join(f"f{i}=" + "x" * 4096 for i in range(300)) + "&email=a@example.org"
    response = client.post("/subscribe", content=body.encode(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert "frame-ancestors" in response.headers["content-security-policy"]
    assert _subscribers(store) == 0


def test_a_chunked_body_is_cut_off_at_the_cap(client: Client, store: Store) -> None:
    """Without a Content-Length the cap still holds: the body is counted as it arrives."""
    async def chunks() -> AsyncIterator[bytes]:
        yield b"email=a%40example.org&lang=kk&lists=weekly&pad="
        for _ in range(100):
            yield b"x" * 4096

    response = client.post("/subscribe", content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert _subscribers(store) == 0


def test_a_normal_form_still_works(client: Client) -> None:
    """A subscribe form of ordinary size passes the cap."""
    response = client.post("/subscribe", data={"email": "a@example.org", "lang": "kk",
                                               "lists": "weekly"})
    assert response.status_code in (200, 303)
