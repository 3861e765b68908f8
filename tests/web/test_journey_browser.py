"""The subscriber's whole journey in headless Chromium against `publisher serve`'s app.

Open /ru/, subscribe, read the confirmation from a real SMTP server, open its link and
press the button, receive the Russian digest, leave with one click. Screenshots go to
tests/artifacts/.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from publisher.core import config
from publisher.core.config import Config
from publisher.mail.delivery import deliver
from publisher.mail.digest import create_issue
from publisher.publish import site
from publisher.store.engine import Store, open_store
from publisher.subscribers.registry import by_email
from tests.helpers.mail import Collector, article, free_port, smtp_server
from tests.helpers.web import KEY

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="/usr/bin/chromium is missing (in CI these tests must run)",
    ),
]


class Served:
    def __init__(self, cfg: Config, store: Store, smtp: Collector, base: str) -> None:
        self.cfg, self.store, self.smtp, self.base = cfg, store, smtp, base

    def wait_for_mail(self, to: str, count: int, timeout: float = 15.0) -> EmailMessage:
        """The `count`-th message the SMTP server accepted for `to`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [raw for _, rcpts, raw in list(self.smtp.messages) if to in rcpts]
            if len(found) >= count:
                msg = email.message_from_bytes(found[count - 1], policy=email.policy.default)
                assert isinstance(msg, EmailMessage)
                return msg
            time.sleep(0.05)
        raise AssertionError(f"no message #{count} for {to} within {timeout}s")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """Site built, web app under uvicorn on 127.0.0.1, mail to an in-process aiosmtpd."""
    import uvicorn

    from publisher.web import create_app

    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with smtp_server() as (collector, smtp_port):
        cfg = config.load(
            environ={
                "PUBLISHER_DATA_DIR": str(tmp_path / "var"),
                "PUBLISHER_MAIL__TRANSPORT": "smtp",
                "PUBLISHER_SMTP__PORT": str(smtp_port),
                "PUBLISHER_SMTP__HOST": "127.0.0.1",
            }
        )
        cfg = replace(cfg, site=replace(cfg.site, base_url=base))
        store = open_store(cfg)
        earlier = datetime.now(UTC) - timedelta(days=2)
        article(
            store,
            "Университетте жаңа зертхана ашылды",
            lang="kk",
            at=earlier,
            translations={
                "ru": "В университете открылась новая лаборатория",
                "en": "A new laboratory opens at the university",
            },
        )
        site.build(cfg, store)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(cfg, store),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        try:
            yield Served(cfg, store, collector, base)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            store.close()


@pytest.fixture
def page(served: Served) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 900, "height": 900},
                java_script_enabled=False,
                locale="ru-RU",
            )
            yield context.new_page()
        finally:
            browser.close()


def _off_loop(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a sync function that calls asyncio.run outside Playwright's event loop."""
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(fn(*args, **kwargs)))
    worker.start()
    worker.join(timeout=60)
    assert box, "the call failed or timed out"
    return box[0]


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


def _link(msg: EmailMessage, kind: str) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()  # type: ignore[attr-defined]
    found = re.search(rf"(https?://\S+/{kind}/[A-Za-z0-9_.\-]+)", text)
    assert found is not None, text
    return found.group(1)


def test_subscribe_confirm_receive_unsubscribe(page: Any, served: Served) -> None:
    """A Russian reader subscribes without JavaScript, confirms, gets the digest, leaves."""
    address = "reader@example.kz"
    page.goto(f"{served.base}/ru/")
    assert page.evaluate("document.documentElement.lang") == "ru"
    _shot(page, "1-index-ru")
    if page.locator("form[action='/subscribe']").count() == 0:
        # The index has no form of its own (yet): the standalone localized page has it.
        page.goto(f"{served.base}/ru/subscribe/")
    form = page.locator("form[action='/subscribe']").first
    page.fill("#subscribe-email", address)
    page.fill("#subscribe-name", "Анна Ким")
    page.select_option("#subscribe-language", "ru")
    _shot(page, "2-form")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("[role=status]").is_visible()
    assert page.evaluate("document.documentElement.lang") == "ru"
    _shot(page, "3-check-email")

    confirmation = served.wait_for_mail(address, 1)
    assert confirmation["Content-Language"] == "ru"
    page.goto(_link(confirmation, "confirm"))
    assert page.evaluate("document.documentElement.lang") == "ru"
    _shot(page, "4-confirm")
    with served.store.session() as s:
        sub = by_email(s, address)
        assert sub is not None and sub.status == "pending"  # opening the link is not enough
    page.get_by_role("button", name="Подтвердить подписку").click()
    page.wait_for_load_state()
    assert page.locator("[role=status]").is_visible()
    _shot(page, "5-confirmed")
    with served.store.session() as s:
        sub = by_email(s, address)
        assert sub is not None and (sub.status, sub.language, sub.name) == (
            "active",
            "ru",
            "Анна Ким",
        )

    now = datetime.now(UTC)
    article(
        served.store,
        "Студенттер халықаралық олимпиадада жеңді",
        lang="kk",
        at=now + timedelta(seconds=1),
        translations={
            "ru": "Студенты победили на международной олимпиаде",
            "en": "Students win an international olympiad",
        },
    )
    issue = create_issue(served.cfg, served.store, "weekly", now=now + timedelta(minutes=5))
    assert issue is not None
    report = _off_loop(deliver, served.cfg, served.store, issue_id=issue)
    assert report.sent == 1
    digest = served.wait_for_mail(address, 2)
    assert digest["Content-Language"] == "ru"
    html = digest.get_body(("html",))
    assert html is not None and "Студенты победили" in html.get_content()  # type: ignore[attr-defined]
    assert "В университете открылась" not in html.get_content()  # type: ignore[attr-defined]

    unsubscribe = re.search(
        r"<(https?://[^>]+/unsubscribe/[^>]+)>", str(digest["List-Unsubscribe"])
    )
    assert unsubscribe is not None
    page.goto(unsubscribe.group(1))
    _shot(page, "6-unsubscribe")
    with served.store.session() as s:
        sub = by_email(s, address)
        assert sub is not None  # opening the page changed nothing yet
    page.get_by_role("button").click()
    page.wait_for_load_state()
    assert page.locator("[role=status]").is_visible()
    _shot(page, "7-unsubscribed")
    later = create_issue(served.cfg, served.store, "weekly", now=now + timedelta(days=8))
    if later is not None:
        assert _off_loop(deliver, served.cfg, served.store, issue_id=later).sent == 0
    with served.store.session() as s:
        from publisher.subscribers.registry import listing

        assert listing(s, "weekly")[0]["lists"] == {"weekly": "unsubscribed"}
