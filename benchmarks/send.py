"""Benchmark: digest delivery to Postfix's smtp-sink on 127.0.0.1, three figures in one run.

  (a) publisher end to end: issue creation, personalisation, SMTP, ledger commits; with
      --workers 1 (default) in one process (`publisher send`'s path), with --workers N in
      N `publisher worker` processes sharing the store (the connections split between them)
  (b) a bare aiosmtplib loop sending pre-serialised identical bytes, same connections and
      processes; (b') the same loop with publisher's SMTP client (publisher/mail/smtpclient.py)
  (c) Postfix's smtp-source, same message size, total sessions and message count

    .venv/bin/python benchmarks/send.py                      # 100,000 subscribers
    .venv/bin/python benchmarks/send.py --subscribers 30000 --workers 2
    .venv/bin/python benchmarks/send.py --subscribers 5000   # while developing

Reports ratios, not pass/fail: the targets are (a) >= 90% of (b), (a) >= 35% of (c) with two
workers, and peak memory of every publisher process under 300 MB. smtp-sink is started and
stopped by the script (the postfix daemon is never started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phase_publisher(data_dir: Path, port: int, connections: int) -> None:
    """Child process: (a) in one process, printing one JSON line with the rate and memory."""
    from publisher.core import config
    from publisher.mail.delivery import deliver
    from publisher.mail.digest import create_issue
    from publisher.store.engine import open_store

    cfg = config.load(environ=env_for(data_dir, port, connections))
    store = open_store(cfg)
    cpu0 = cpu_seconds()
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
        "peak_mb": peak_kb / 1024, "cpu_ms_per_message": 1000 * (cpu_seconds() - cpu0)
        / max(report.sent, 1),
    }))


def peak_mb(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def py_spy(profile_dir: Path, name: str) -> list[str]:
    """`py-spy record` writing DIR/name.txt (raw flame lines) when the process ends."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    profile_dir.mkdir(parents=True, exist_ok=True)
    return [spy, "record", "-r", "250", "-f", "raw", "-o", str(profile_dir / f"{name}.txt")]


@contextmanager
def started_workers(data_dir: Path, store_url: str, port: int, workers: int,
                    connections: int) -> Iterator[tuple[Any, Any, list[Popen], list[Popen]]]:
    """(config, store, workers, followers): `workers` running, registered `publisher worker`
    processes with `connections` SMTP connections each, SIGTERMed on exit and awaited with
    the followers the caller attached to them (py-spy ends with its worker)."""
    from publisher.core import config
    from publisher.mail.worker import live_count
    from publisher.store.engine import open_store

    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(env_for(data_dir, port, connections, store_url))
    env.update({"PUBLISHER_SECRET_KEY": KEY, "PUBLISHER_WORKER__POLL_SECONDS": "0.1",
                "PUBLISHER_WORKER__HEARTBEAT_SECONDS": "1"})
    cfg = config.load(environ=env)
    store = open_store(cfg)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "publisher", "worker", "--concurrency", str(connections)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) for _ in range(workers)]
    followers: list[Popen] = []
    try:
        deadline = time.monotonic() + 60
        while live_count(cfg, store) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.05)
        yield cfg, store, procs, followers
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in [*procs, *followers]:
            p.wait(timeout=60)
        store.close()


