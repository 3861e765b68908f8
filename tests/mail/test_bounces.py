"""Bounce and complaint processing: VERP return paths, report shapes, `bounces process`."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import json
import re
import shutil
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from publisher.core.config import BouncesConfig, Config, SchedulerConfig
from publisher.core.eventlog import EventLog
from publisher.mail import verp
from publisher.service.scheduler import Service
from publisher.store.models import utcnow
from tests.helpers.mail import article, smtp_server, subscriber

KEY = "test-signing-key"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
BOUNCE = "bounces@news.example.kz"


def listed(cli: Any, status: str) -> dict[str, dict[str, Any]]:
    result = cli("subscribers", "list", "--status", status, "--json")
    assert result.exit_code == 0, result.output
    return {d["email"]: d for d in json.loads(result.stdout)}


def process(cli: Any, *paths: Path) -> dict[str, int]:
    result = cli("bounces", "process", "--json", *(map(str, paths) if paths else ["--imap"]))
    assert result.exit_code == 0, result.output
    doc: dict[str, int] = json.loads(result.stdout)
    return doc


def sent_digest(cli: Any, store: Any, emails: list[str]) -> None:
    article(store, "Университетте жаңа зертхана ашылды", lang="kk")
    for addr in emails:
        subscriber(store, addr, "kk")
    cli.env["PUBLISHER_SECRET_KEY"] = KEY
    result = cli("send", "--list", "weekly")
    assert result.exit_code == 0, result.output


def test_verp_tag_names_its_delivery_and_cannot_be_forged() -> None:
    """A VERP address maps back to its delivery; a forged or foreign-key tag maps to nothing."""
    address = verp.return_path(BOUNCE, KEY, 123456)
    local, _, domain = address.partition("@")
    assert domain == "news.example.kz" and local.startswith("bounces+")
    assert local.replace("+", "").replace("-", "").isalnum() and local == local.lower()
    assert len(local) < 40
    assert verp.delivery_of(address, KEY) == 123456
    assert verp.delivery_of(address.upper(), KEY) == 123456  # a relay folding case
    assert verp.delivery_of(address, "another-key") is None
    forged = address.replace("+2n9c-", "+2n9d-")
    assert forged != address and verp.delivery_of(forged, KEY) is None
    assert verp.delivery_of(BOUNCE, KEY) is None


SHAPES = [
    ("postfix-hard.eml", "postfix.hard@example.kz", "hard"),
    ("postfix-delayed.eml", "postfix.soft@example.org", "soft"),
    ("exim.eml", "exim.user@mail.example.kz", "hard"),
    ("exchange.eml", "exchange.user@univer.example.kz", "hard"),
    ("gmail.eml", "gmail.user@gmail.example.com", "hard"),
    ("yandex.eml", "yandex.user@yandex.example.ru", "hard"),
    ("arf-yahoo.eml", "yahoo.reader@yahoo.example.com", "complaint"),
    ("arf-mailru.eml", "mailru.reader@mail.example.ru", "complaint"),
]


@pytest.mark.parametrize(("name", "address", "kind"), SHAPES, ids=[s[0] for s in SHAPES])
def test_report_shapes(cli: Any, store: Any, tmp_path: Path, name: str, address: str,
                       kind: str) -> None:
    """Each MTA's report shape suppresses (or, soft, only counts) the address it names."""
    sent_digest(cli, store, [address, "bystander@example.org"])
    copy = tmp_path / name
    shutil.copy(FIXTURES / name, copy)
    doc = process(cli, copy)
    counts = {"hard": doc["hard"], "soft": doc["soft"], "complaint": doc["complaints"]}
    assert doc["processed"] == 1 and doc["unmatched"] == 0
    assert counts == {k: int(k == kind) for k in counts}
    assert (tmp_path / "processed" / name).is_file() and not copy.exists()
    expected = {"hard": "bounced", "soft": "active", "complaint": "complained"}[kind]
    row = listed(cli, expected)[address]
    assert listed(cli, "active").keys() >= {"bystander@example.org"}
    if kind == "hard":
        assert row["reason"]
    if kind == "complaint":
        assert row["lists"] == {"weekly": "unsubscribed"} and "complaint (abuse)" in row["reason"]


