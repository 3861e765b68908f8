"""`publisher send` and `publisher digest preview` end to end, including a crash mid-send."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from publisher.core.config import Config
from tests.helpers.mail import T0, article, free_port, smtp_server, subscriber

KEY = "test-signing-key"
ROOT = Path(__file__).resolve().parents[2]
PEOPLE = [("aigul@example.org", "kk", "Айгүл"), ("ivan@example.org", "ru", "Иван"),
          ("jane@example.org", "en", "Jane")]


def populate(store: Any, people: list[tuple[str, str, str]] = PEOPLE) -> None:
    article(store, "Университетте жаңа зертхана ашылды", lang="kk",
            translations={"ru": "В университете открылась новая лаборатория",
                          "en": "A new laboratory opens at the university"})
    article(store, "Конференция по редким заболеваниям", lang="ru", at=T0 + T0.resolution)
    for addr, lang, name in people:
        subscriber(store, addr, lang, name=name)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_send_to_maildir_outbox_then_nothing_new(cli: Any, store: Any,
                                                 store_cfg: Config) -> None:
    """Each subscriber gets one readable .eml in the outbox; a second run sends nothing."""
    populate(store)
    cli.env["PUBLISHER_SECRET_KEY"] = KEY
    result = cli("send", "--list", "weekly", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["sent"], doc["failed"], doc["deferred"]) == (3, 0, 0)
    files = sorted((store_cfg.outbox_dir / "new").glob("*.eml"))
    assert len(files) == 3
    langs = {str(parse(f.read_bytes())["Content-Language"]) for f in files}
    assert langs == {"kk", "ru", "en"}
    again = cli("send", "--list", "weekly")
    assert again.exit_code == 0 and "Nothing new" in again.stdout
    assert len(list((store_cfg.outbox_dir / "new").glob("*.eml"))) == 3


def test_send_over_smtp_delivers_localized_digests(cli: Any, store: Any) -> None:
    """Over SMTP every reader gets a parseable digest in their language with a decoded subject."""
    populate(store)
    with smtp_server() as (server, port):
        cli.env.update({"PUBLISHER_SECRET_KEY": KEY, "PUBLISHER_MAIL__TRANSPORT": "smtp",
                        "PUBLISHER_SMTP__PORT": str(port)})
        result = cli("send", "--list", "weekly")
        assert result.exit_code == 0, result.output
        assert "3 sent, 0 deferred, 0 failed" in result.stdout and "messages/s" in result.stdout
        got = {rcpts[0]: parse(raw) for _, rcpts, raw in server.messages}
    assert sorted(got) == sorted(p[0] for p in PEOPLE)
    subjects = {k: " ".join(str(v["Subject"]).split()) for k, v in got.items()}
    assert subjects["aigul@example.org"].startswith("Апталық дайджест № 1 — ")
    assert subjects["ivan@example.org"].startswith("Еженедельный дайджест № 1 — ")
    for addr, lang, name in PEOPLE:
        msg = got[addr]
        assert msg["Content-Language"] == lang
        assert msg["To"].addresses[0].display_name == name
        html = msg.get_body(("html",))
        assert html is not None and f'<html lang="{lang}" dir="ltr">' in html.get_content()


def test_dry_run_sends_and_stores_nothing(cli: Any, store: Any, store_cfg: Config) -> None:
    """--dry-run reports the recipients per language and leaves outbox and ledger empty."""
    populate(store)
    result = cli("send", "--list", "weekly", "--dry-run", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["recipients"] == {"kk": 1, "ru": 1, "en": 1} and doc["issue_id"] is None
    assert not (store_cfg.outbox_dir / "new").exists() or not any(
        (store_cfg.outbox_dir / "new").iterdir())


def test_smtp_send_needs_the_signing_key(cli: Any, store: Any) -> None:
    """Without PUBLISHER_SECRET_KEY a real send stops with exit 1 and a hint."""
    populate(store)
    cli.env.update({"PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__PORT": "1"})
    result = cli("send", "--list", "weekly")
    assert result.exit_code == 1
    assert "PUBLISHER_SECRET_KEY" in result.stderr


def test_unknown_list_is_rejected(cli: Any) -> None:
    """A list that is not configured is bad input (exit 2) naming the configured ones."""
    result = cli("send", "--list", "nope")
    assert result.exit_code == 2 and "weekly" in result.stderr


def test_digest_preview_writes_html(cli: Any, store: Any, tmp_path: Path) -> None:
    """The preview is the next digest's HTML in the asked language, and nothing is sent."""
    populate(store)
    out = tmp_path / "preview.html"
    result = cli("digest", "preview", "--list", "weekly", "--lang", "ru", "-o", str(out))
    assert result.exit_code == 0
    html = out.read_text(encoding="utf-8")
    assert '<html lang="ru" dir="ltr">' in html
    assert "В университете открылась новая лаборатория" in html
    assert "Конференция по редким заболеваниям" in html


