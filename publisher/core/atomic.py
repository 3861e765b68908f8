"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The bytes go to a uniquely named temp file in the target's directory (same filesystem, so
os.replace is an atomic rename), are fsynced, then renamed over the target. Unique temp
names keep two concurrent writers of the same path from clobbering each other's halves;
the last rename wins with a complete file. Unchanged bytes are not rewritten, so mtimes,
ETags and rsync stay quiet after a rebuild that changed nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Static output is read by a web server running as another user.
FILE_MODE = 0o644


def same_bytes(path: Path, data: bytes) -> bool:
    """True when `path` already holds exactly `data`."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError):
        return False


def write_bytes(path: Path, data: bytes, *, fsync: bool = True) -> bool:
    """Write `data` to `path` atomically; False (and no write) when it is already there."""
    if same_bytes(path, data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_text(path: Path, text: str, *, fsync: bool = True) -> bool:
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)