def test_soft_bounces_suppress_after_the_limit_and_reruns_count_once(
    cli: Any, store: Any, tmp_path: Path
) -> None:
    """Soft bounces suppress a reader at [bounces] soft_limit; the same report twice counts once."""
    address = "postfix.soft@example.org"
    sent_digest(cli, store, [address])
    cli.env["PUBLISHER_BOUNCES__SOFT_LIMIT"] = "2"
    raw = (FIXTURES / "postfix-delayed.eml").read_bytes()
    first, again, second = (tmp_path / f"{n}.eml" for n in ("first", "again", "second"))
    first.write_bytes(raw)
    again.write_bytes(raw)  # the same report delivered twice
    second.write_bytes(raw.replace(b"Message-Id: <20261102100440", b"Message-Id: <20261102140440"))
    assert process(cli, first, again)["soft"] == 1
    assert address in listed(cli, "active")
    assert process(cli, second)["soft"] == 1
    row = listed(cli, "bounced")[address]
    assert row["reason"].startswith("2 soft bounces within 30 days")


def test_missing_path_is_one_line_and_exit_2(cli: Any, tmp_path: Path) -> None:
    """A path that does not exist is refused with one line and exit status 2."""
    result = cli("bounces", "process", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "nope" in result.output


def _dsn(envelope_to: str, rcpt: str) -> bytes:
    return f"""\
Return-Path: <>
Delivered-To: {envelope_to}
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: {envelope_to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; someone-else@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: user unknown

--b1--
""".encode()


def _arf(envelope_from: str) -> bytes:
    return f"""\
From: FBL <fbl@isp.example.net>
To: fbl@news.example.kz
Subject: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b2"

--b2
Content-Type: text/plain

A user marked this message as spam.

--b2
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{envelope_from}>

--b2--
""".encode()


def test_bounce_and_complaint_end_to_end(cli: Any, store: Any, tmp_path: Path) -> None:
    """A DSN to one reader's VERP address bounces them, an ARF unsubscribes another; the next
    issue reaches neither, a rerun changes nothing and a malformed report is unmatched."""
    people = ["bounce.me@example.org", "complain.me@example.org", "stay@example.org"]
    article(store, "Университетте жаңа зертхана ашылды", lang="kk")
    for addr in people:
        subscriber(store, addr, "kk")
    with smtp_server() as (server, port):
        cli.env.update({"PUBLISHER_SECRET_KEY": KEY, "PUBLISHER_MAIL__TRANSPORT": "smtp",
                        "PUBLISHER_SMTP__PORT": str(port),
                        "PUBLISHER_MAIL__BOUNCE_ADDRESS": BOUNCE})
        assert cli("send", "--list", "weekly").exit_code == 0
        senders = {rcpts[0]: mail_from for mail_from, rcpts, _ in server.messages}
        froms = {str(email.message_from_bytes(raw, policy=email.policy.default)["From"])
                 for _, _, raw in server.messages}
    assert sorted(senders) == people
    assert all(s.startswith("bounces+") and s.endswith("@news.example.kz")
               for s in senders.values())
    assert len(set(senders.values())) == 3
    assert froms == {"KazNMU News <news@news.example.kz>"}

    box = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1.dsn").write_bytes(_dsn(senders[people[0]], people[0]))
    (box / "new" / "2.arf").write_bytes(_arf(senders[people[1]]))
    (box / "new" / "3.bad").write_bytes(
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n"
        b"--x\nContent-Type: message/delivery-status\n\n\xff\xfe garbage\n--"
    )
    assert process(cli, box) == {"processed": 3, "hard": 1, "soft": 0, "complaints": 1,
                                 "unmatched": 1, "duplicates": 0}
    assert sorted(p.name for p in (box / "cur").iterdir()) == ["1.dsn:2,S", "2.arf:2,S"]
    assert [p.name for p in (box / "unmatched").iterdir()] == ["3.bad"]
    assert not list((box / "new").iterdir())
    assert "550 5.1.1" in listed(cli, "bounced")[people[0]]["reason"]
    assert listed(cli, "complained")[people[1]]["lists"] == {"weekly": "unsubscribed"}

    again = cli("bounces", "process", str(box))
    assert again.exit_code == 0 and again.stdout.startswith("0 report(s) processed")

    article(store, "Конференция по редким заболеваниям", lang="kk", at=utcnow())
    with smtp_server(port=port) as (server, _):
        assert cli("send", "--list", "weekly").exit_code == 0
        assert [rcpts for _, rcpts, _ in server.messages] == [["stay@example.org"]]

    # Neither is brought back by importing the list again.
    csv = tmp_path / "list.csv"
    csv.write_text("email,name,language\n" + "".join(f"{a},,kk\n" for a in people))
    assert cli("subscribers", "import", str(csv), "--list", "weekly").exit_code == 0
    assert set(listed(cli, "active")) == {"stay@example.org"}


def test_without_bounce_address_the_envelope_sender_is_unchanged(
    cli: Any, store: Any, store_cfg: Config
) -> None:
    """With no [mail] bounce_address the envelope sender stays the From address."""
    article(store, "Университетте жаңа зертхана ашылды", lang="kk")
    subscriber(store, "plain@example.org", "kk")
    with smtp_server() as (server, port):
        cli.env.update({"PUBLISHER_SECRET_KEY": KEY, "PUBLISHER_MAIL__TRANSPORT": "smtp",
                        "PUBLISHER_SMTP__PORT": str(port)})
        assert cli("send", "--list", "weekly").exit_code == 0
        assert [m for m, _, _ in server.messages] == ["news@news.example.kz"]


def test_run_polls_the_bounce_maildir(cli: Any, store: Any, store_cfg: Config,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`publisher run` picks up a bounce dropped into [bounces] maildirs by itself."""
    address = "postfix.hard@example.kz"
    sent_digest(cli, store, [address])
    box = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    shutil.copy(FIXTURES / "postfix-hard.eml", box / "new" / "1.eml")
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    cfg = replace(
        store_cfg, bounces=BouncesConfig(maildirs=[str(box)], poll_seconds=0.2),
        scheduler=SchedulerConfig(lease_seconds=3.0, shutdown_seconds=5),
    )
    log = EventLog(cfg.data_dir / "logs" / "bounces.log", stream=io.StringIO())
    service = Service(cfg, store, log, web=False, holder="bounces-test")

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        deadline = asyncio.get_running_loop().time() + 30
        while not list((box / "cur").iterdir()):
            assert asyncio.get_running_loop().time() < deadline, "the Maildir was not polled"
            await asyncio.sleep(0.05)
        service.stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(scenario())
    finally:
        log.close()
    assert [p.name for p in (box / "cur").iterdir()] == ["1.eml:2,S"]
    assert address in listed(cli, "bounced")


class _Imap(socketserver.StreamRequestHandler):
    """The IMAP4rev1 subset imaplib uses here: LOGIN, SELECT, UID SEARCH/FETCH/STORE."""

    mailbox: dict[int, tuple[bytes, set[str]]]
    password: str

    def reply(self, line: str | bytes) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        self.reply("* OK [CAPABILITY IMAP4rev1] test server ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            verb, _, args = rest.partition(" ")
            verb = verb.upper()
            if verb == "CAPABILITY":
                self.reply("* CAPABILITY IMAP4rev1")
                self.reply(f"{tag} OK CAPABILITY done")
            elif verb == "LOGIN":
                ok = args.split(" ", 1)[1].strip('"') == self.password
                self.reply(f"{tag} OK LOGIN done" if ok else f"{tag} NO [AUTHENTICATIONFAILED]")
            elif verb == "SELECT":
                self.reply(f"* {len(self.mailbox)} EXISTS")
                self.reply(f"{tag} OK [READ-WRITE] SELECT done")
            elif verb == "UID":
                self.uid(tag, args)
            elif verb == "LOGOUT":
                self.reply("* BYE bye")
                self.reply(f"{tag} OK LOGOUT done")
                return
            else:
                self.reply(f"{tag} BAD unknown command")

    def uid(self, tag: str, args: str) -> None:
        command, _, rest = args.partition(" ")
        if command.upper() == "SEARCH":
            unseen = [str(u) for u, (_, flags) in self.mailbox.items() if "\\Seen" not in flags]
            self.reply("* SEARCH " + " ".join(unseen))
        elif command.upper() == "FETCH":
            uid = int(rest.split()[0])
            raw = self.mailbox[uid][0]
            self.reply(f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}".encode())
            self.wfile.write(raw + b")\r\n")
        elif command.upper() == "STORE":
            uid = int(rest.split()[0])
            self.mailbox[uid][1].update(re.findall(r"\\\w+", rest))
            self.reply(f"* {uid} FETCH (UID {uid} FLAGS ({' '.join(self.mailbox[uid][1])}))")
        self.reply(f"{tag} OK UID {command} done")


@contextmanager
def imap_server(messages: list[bytes], password: str) -> Iterator[tuple[Any, int]]:
    handler = type("Handler", (_Imap,), {
        "mailbox": {i + 1: (raw, set[str]()) for i, raw in enumerate(messages)},
        "password": password,
    })
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_imap_mailbox_is_processed_once(cli: Any, store: Any) -> None:
    """`bounces process --imap` reads the unseen reports of the mailbox and flags them Seen."""
    address = "gmail.user@gmail.example.com"
    sent_digest(cli, store, [address])
    reports = [(FIXTURES / "gmail.eml").read_bytes(), b"Subject: hello\r\n\r\nnot a bounce\r\n"]
    with imap_server(reports, "s3cret") as (handler, port):
        cli.env.update({"PUBLISHER_BOUNCES__IMAP_HOST": "127.0.0.1",
                        "PUBLISHER_BOUNCES__IMAP_PORT": str(port),
                        "PUBLISHER_BOUNCES__IMAP_TLS": "false",
                        "PUBLISHER_BOUNCES__IMAP_USERNAME": "bounces"})
        refused = cli("bounces", "process", "--imap")
        assert refused.exit_code == 2 and "PUBLISHER_BOUNCES__PASSWORD" in refused.output
        cli.env["PUBLISHER_BOUNCES__PASSWORD"] = "s3cret"
        doc = process(cli)
        assert (doc["processed"], doc["hard"], doc["unmatched"]) == (2, 1, 1)
        assert handler.mailbox[1][1] == {"\\Seen"}
        assert handler.mailbox[2][1] == {"\\Seen", "\\Flagged"}
        assert process(cli)["processed"] == 0
    assert address in listed(cli, "bounced")


def test_run_polls_the_imap_mailbox(cli: Any, store: Any, store_cfg: Config,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With [bounces] imap_host set, `publisher run` reads the mailbox by itself."""
    address = "gmail.user@gmail.example.com"
    sent_digest(cli, store, [address])
    monkeypatch.setenv("PUBLISHER_SECRET_KEY", KEY)
    monkeypatch.setenv("PUBLISHER_BOUNCES__PASSWORD", "s3cret")
    with imap_server([(FIXTURES / "gmail.eml").read_bytes()], "s3cret") as (handler, port):
        cfg = replace(
            store_cfg,
            bounces=BouncesConfig(imap_host="127.0.0.1", imap_port=port, imap_tls=False,
                                  imap_username="bounces", poll_seconds=0.2),
            scheduler=SchedulerConfig(lease_seconds=3.0, shutdown_seconds=5),
        )
        log = EventLog(None, stream=io.StringIO())
        service = Service(cfg, store, log, web=False, holder="imap-test")

        async def scenario() -> None:
            task = asyncio.create_task(service.run())
            deadline = asyncio.get_running_loop().time() + 60
            while handler.mailbox[1][1] != {"\\Seen"}:
                assert asyncio.get_running_loop().time() < deadline, "IMAP was not polled"
                await asyncio.sleep(0.05)
            service.stop.set()
            await asyncio.wait_for(task, 30)

        asyncio.run(scenario())
    assert address in listed(cli, "bounced")


def test_complaint_unsubscribes_only_the_list_that_sent(cli: Any, store: Any,
                                                        tmp_path: Path) -> None:
    """A complaint about the weekly digest keeps the reader on their other lists."""
    toml = tmp_path / "publisher.toml"
    toml.write_text('[[lists]]\nslug = "weekly"\n\n[[lists]]\nslug = "daily"\n', encoding="utf-8")
    cli.env["PUBLISHER_CONFIG"] = str(toml)
    address = "mailru.reader@mail.example.ru"
    subscriber(store, address, "kk", list_slug="daily")
    sent_digest(cli, store, [address])
    copy = tmp_path / "arf.eml"
    shutil.copy(FIXTURES / "arf-mailru.eml", copy)
    assert process(cli, copy)["complaints"] == 1
    row = listed(cli, "complained")[address]
    assert row["status"] == "active"
    assert row["lists"] == {"weekly": "unsubscribed", "daily": "active"}
    assert "Mail.Ru FBL" in row["reason"]


def test_report_without_verp_or_known_recipient_maps_by_quoted_message_id(
    cli: Any, store: Any, store_cfg: Config, tmp_path: Path
) -> None:
    """A bounce that only quotes the original's headers still finds its reader by Message-ID."""
    sent_digest(cli, store, ["alias.target@example.org", "other@example.org"])
    outbox = sorted((store_cfg.outbox_dir / "new").glob("*.eml"))
    heads = [f.read_bytes().split(b"\n\n", 1)[0] for f in outbox]
    headers = next(h for h in heads if b"alias.target@" in h)
    report = _dsn(BOUNCE, "forwarded@elsewhere.example").replace(
        b"--b1--", b"--b1\nContent-Type: text/rfc822-headers\n\n" + headers + b"\n\n--b1--"
    )
    path = tmp_path / "by-mid.eml"
    path.write_bytes(report)
    assert process(cli, path)["hard"] == 1
    assert set(listed(cli, "bounced")) == {"alias.target@example.org"}