def run_workers(data_dir: Path, store_url: str, port: int, workers: int, connections: int,
                subscribers: int, profile_dir: Path | None = None) -> dict[str, float]:
    """(a) with `workers` `publisher worker` processes, `connections` SMTP connections each.

    Timing starts when the workers run and are registered (their start-up is not
    delivery), just before the issue is created, and stops when the last row is sent.
    """
    from sqlalchemy import func, select

    from publisher.mail.digest import create_issue
    from publisher.store.models import Delivery

    with started_workers(data_dir, store_url, port, workers, connections) as (
        cfg, store, procs, spies,
    ):
        if profile_dir is not None:  # attached, so SIGTERM reaches the worker itself
            spies.extend(subprocess.Popen(
                [*py_spy(profile_dir, f"worker{i}"), "--pid", str(p.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ) for i, p in enumerate(procs))
            time.sleep(1)
        cpu0 = [process_cpu(p.pid) for p in procs]
        t0 = time.perf_counter()
        issue = create_issue(cfg, store, "weekly")
        t1 = time.perf_counter()
        # Asks for the rows still to send (an index search that shrinks as they go), not
        # a count of the sent ones: on two cores that scan would take CPU from the workers.
        pending = select(Delivery.id).where(
            Delivery.issue_id == issue, Delivery.state.in_(("queued", "sending"))).limit(1)
        while True:
            with store.session() as s:
                if s.scalar(pending) is None:
                    break
            time.sleep(0.05)
        t2 = time.perf_counter()
        with store.session() as s:
            states = dict(s.execute(select(Delivery.state, func.count()).where(
                Delivery.issue_id == issue).group_by(Delivery.state)).all())
        peaks = [peak_mb(p.pid) for p in procs]
        cpus = [process_cpu(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
    sent = states.get("sent", 0)
    return {"issue_seconds": t1 - t0, "send_seconds": t2 - t1, "total_seconds": t2 - t0,
            "rate": sent / (t2 - t0), "sent": sent, "failed": states.get("failed", 0),
            "deferred": states.get("deferred", 0), "peak_mb": max(peaks),
            "cpu_ms_per_message": 1000 * sum(cpus) / max(sent, 1)}


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
    return bytes(data)  # plain bytes: the bare loop is given no promise about their form


async def bare_loop(port: int, connections: int, total: int, message: bytes,
                    client: str = "aiosmtplib") -> tuple[float, float]:
    """(b): `connections` persistent clients sending the same bytes; (start, end) times.

    client "aiosmtplib" is aiosmtplib.SMTP as released, "publisher" is publisher's subclass.
    """
    import aiosmtplib

    factory: type[aiosmtplib.SMTP] = aiosmtplib.SMTP
    if client == "publisher":
        try:
            from publisher.mail.smtpclient import Client
        except ImportError:  # a checkout from before the client subclass: (b') is n/a
            return 0.0, 0.0
        factory = Client
    remaining = [total]
    clients = [factory(hostname="127.0.0.1", port=port, timeout=60, start_tls=False)
               for _ in range(connections)]
    for c in clients:
        await c.connect()
        await c.ehlo()

    async def worker(c: aiosmtplib.SMTP) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await c.sendmail("news@news.example.kz", ["reader@example.org"], message)

    started = time.time()
    await asyncio.gather(*(worker(c) for c in clients))
    ended = time.time()
    for c in clients:
        await c.quit()
    return started, ended


def phase_bare(port: int, connections: int, total: int, message_file: Path, client: str,
               start_at: float) -> None:
    """Child process: one share of (b), starting at `start_at` (the same for every child)."""
    message = message_file.read_bytes()

    async def run() -> tuple[float, float]:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        return await bare_loop(port, connections, total, message, client)

    started, ended = asyncio.run(run())
    print(json.dumps({"started": started, "ended": ended}))


def bare(port: int, processes: int, connections: int, total: int, message: bytes,
         client: str, tmp: Path) -> float:
    """(b) in `processes` processes with `connections` each and `total` messages in all."""
    message_file = tmp / "message.eml"
    message_file.write_bytes(message)
    start_at = time.time() + 1.0  # every child connected and waiting, then all at once
    children = [subprocess.Popen(
        [sys.executable, __file__, "--phase", "bare", "--port", str(port),
         "--connections", str(connections), "--subscribers", str(n), "--client", client,
         "--data-dir", str(message_file), "--start-at", repr(start_at)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    ) for n in split(total, processes)]
    spans: list[dict[str, float]] = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode:
            raise SystemExit(f"bare loop child failed ({child.returncode})")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    span = max(s["ended"] for s in spans) - min(s["started"] for s in spans)
    return total / span if span > 0 else float("nan")


def smtp_source(port: int, connections: int, total: int, size: int) -> float:
    """(c): smtp-source with the same message size, sessions and message count."""
    started = time.perf_counter()
    subprocess.run(
        [SOURCE, "-d", "-s", str(connections), "-m", str(total), "-l", str(size),
         "-f", "news@news.example.kz", "-t", "reader@example.org", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return total / (time.perf_counter() - started)


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root
    sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1000"],
                            stdout=subprocess.DEVNULL)
    wait_for(port)
    return sink, port


def one_round(args: argparse.Namespace, port: int, n: int, tmp: Path) -> dict[str, Any]:
    """(a), (b), (b') and (c) for `n` worker processes on a fresh store, one after another."""
    conns = args.connections
    data_dir = tmp / f"var-{n}"
    setup(data_dir, args.subscribers, port, conns)
    if n == 1:
        spy = [*py_spy(args.py_spy, "publisher"), "--"] if args.py_spy else []
        child = subprocess.run(
            [*spy, sys.executable, __file__, "--phase", "publisher", "--data-dir",
             str(data_dir), "--port", str(port), "--connections", str(conns)],
            check=True, capture_output=True, text=True, cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
        )
        a = json.loads(child.stdout.strip().splitlines()[-1])
    else:
        a = run_workers(data_dir, "", port, n, conns // n, args.subscribers, args.py_spy)
    message = sample_message(data_dir, port, conns)
    shutil.rmtree(data_dir, ignore_errors=True)
    if not args.references:  # a memory check: (a) alone
        return {"workers": n, "message_bytes": len(message), "a": a, "b": float("nan"),
                "b_publisher_client": float("nan"), "c": float("nan")}
    b = bare(port, n, conns // n, args.subscribers, message, "aiosmtplib", tmp)
    b2 = bare(port, n, conns // n, args.subscribers, message, "publisher", tmp)
    c = smtp_source(port, conns, args.subscribers, len(message))
    return {"workers": n, "message_bytes": len(message), "a": a, "b": b,
            "b_publisher_client": b2, "c": c}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=8, help="SMTP connections in all")
    ap.add_argument("--workers", default="1",
                    help="comma-separated: 1 is one process (publisher send's path), N is N "
                         "`publisher worker` processes (default 1)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every figure this many times, interleaved; report medians")
    ap.add_argument("--no-references", dest="references", action="store_false",
                    help="measure (a) only (for the peak memory at 100,000 subscribers)")
    ap.add_argument("--py-spy", type=Path, metavar="DIR",
                    help="record each publisher process with py-spy into DIR (raw flame files)")
    ap.add_argument("--phase", choices=["publisher", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--client", default="aiosmtplib", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase == "publisher":
        phase_publisher(args.data_dir, args.port, args.connections)
        return 0
    if args.phase == "bare":
        phase_bare(args.port, args.connections, args.subscribers, args.data_dir, args.client,
                   args.start_at)
        return 0
    tools.require("smtp-sink")
    tools.require("smtp-source")
    counts = [int(x) for x in str(args.workers).split(",")]
    if any(n < 1 or args.connections % n for n in counts):
        ap.error("--connections must be a multiple of every --workers count")
    sink, port = start_sink()
    tmp = Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    runs: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            for n in counts:
                runs.append(got := one_round(args, port, n, tmp))
                print(f"round {r + 1}, {n} worker(s): (a) {got['a']['rate']:.0f}  "
                      f"(b) {got['b']:.0f}  (b') {got['b_publisher_client']:.0f}  "
                      f"(c) {got['c']:.0f} msg/s", flush=True)
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmessages: {args.subscribers} per run, {runs[0]['message_bytes']} bytes each, "
          f"{args.connections} SMTP connections in all (split between the processes), "
          f"smtp-sink on 127.0.0.1, {os.cpu_count()} CPU(s); medians of {args.rounds} round(s)")
    print("| processes | (a) msg/s | (b) msg/s | (b') msg/s | (c) msg/s | (a)/(b) | (a)/(b') "
          "| (a)/(c) | peak RSS MB | CPU ms/msg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        mine = [x for x in runs if x["workers"] == n]

        def med(f: Any, mine: list[dict[str, Any]] = mine) -> float:
            return float(statistics.median(f(x) for x in mine))

        print(f"| {n} | {med(lambda x: x['a']['rate']):.0f} | {med(lambda x: x['b']):.0f} "
              f"| {med(lambda x: x['b_publisher_client']):.0f} | {med(lambda x: x['c']):.0f} "
              f"| {med(lambda x: x['a']['rate'] / x['b']):.0%} "
              f"| {med(lambda x: x['a']['rate'] / x['b_publisher_client']):.0%} "
              f"| {med(lambda x: x['a']['rate'] / x['c']):.0%} "
              f"| {max(x['a']['peak_mb'] for x in mine):.0f} "
              f"| {med(lambda x: x['a'].get('cpu_ms_per_message', 0.0)):.2f} |")
    print("targets: (a)/(b) >= 90%; (a)/(c) >= 35% with 2 workers; peak RSS < 300 MB")
    print(json.dumps({"subscribers": args.subscribers, "connections": args.connections,
                      "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
