"""Benchmark: the web endpoint under load on 127.0.0.1 (one uvicorn worker).

  (a) GET /healthz            bare Starlette + uvicorn: the ceiling on this machine
  (b) GET /ru/feed.atom       a static feed with content ETag (200 with body)
  (c) GET /ru/feed.atom       with If-None-Match: what feed readers mostly send (304)
  (d) POST /unsubscribe/<t>   RFC 8058 one-click, rotating over many subscribers' tokens
                              (first pass writes, later passes are idempotent reads)

    .venv/bin/python benchmarks/web_load.py                    # 10 s per endpoint
    .venv/bin/python benchmarks/web_load.py --duration 3       # quick look

Uses wrk (Debian package wrk; exits 2 naming it when missing), or --httpx for an asyncio
loop. Reports requests/s, p99 latency and the ratio to (a); no pass/fail. Binds only to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tools

KEY = "benchmark-signing-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "PUBLISHER_DATA_DIR": str(data), "PUBLISHER_SECRET_KEY": KEY}


def prepare(data: Path, subscribers: int) -> list[str]:
    """Store with `subscribers` active addresses, the site built; returns unsubscribe paths."""
    from publisher.core import config
    from publisher.ingest import importer
    from publisher.publish import site
    from publisher.store.engine import open_store
    from publisher.subscribers import tokens
    from publisher.subscribers.registry import add

    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(data)})
    store = open_store(cfg)
    importer.import_paths(store, [ROOT / "samples" / "import"])
    site.build(cfg, store)
    paths = []
    with store.session() as s:
        for i in range(subscribers):
            sub = add(s, f"reader{i}@example.kz", list_slug="weekly", language="ru").subscriber
            paths.append(f"/unsubscribe/{tokens.make(KEY, 'unsubscribe', sub.token_id, 'weekly')}")
    store.close()
    return paths


def serve(data: Path, port: int) -> None:
    import uvicorn

    from publisher.core import config
    from publisher.store.engine import open_store
    from publisher.web import create_app

    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(data)})
    app = create_app(cfg, open_store(cfg))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited before answering")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not come up within 30 s")


def _lua(method: str, paths: list[str], headers: dict[str, str], body: str) -> str:
    items = ",".join(json.dumps(p) for p in paths)
    hdrs = ",".join(f"[{json.dumps(k)}]={json.dumps(v)}" for k, v in headers.items())
    return (
        f"local paths = {{{items}}}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n"
        f"  return wrk.format({json.dumps(method)}, paths[(n % #paths) + 1], {{{hdrs}}}, "
        f"{json.dumps(body) if body else 'nil'})\nend\n"
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    base: str, script: str, seconds: float, connections: int, tmp: Path
) -> dict[str, float]:
    lua = tmp / "load.lua"
    lua.write_text(script, encoding="utf-8")
    out = subprocess.run(
        [
            tools.require("wrk"),
            "-t2",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(lua),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(*p50.groups()) if p50 else -1.0,  # type: ignore[arg-type]
        "p99_ms": _ms(*p99.groups()) if p99 else -1.0,  # type: ignore[arg-type]
        "non_2xx_3xx": float(errors.group(1)) if errors else 0.0,
    }


async def _httpx_loop(
    base: str,
    method: str,
    paths: list[str],
    headers: dict[str, str],
    body: str,
    seconds: float,
    connections: int,
) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    bad = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections)

    async with httpx.AsyncClient(base_url=base, limits=limits) as client:

        async def worker(offset: int) -> None:
            nonlocal bad
            n = offset
            while time.monotonic() < deadline:
                n += connections
                t = time.perf_counter()
                r = await client.request(
                    method, paths[n % len(paths)], headers=headers, content=body or None
                )
                latencies.append(time.perf_counter() - t)
                bad += r.status_code >= 400

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "non_2xx_3xx": float(bad),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per endpoint (max 60)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--serve", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--httpx", action="store_true",
                        help="measure with an asyncio httpx loop instead of wrk")
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return 0
    use_wrk = not args.httpx
    if use_wrk:
        tools.require("wrk")
    seconds = float(int(max(1.0, min(args.duration, 60.0))))
    with tempfile.TemporaryDirectory(prefix="publisher-web-load-") as tmpdir:
        tmp = Path(tmpdir)
        data = tmp / "var"
        paths = prepare(data, args.subscribers)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(data), str(port)],
            env=_env(data),
        )
        try:
            _wait_up(base, proc)
            import httpx

            etag = httpx.get(f"{base}/ru/feed.atom").headers["etag"]
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            cases = [
                ("healthz", "GET", ["/healthz"], {}, ""),
                ("feed.atom 200", "GET", ["/ru/feed.atom"], {}, ""),
                ("feed.atom 304", "GET", ["/ru/feed.atom"], {"If-None-Match": etag}, ""),
                ("one-click POST", "POST", paths, form, "List-Unsubscribe=One-Click"),
            ]
            results: dict[str, dict[str, float]] = {}
            for name, method, targets, headers, body in cases:
                if use_wrk:
                    results[name] = run_wrk(
                        base, _lua(method, targets, headers, body), seconds, args.connections, tmp
                    )
                else:
                    results[name] = asyncio.run(
                        _httpx_loop(base, method, targets, headers, body, seconds, args.connections)
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    ceiling = results["healthz"]["rps"]
    print(
        f"tool: {'wrk' if use_wrk else 'httpx loop'}, {args.connections} connections, "
        f"{seconds:g} s each, one uvicorn worker, {os.cpu_count()} CPU(s), SQLite store"
    )
    print(
        f"{'endpoint':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs healthz':>12}{'errors':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<18}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
            f"{r['rps'] / ceiling:>11.0%}{r['non_2xx_3xx']:>8.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
