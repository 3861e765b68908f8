"""Subscriber actions the store could not take in time, kept on disk until they are applied.

When the store stays busy past the web's wait (a long import, a lock held elsewhere), a
one-click unsubscribe, a confirmation or a preferences form is appended to a journal file
under data_dir, fsynced, and answered as done. The app applies the journal before its next
store write, at startup and every few seconds while entries wait; entries are applied in the
order they were made, so a later action of the same subscriber is never overtaken.

Files (in `folder`): `journal.jsonl` receives appends; a replay first renames it to
`<ns>.replaying` and deletes that only once every entry in it is stored, so a crash in
between replays it again (the actions are idempotent). Two lock files keep appends from
landing in a file being renamed, and one replay at a time per data_dir.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("publisher.web")

JOURNAL = "journal.jsonl"
REPLAYING = ".replaying"


class Journal:
    """An append-only, fsynced record of subscriber actions waiting for the store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / JOURNAL

    @contextmanager
    def _lock(self, name: str, *, wait: bool) -> Iterator[bool]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
            except BlockingIOError:
                got = False
            yield got
        finally:
            os.close(fd)  # closing releases the lock

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, entry: dict[str, Any]) -> None:
        """Record one action durably (on disk when this returns)."""
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode()
        with self._lock("append.lock", wait=True):
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                self._sync_folder()

    def pending(self) -> bool:
        """True while some entry waits (a stat or two: cheap enough for every request)."""
        try:
            if self.path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
        try:
            with os.scandir(self.folder) as found:
                return any(p.name.endswith(REPLAYING) for p in found)
        except FileNotFoundError:
            return False

    def replay(self, apply: Callable[[list[dict[str, Any]]], None]) -> int:
        """Hand the waiting entries to `apply` in order, oldest file first; the number applied.

        `apply` stores a batch or raises; on an exception the batch stays for the next
        replay and the exception propagates. Another replay in progress: returns 0 at once.
        """
        applied = 0
        with self._lock("replay.lock", wait=False) as mine:
            if not mine:
                return 0
            with self._lock("append.lock", wait=True):
                if self.path.exists() and self.path.stat().st_size > 0:
                    self.path.rename(self.folder / f"{time.time_ns():020d}{REPLAYING}")
                    self._sync_folder()
            for batch in sorted(self.folder.glob(f"*{REPLAYING}")):
                entries = list(_entries(batch))
                if entries:
                    apply(entries)
                batch.unlink()
                self._sync_folder()
                applied += len(entries)
        return applied


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                # Only a crash in the middle of an append leaves a broken (last) line.
                log.error("journal %s: line %d unreadable, skipped: %r", path, number, line)
                continue
            if isinstance(entry, dict):
                yield entry
