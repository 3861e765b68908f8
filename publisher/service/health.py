"""Health of a service's internal tasks (its delivery worker, its web server).

`publisher run` keeps one small JSON file per process in data_dir/run/, rewritten atomically
whenever a task starts, dies or is restarted, and removed on a clean stop. `publisher
status` reads them: a task that died shows up with its error and restart count instead of
the service silently running without it. The files describe processes of this machine
(data_dir is local); workers on other machines report through the store's heartbeats.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.core.atomic import write_text
from publisher.core.processes import alive


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


class TaskHealth:
    """The task table of one service process."""

    def __init__(self, data_dir: Path, holder: str) -> None:
        self.path = run_dir(data_dir) / f"service-{os.getpid()}.json"
        self.doc: dict[str, Any] = {
            "holder": holder, "host": socket.gethostname(), "pid": os.getpid(),
            "started_at": _now(), "tasks": {},
        }

    def set(self, name: str, state: str, *, restarts: int = 0, error: str | None = None,
            restart_at: datetime | None = None) -> None:
        task = self.doc["tasks"].setdefault(name, {})
        task.update(state=state, restarts=restarts, since=_now())
        if error is not None:
            task.update(last_error=error, last_error_at=_now())
        task["restart_at"] = restart_at.isoformat(timespec="seconds") if restart_at else None
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text(self.path, json.dumps(self.doc, ensure_ascii=False, indent=1) + "\n")

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read(data_dir: Path) -> list[dict[str, Any]]:
    """Every service process that left a task table here, with whether it still runs."""
    found = []
    for path in sorted(run_dir(data_dir).glob("service-*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced this instant, or not ours
        here = doc.get("host") == socket.gethostname()
        doc["running"] = alive(int(doc.get("pid", 0))) if here else None
        found.append(doc)
    return found
