"""The built pages in headless Chromium (Debian package, driven by Playwright) over HTTP."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from publisher.core import config
from publisher.publish import site
from publisher.store.engine import Store
from tests.helpers.site import CENTRE_KK, CENTRE_RU, HOSTILE, RECTOR_RU, populate

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="/usr/bin/chromium is missing (in CI these tests must run)",
    ),
]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tmp_path/var/site; yields its base URL."""
    root = tmp_path / "var" / "site"
    root.mkdir(parents=True)
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def site_url(served: str, tmp_path: Path) -> str:
    """The demo articles built with base_url pointing at the local server."""
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / "var")})
    cfg = replace(cfg, site=replace(cfg.site, base_url=served))
    from publisher.store.engine import open_store

    store: Store = open_store(cfg)
    try:
        populate(store)
        site.build(cfg, store)
    finally:
        store.close()
    return served


@pytest.fixture
def page(site_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            tab = context.new_page()
            dialogs: list[str] = []
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.dialogs = dialogs
            yield tab
        finally:
            browser.close()


def _open_article(page: Any, base: str, lang: str, title: str) -> None:
    page.goto(f"{base}/{lang}/")
    page.get_by_role("link", name=title, exact=True).click()
    page.wait_for_load_state()


def test_language_switcher_opens_the_same_article_in_russian(page: Any, site_url: str) -> None:
    """On a Kazakh article, clicking "Русский" opens the same article's Russian page."""
    _open_article(page, site_url, "kk", CENTRE_KK)
    assert page.evaluate("document.documentElement.lang") == "kk"
    slug_url = page.url
    assert slug_url.startswith(f"{site_url}/kk/")
    page.locator("nav.languages").get_by_role("link", name="Русский").click()
    page.wait_for_load_state()
    assert page.url == slug_url.replace("/kk/", "/ru/")
    assert page.evaluate("document.documentElement.lang") == "ru"
    assert page.locator("article").get_attribute("lang") == "ru"
    assert page.locator("article h1").inner_text() == CENTRE_RU
    assert page.locator("nav.languages [aria-current=page]").inner_text() == "Русский"


def test_fallback_article_is_marked_with_its_real_language(page: Any, site_url: str) -> None:
    """A Russian-only article on the Kazakh site shows a visible note and lang="ru" text."""
    _open_article(page, site_url, "kk", RECTOR_RU)
    assert page.evaluate("document.documentElement.lang") == "kk"
    assert page.evaluate("document.documentElement.dir") == "ltr"
    assert page.locator("article").get_attribute("lang") == "ru"
    note = page.locator("main .note")
    assert note.is_visible()
    assert "орыс" in note.inner_text().lower()
    # The browser resolves each element's language from the nearest lang attribute.
    assert page.evaluate("document.querySelector('article h1').closest('[lang]').lang") == "ru"
    assert page.evaluate("document.querySelector('.note').closest('[lang]').lang") == "kk"


def test_hostile_title_renders_as_text_and_runs_nothing(page: Any, site_url: str) -> None:
    """A title made of <script> and <b> tags shows literally; no script runs, no bold appears."""
    page.goto(f"{site_url}/kk/")
    assert page.get_by_role("link", name=HOSTILE, exact=True).is_visible()
    _open_article(page, site_url, "kk", HOSTILE)
    assert page.locator("article h1").inner_text() == HOSTILE
    assert page.title().startswith(HOSTILE)
    assert page.locator("article b, article script, article i").count() == 0
    assert page.dialogs == []


def test_feed_discovery_and_root_chooser_work_in_the_browser(page: Any, site_url: str) -> None:
    """The root page leads to each language; its feed links are discoverable and load."""
    page.goto(f"{site_url}/")
    page.get_by_role("link", name="Қазақ тілі").click()
    page.wait_for_load_state()
    assert page.url == f"{site_url}/kk/"
    feeds = page.eval_on_selector_all(
        "head link[rel=alternate][type]", "els => els.map(e => [e.type, e.href])"
    )
    assert [t for t, _ in feeds] == [
        "application/rss+xml", "application/atom+xml", "application/feed+json"
    ]
    for _, href in feeds:
        response = page.request.get(href)
        assert response.ok and len(response.body()) > 500


def test_screenshots_of_kazakh_index_and_article(page: Any, site_url: str) -> None:
    """Screenshots of /kk/ and a Kazakh article page are saved in tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    shots = [ARTIFACTS / "site-kk-index.png", ARTIFACTS / "site-kk-article.png"]
    for shot in shots:
        shot.unlink(missing_ok=True)
    page.goto(f"{site_url}/kk/")
    page.screenshot(path=str(shots[0]), full_page=True)
    _open_article(page, site_url, "kk", CENTRE_KK)
    # Readable measure: the text column stays narrow on a wide window.
    width = page.evaluate("document.querySelector('article').getBoundingClientRect().width")
    assert 400 < width <= 42 * 16 + 1
    page.screenshot(path=str(shots[1]), full_page=True)
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
