"""Benchmark: digest delivery to Postfix's smtp-sink on 127.0.0.1, three figures in one run.

  (a) publisher end to end: issue creation, personalisation, SMTP, ledger commits
  (b) a bare aiosmtplib loop sending pre-serialised identical bytes, same connections
  (c) Postfix's smtp-source, same message size and concurrency

    .venv/bin/python benchmarks/send.py                      # 100,000 subscribers
    .venv/bin/python benchmarks/send.py --subscribers 5000   # while developing

Reports ratios, not pass/fail: the target is (a) >= 60% of (b) and peak memory of the
publisher process under 300 MB. smtp-sink is started and stopped by the script (the
postfix daemon is never started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tools

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
KEY = "benchmark-signing-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"smtp-sink did not start on 127.0.0.1:{port}") from None
            time.sleep(0.05)


def env_for(data_dir: Path, port: int, connections: int, store_url: str = "") -> dict[str, str]:
    env = {
        "PUBLISHER_DATA_DIR": str(data_dir), "PUBLISHER_MAIL__TRANSPORT": "smtp",
        "PUBLISHER_SMTP__HOST": "127.0.0.1", "PUBLISHER_SMTP__PORT": str(port),
        "PUBLISHER_SMTP__CONNECTIONS": str(connections), "PUBLISHER_SMTP__TIMEOUT": "60",
    }
    if store_url:  # benchmarks/workers.py: the same setup on PostgreSQL
        env["PUBLISHER_STORE__URL"] = store_url
    return env


def setup(
    data_dir: Path, subscribers: int, port: int, connections: int, store_url: str = ""
) -> None:
    """A store with the sample articles and `subscribers` active readers in kk, ru, en."""
    from sqlalchemy import func, insert, select

    from publisher.core import config
    from publisher.ingest import importer
    from publisher.store.engine import open_store
    from publisher.store.models import Article, MailingList, Subscriber, Subscription, utcnow

    cfg = config.load(environ=env_for(data_dir, port, connections, store_url))
    store = open_store(cfg)
    importer.import_paths(store, [ROOT / "samples" / "import"])
    now = utcnow()
    with store.session() as s:
        oldest = s.scalar(select(func.min(Article.created_at))) or now
        cursor = oldest - timedelta(seconds=1)
        mlist = MailingList(slug="weekly", created_at=cursor)
        s.add(mlist)
        s.flush()
        list_id = mlist.id
    langs = ("kk", "ru", "en")
    step = 10_000
    for start in range(0, subscribers, step):
        n = min(step, subscribers - start)
        with store.session() as s:
            first = (s.scalar(select(func.max(Subscriber.id))) or 0) + 1
            s.execute(insert(Subscriber), [{
                "id": first + i, "email": f"reader{start + i:06d}@example.org",
                "name": f"Reader {start + i}", "language": langs[(start + i) % 3],
                "timezone": "Asia/Almaty", "status": "active", "token_id": secrets.token_hex(16),
                "created_at": cursor, "updated_at": cursor, "confirmed_at": cursor,
            } for i in range(n)])
            s.execute(insert(Subscription), [{
                "subscriber_id": first + i, "list_id": list_id, "status": "active",
                "cursor": cursor, "created_at": cursor, "updated_at": cursor,
            } for i in range(n)])
    store.close()


def phase_publisher(data_dir: Path, port: int, connections: int) -> None:
    """Child process: (a), printing one JSON line with the rate and peak memory."""
    from publisher.core import config
    from publisher.mail.delivery import deliver
    from publisher.mail.digest import create_issue
    from publisher.store.engine import open_store

    cfg = config.load(environ=env_for(data_dir, port, connections))
    store = open_store(cfg)
    started = time.perf_counter()
    issue = create_issue(cfg, store, "weekly")
    created = time.perf_counter()
    report = deliver(cfg, store, issue_id=issue, key=KEY)
    ended = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "sent": report.sent, "failed": report.failed, "deferred": report.deferred,
        "issue_seconds": created - started, "send_seconds": ended - created,
        "total_seconds": ended - started, "rate": report.sent / (ended - started),
        "peak_mb": peak_kb / 1024,
    }))


def sample_message(data_dir: Path, port: int, connections: int) -> bytes:
    """One personalised digest as the publisher sent it (for (b) and the size of (c))."""
    from publisher.core import config
    from publisher.mail.message import DigestMessage, Recipient, load_articles
    from publisher.store.engine import open_store
    from publisher.store.models import Delivery, DigestIssue

    cfg = config.load(environ=env_for(data_dir, port, connections))
    store = open_store(cfg)
    with store.session() as s:
        d = s.query(Delivery).order_by(Delivery.id).first()
        assert d is not None
        issue = s.get(DigestIssue, d.issue_id)
        assert issue is not None
        msg = DigestMessage(cfg, cfg.lists[0], issue.number, issue.window_end, d.lang,
                            load_articles(s, d.article_ids), key=KEY)
        data = msg.personalise(Recipient("reader@example.org", "Reader", "x" * 32,
                                         "weekly.1.1@news.example.kz"))
    store.close()
    return data


async def bare_loop(port: int, connections: int, total: int, message: bytes) -> float:
    """(b): `connections` persistent aiosmtplib clients sending the same bytes."""
    import aiosmtplib

    remaining = [total]

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60, start_tls=False)
        await client.connect()
        while remaining[0] > 0:
            remaining[0] -= 1
            await client.sendmail("news@news.example.kz", ["reader@example.org"], message)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return total / (time.perf_counter() - started)


def smtp_source(port: int, connections: int, total: int, size: int) -> float:
    """(c): smtp-source with the same message size, sessions and message count."""
    started = time.perf_counter()
    subprocess.run(
        [SOURCE, "-d", "-s", str(connections), "-m", str(total), "-l", str(size),
         "-f", "news@news.example.kz", "-t", "reader@example.org", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return total / (time.perf_counter() - started)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--phase", choices=["publisher"], help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "publisher":
        phase_publisher(args.data_dir, args.port, args.connections)
        return 0
    tools.require("smtp-sink")
    tools.require("smtp-source")
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root
    sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1000"],
                            stdout=subprocess.DEVNULL)
    tmp = Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    try:
        wait_for(port)
        data_dir = tmp / "var"
        t0 = time.perf_counter()
        setup(data_dir, args.subscribers, port, args.connections)
        print(f"setup: {args.subscribers} subscribers in {time.perf_counter() - t0:.1f} s")
        child = subprocess.run(
            [sys.executable, __file__, "--phase", "publisher", "--data-dir", str(data_dir),
             "--port", str(port), "--connections", str(args.connections)],
            check=True, capture_output=True, text=True, cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
        )
        a = json.loads(child.stdout.strip().splitlines()[-1])
        message = sample_message(data_dir, port, args.connections)
        b = asyncio.run(bare_loop(port, args.connections, args.subscribers, message))
        c = smtp_source(port, args.connections, args.subscribers, len(message))
        print(f"messages: {args.subscribers}, {len(message)} bytes each, "
              f"{args.connections} connections, smtp-sink on 127.0.0.1")
        print(f"(a) publisher end to end: {a['rate']:8.0f} msg/s  "
              f"(issue {a['issue_seconds']:.1f} s + send {a['send_seconds']:.1f} s; "
              f"sent {a['sent']}, failed {a['failed']}, deferred {a['deferred']}; "
              f"peak RSS {a['peak_mb']:.0f} MB)")
        print(f"(b) bare aiosmtplib loop: {b:8.0f} msg/s")
        print(f"(c) smtp-source:          {c:8.0f} msg/s")
        print(f"(a)/(b) = {a['rate'] / b:.0%}   (a)/(c) = {a['rate'] / c:.0%}   "
              f"target: (a)/(b) >= 60%, peak < 300 MB")
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
