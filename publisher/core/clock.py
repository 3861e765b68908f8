"""The current time, injectable so schedule and catch-up logic can be tested at any instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Timezone-aware UTC now (the default clock)."""
    return datetime.now(UTC)
