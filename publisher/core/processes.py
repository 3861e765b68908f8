"""Whether a process of this machine still runs (dead claim holders, stale task tables)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` exists; a process of another user counts as alive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
