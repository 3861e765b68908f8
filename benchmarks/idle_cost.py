"""CPU seconds used by an idle `publisher run` (no busy polling expected).

Starts `publisher run` (web app included) against a temp data dir with the demo-size
defaults plus a watched, empty import folder polled every `poll_seconds`, lets it settle,
then reads the process's user+system CPU time from /proc/<pid>/stat (via psutil) over a
measured window. Prints one JSON document:

    .venv/bin/python benchmarks/idle_cost.py [--seconds 60] [--poll 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured idle window")
    ap.add_argument("--settle", type=float, default=10.0, help="start-up time not measured")
    ap.add_argument("--poll", type=float, default=10.0, help="[import] poll_seconds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="publisher-idle-") as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        toml = Path(tmp) / "publisher.toml"
        toml.write_text(f'[import]\nwatch = ["{inbox}"]\npoll_seconds = {args.poll}\n',
                        encoding="utf-8")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
            "PUBLISHER_CONFIG": str(toml), "PUBLISHER_DATA_DIR": str(Path(tmp) / "var"),
            "PUBLISHER_SECRET_KEY": "idle-benchmark-" + "k" * 32,
            "PUBLISHER_WEB__PORT": str(free_port()),
        }
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "publisher", "run"], env=env, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc = psutil.Process(child.pid)
            time.sleep(args.settle)
            if child.poll() is not None:
                raise SystemExit(f"publisher run exited early with status {child.returncode}")
            startup_cpu = cpu(proc)
            t0 = time.monotonic()
            time.sleep(args.seconds)
            idle_cpu = cpu(proc) - startup_cpu
            wall = time.monotonic() - t0
            rss = proc.memory_info().rss
            child.send_signal(signal.SIGTERM)
            stop_t0 = time.monotonic()
            code = child.wait(timeout=60)
            stop_seconds = time.monotonic() - stop_t0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    print(json.dumps({
        "benchmark": "idle_cost",
        "poll_seconds": args.poll,
        "startup_window_seconds": args.settle,
        "startup_cpu_seconds": round(startup_cpu, 3),
        "idle_window_seconds": round(wall, 1),
        "idle_cpu_seconds": round(idle_cpu, 3),
        "idle_cpu_fraction": round(idle_cpu / wall, 5),
        "rss_mb": round(rss / 2**20, 1),
        "sigterm_exit_status": code,
        "sigterm_exit_seconds": round(stop_seconds, 2),
        "total_seconds": round(time.monotonic() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
