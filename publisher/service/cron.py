"""List schedules: 5-field cron on the local wall clock of the list's timezone.

APScheduler 3's CronTrigger numbers weekdays from Monday (cron: Sunday = 0) and, in a DST
zone, fires twice in the repeated autumn hour and can even step backwards there. A digest
must go out once per wall-clock slot, so the cron fields are matched on naive local wall
time and each match is mapped to one UTC instant:

- a wall time that occurs twice (autumn) fires once, at its first occurrence;
- a wall time skipped by the spring jump fires once, shifted by the jump (02:30 -> 03:30);
- instants are strictly increasing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from publisher.core.config import ListConfig
from publisher.core.errors import ConfigError

_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_HINT = 'use five cron fields "minute hour day month day_of_week", e.g. "0 9 * * mon"'
_TINY = timedelta(microseconds=1)


def _day(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and int(token) <= 7:
        return int(token)  # 7 is Sunday too; taken modulo 7 by the caller
    if token in _CRON_DAYS:
        return _CRON_DAYS.index(token)
    raise ValueError(f"unknown day of week {token!r}")


def _day_of_week(field: str) -> str:
    """Cron's day_of_week (0 or 7 = Sunday, names allowed) as APScheduler weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _day(a), _day(b)
            if lo > hi:
                raise ValueError(f"day range {base!r} runs backwards")
        else:
            lo = _day(base)
            hi = 6 if slash else lo
        days.update(d % 7 for d in range(lo, hi + 1, step))
    # APScheduler's own names (mon..sun) sidestep its Monday-based numbering.
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


class Schedule:
    """One list's schedule: `next_after` and `latest_at_or_before` give UTC instants."""

    def __init__(self, expr: str, timezone: str) -> None:
        fields = expr.split()
        if len(fields) != 5:
            raise ValueError(f"{len(fields)} fields instead of 5")
        try:
            self.tz: tzinfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {timezone!r}") from None
        self.expr = expr
        self.timezone = timezone
        minute, hour, day, month, dow = fields
        # Matched on naive wall time: UTC here only means "no DST arithmetic".
        self._wall = CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=_day_of_week(dow),
            second=0, timezone=UTC,
        )

    @classmethod
    def of(cls, item: ListConfig) -> Schedule:
        """The schedule of a configured list, or ConfigError naming the list and the field."""
        try:
            return cls(item.schedule, item.timezone)
        except ValueError as exc:
            raise ConfigError(
                f"[[lists]] {item.slug}: schedule {item.schedule!r} in {item.timezone}: {exc}",
                _HINT,
            ) from None

    def next_after(self, after: datetime) -> datetime | None:
        """The first slot strictly after `after` (aware), in UTC; None if there is none."""
        wall = after.astimezone(self.tz).replace(tzinfo=None)
        for _ in range(1000):
            match: datetime | None = self._wall.get_next_fire_time(
                None, (wall + _TINY).replace(tzinfo=UTC)
            )
            if match is None:
                return None
            # fold=0: the first occurrence of a repeated time; a skipped time lands past the jump.
            instant: datetime = match.replace(tzinfo=self.tz).astimezone(UTC)
            if instant > after:
                return instant
            wall = match.replace(tzinfo=None)
        raise RuntimeError(f"schedule {self.expr!r} does not advance")  # pragma: no cover

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The most recent slot at or before `at`; None if none within about two years."""
        window = timedelta(minutes=2)
        while window < timedelta(days=800):
            first = self.next_after(at - window)
            if first is not None and first <= at:
                last = first
                while (following := self.next_after(last)) is not None and following <= at:
                    last = following
                return last
            window *= 4
        return None


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger firing at a Schedule's slots (in-memory job store only)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time if previous_fire_time is not None else now - _TINY
        found: datetime | None = self.schedule.next_after(after)
        return found

    def __str__(self) -> str:
        return f"cron[{self.schedule.expr}, {self.schedule.timezone}]"
