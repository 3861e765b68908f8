"""Benchmark: messages/s with 1, 2 and 4 `publisher worker` processes, PostgreSQL vs SQLite.

Every run delivers one digest issue to the same subscribers, against Postfix's smtp-sink on
127.0.0.1; the bare-aiosmtplib loop and smtp-source figures of benchmarks/send.py are
measured in the same run as the reference for what this machine can push at all.

    .venv/bin/python benchmarks/workers.py                       # 20,000 subscribers
    .venv/bin/python benchmarks/workers.py --subscribers 5000    # while developing
    PUBLISHER_TEST_PG_URL=postgresql://... benchmarks/workers.py # an existing server

Without PUBLISHER_TEST_PG_URL a throwaway PostgreSQL cluster is started (.ci/postgres.sh)
and stopped. Timing starts when the issue exists and the workers are already running and
registered (their start-up is not delivery), and stops when the last delivery is marked
sent. Reports ratios, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import send
import tools

KEY = send.KEY


def start_postgres() -> tuple[str, str]:
    """(url, cluster dir) of a throwaway cluster started by .ci/postgres.sh."""
    out = subprocess.run(
        ["bash", "-c", "source .ci/postgres.sh >/dev/null; echo $PUBLISHER_TEST_PG_URL; "
                       "echo $PG_DIR"],
        cwd=ROOT, check=True, capture_output=True, text=True,
        env={**os.environ, "PG_PORT": str(send.free_port())},
    )
    url, pg_dir = out.stdout.split()[-2:]
    return url, pg_dir


def stop_postgres(pg_dir: str) -> None:
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    cmd = f"{pg_bin}/pg_ctl -D {pg_dir}/data -m fast stop"
    argv = ["su", "postgres", "-s", "/bin/sh", "-c", cmd] if os.geteuid() == 0 else [
        "sh", "-c", cmd]
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(pg_dir, ignore_errors=True)


def fresh_pg_database(server_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    server, name = url.rsplit("/", 1)
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def one_run(data_dir: Path, store_url: str, port: int, workers: int, concurrency: int,
            subscribers: int) -> dict[str, float]:
    """Set up a store, start `workers` workers, create the issue, time until all are sent."""
    from sqlalchemy import func, select

    from publisher.mail.digest import create_issue
    from publisher.store.models import Delivery

    send.setup(data_dir, subscribers, port, concurrency, store_url)
    with send.started_workers(data_dir, store_url, port, workers, concurrency) as (
        cfg, store, _procs, _followers,
    ):
        t0 = time.perf_counter()
        issue = create_issue(cfg, store, "weekly")
        t1 = time.perf_counter()
        while True:
            with store.session() as s:
                sent = s.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.issue_id == issue, Delivery.state == "sent")) or 0
            if sent >= subscribers:
                break
            time.sleep(0.02)
        t2 = time.perf_counter()
    return {"issue_seconds": t1 - t0, "send_seconds": t2 - t1, "rate": subscribers / (t2 - t1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=4, help="SMTP connections per worker")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    tools.require("smtp-sink")
    tools.require("smtp-source")
    port = send.free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root
    sink = subprocess.Popen([send.SINK, *user, f"127.0.0.1:{port}", "1000"],
                            stdout=subprocess.DEVNULL)
    tmp = Path(tempfile.mkdtemp(prefix="publisher-bench-workers-"))
    pg_url, pg_dir = os.environ.get("PUBLISHER_TEST_PG_URL", ""), ""
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        send.wait_for(port)
        if not pg_url:
            pg_url, pg_dir = start_postgres()
        for backend in ("sqlite", "postgresql"):
            for n in counts:
                data_dir = tmp / f"{backend}-{n}"
                url = fresh_pg_database(pg_url) if backend == "postgresql" else ""
                try:
                    results[backend, n] = r = one_run(data_dir, url, port, n, args.concurrency,
                                                      args.subscribers)
                finally:
                    if url:
                        drop_pg_database(url)
                print(f"{backend:10s} {n} worker(s): {r['rate']:7.0f} msg/s "
                      f"(issue {r['issue_seconds']:.1f} s, send {r['send_seconds']:.1f} s)",
                      flush=True)
        message = send.sample_message(tmp / f"sqlite-{counts[0]}", port, args.concurrency)
        conns = args.concurrency * 2
        started, ended = asyncio.run(send.bare_loop(port, conns, args.subscribers, message))
        bare = args.subscribers / (ended - started)
        source = send.smtp_source(port, conns, args.subscribers, len(message))
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        if pg_dir:
            stop_postgres(pg_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmessages: {args.subscribers} per run, {len(message)} bytes each, "
          f"{args.concurrency} connections per worker, smtp-sink on 127.0.0.1, "
          f"{os.cpu_count()} CPU(s)")
    print(f"{'workers':>8} {'sqlite msg/s':>13} {'postgresql msg/s':>17} {'pg/sqlite':>10}")
    for n in counts:
        lite, pg = results["sqlite", n]["rate"], results["postgresql", n]["rate"]
        print(f"{n:>8} {lite:>13.0f} {pg:>17.0f} {pg / lite:>10.0%}")
    print(f"reference, {conns} connections: bare aiosmtplib loop {bare:.0f} msg/s, "
          f"smtp-source {source:.0f} msg/s")
    best = max(r["rate"] for r in results.values())
    print(f"best workers run / bare loop = {best / bare:.0%}; "
          f"4 vs 1 worker: sqlite {results['sqlite', counts[-1]]['rate'] / results['sqlite', counts[0]]['rate']:.2f}x, "  # noqa: E501
          f"postgresql {results['postgresql', counts[-1]]['rate'] / results['postgresql', counts[0]]['rate']:.2f}x")  # noqa: E501
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