@pytest.mark.slow
def test_killed_send_resumes_and_sends_everyone_exactly_once(store_cfg: Config,
                                                             store: Any) -> None:
    """SIGKILL in the middle of a send, run again: every recipient has exactly one message."""
    if store_cfg.store.url:
        pytest.skip("one SQLite run is enough for the crash test")
    people = [(f"reader{i:03d}@example.org", ("kk", "ru", "en")[i % 3], f"R{i}")
              for i in range(60)]
    populate(store, people)
    with smtp_server(delay=0.05) as (server, port):
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
               "PUBLISHER_DATA_DIR": str(store_cfg.data_dir), "PUBLISHER_SECRET_KEY": KEY,
               "PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__PORT": str(port),
               "PUBLISHER_SMTP__CONNECTIONS": "2"}
        cmd = [sys.executable, "-m", "publisher", "send", "--list", "weekly", "--json"]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sum(server.received().values()) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        # Hold the next answers and give the sender time to commit the 250s it has, then kill
        # it: a kill between a 250 and its commit would resend that one message (the window
        # no SMTP client can close), which is not what this test is about.
        server.hold()
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        server.release()
        first = sum(server.received().values())
        assert 15 <= first < 60, "the kill should land in the middle of the send"
        second = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, timeout=120)
        assert second.returncode == 0, second.stderr.decode()
        assert json.loads(second.stdout)["sent"] == 60 - first
        counts = server.received()
    assert counts == Counter({p[0]: 1 for p in people})


@pytest.mark.slow
def test_two_sends_at_once_deliver_each_recipient_once(store_cfg: Config, store: Any) -> None:
    """Two `publisher send` started together both succeed; every recipient gets one message."""
    if store_cfg.store.url:
        pytest.skip("one SQLite run is enough for the race")
    people = [(f"race{i:03d}@example.org", ("kk", "ru", "en")[i % 3], f"R{i}") for i in range(90)]
    populate(store, people)
    with smtp_server(delay=0.01) as (server, port):
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
               "PUBLISHER_DATA_DIR": str(store_cfg.data_dir), "PUBLISHER_SECRET_KEY": KEY,
               "PUBLISHER_MAIL__TRANSPORT": "smtp", "PUBLISHER_SMTP__PORT": str(port)}
        cmd = [sys.executable, "-m", "publisher", "send", "--list", "weekly", "--json"]
        procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err.decode()
        counts = server.received()
    assert counts == Counter({p[0]: 1 for p in people})


def test_unreachable_relay_is_a_failure_not_a_success(cli: Any, store: Any) -> None:
    """When the relay refuses every connection, `send` exits 1 with one line and a hint."""
    populate(store)
    cli.env.update({"PUBLISHER_SECRET_KEY": KEY, "PUBLISHER_MAIL__TRANSPORT": "smtp",
                    "PUBLISHER_SMTP__PORT": str(free_port()), "PUBLISHER_SMTP__TIMEOUT": "2"})
    result = cli("send", "--list", "weekly", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["deferred"] == 3
    (line,) = result.stderr.strip().splitlines()
    assert "no message was accepted" in line and "[smtp] host" in line
