"""The built site over HTTP: media types, ETag / Last-Modified, 304 for feed readers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.core import config
from publisher.core.config import Config
from publisher.store.engine import open_store
from publisher.web import create_app
from tests.helpers.web import KEY, Client


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, Client]:
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})
    ru = cfg.site_dir / "ru"
    ru.mkdir(parents=True)
    (ru / "index.html").write_text(
        '<!DOCTYPE html><html lang="ru"><title>Новости</title></html>', "utf-8"
    )
    (ru / "feed.atom").write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"/>', "utf-8"
    )
    (ru / "feed.rss").write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"/>', "utf-8"
    )
    (ru / "feed.json").write_text(
        '{"version": "https://jsonfeed.org/version/1.1", "items": []}', "utf-8"
    )
    store = open_store(cfg)
    yield cfg, Client(create_app(cfg, store))
    store.close()


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/ru/", "text/html; charset=utf-8"),
        ("/ru/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/ru/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/ru/feed.json", "application/feed+json; charset=utf-8"),
    ],
)
def test_content_types(site: tuple[Config, Client], path: str, media: str) -> None:
    """Pages and the three feeds are served with their registered media types."""
    response = site[1].get(path)
    assert response.status_code == 200 and response.headers["content-type"] == media
    assert response.headers["etag"] and response.headers["last-modified"]


def test_conditional_get_answers_304(site: tuple[Config, Client]) -> None:
    """A feed reader that sends If-None-Match or If-Modified-Since gets 304 and no body."""
    client = site[1]
    first = client.get("/ru/feed.atom")
    by_etag = client.get("/ru/feed.atom", headers={"if-none-match": first.headers["etag"]})
    assert by_etag.status_code == 304 and by_etag.content == b""
    by_date = client.get(
        "/ru/feed.atom", headers={"if-modified-since": first.headers["last-modified"]}
    )
    assert by_date.status_code == 304
    stale = client.get("/ru/feed.atom", headers={"if-none-match": '"something-else"'})
    assert stale.status_code == 200


def test_etag_follows_content_not_mtime(site: tuple[Config, Client]) -> None:
    """Rewriting a feed with the same bytes keeps its ETag; new content changes it."""
    cfg, client = site
    feed = cfg.site_dir / "ru" / "feed.rss"
    etag = client.get("/ru/feed.rss").headers["etag"]
    os.utime(feed, (1_900_000_000, 1_900_000_000))
    assert client.get("/ru/feed.rss", headers={"if-none-match": etag}).status_code == 304
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel/></rss>', "utf-8"
    )
    changed = client.get("/ru/feed.rss", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_missing_pages_and_unbuilt_site(site: tuple[Config, Client], tmp_path: Path) -> None:
    """An unknown path is a localized 404; a directory without slash redirects; no traversal."""
    client = site[1]
    missing = client.get("/ru/no-such-article/", headers={"accept-language": "ru-RU,ru;q=0.9"})
    assert missing.status_code == 404 and '<html lang="ru"' in missing.text
    assert client.get("/ru").status_code in (307, 308)
    assert client.get("/../publisher.db").status_code == 404
    assert client.post("/ru/feed.atom").status_code == 405
