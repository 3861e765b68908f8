"""Structured logs of the long-running service: one JSON object per line, per event."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


class EventLog:
    """Writes `{"ts", "event", ...fields}` lines to stderr and to a log file (appended)."""

    def __init__(self, path: Path | None, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        # Jobs run in worker threads too; a line must never interleave with another.
        self._lock = threading.Lock()

    def event(self, event: str, level: str = "info", **fields: Any) -> None:
        ts = datetime.now(UTC).isoformat(timespec="milliseconds")
        doc = {"ts": ts, "level": level, "event": event}
        doc.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(doc, ensure_ascii=False, default=_default) + "\n"
        with self._lock:
            for out in (self._stream, self._file):
                if out is None:
                    continue
                try:
                    out.write(line)
                    out.flush()
                except (OSError, ValueError):  # a closed stderr must not stop the service
                    pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
