"""List schedules: cron in the list's timezone fires at the right UTC instants, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from publisher.core.config import ListConfig
from publisher.core.errors import ConfigError
from publisher.service.cron import Schedule, ScheduleTrigger


def fires(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    t = schedule.next_after(start)
    while t is not None and t < end:
        out.append(t)
        t = schedule.next_after(t)
    return out


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_almaty_weekly_monday_nine_is_four_utc_all_year() -> None:
    """A Monday 09:00 digest in Almaty (UTC+5, no DST) goes out at 04:00 UTC every week."""
    s = Schedule("0 9 * * mon", "Asia/Almaty")
    got = fires(s, utc(2026, 1, 1), utc(2027, 1, 1))
    assert len(got) == 52
    assert all(t.weekday() == 0 and (t.hour, t.minute) == (4, 0) for t in got)


def test_moscow_has_no_dst_either() -> None:
    """Moscow (UTC+3 all year) keeps 09:00 at 06:00 UTC across the old DST dates."""
    s = Schedule("0 9 * * *", "Europe/Moscow")
    got = fires(s, utc(2026, 3, 25), utc(2026, 4, 2))
    got += fires(s, utc(2026, 10, 20), utc(2026, 10, 30))
    assert {(t.hour, t.minute) for t in got} == {(6, 0)}
    assert len(got) == 8 + 10


def test_berlin_daily_nine_follows_the_dst_changes() -> None:
    """In Berlin 09:00 is 08:00 UTC in winter and 07:00 UTC in summer, switching on the day."""
    s = Schedule("0 9 * * *", "Europe/Berlin")
    spring = fires(s, utc(2026, 3, 27), utc(2026, 3, 31))
    assert spring == [
        utc(2026, 3, 27, 8), utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)
    ]
    autumn = fires(s, utc(2026, 10, 23), utc(2026, 10, 27))
    assert autumn == [
        utc(2026, 10, 23, 7), utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)
    ]


def test_berlin_repeated_autumn_hour_fires_once() -> None:
    """02:30 happens twice on the autumn change night; the digest goes out once, not twice."""
    s = Schedule("30 2 * * *", "Europe/Berlin")
    got = fires(s, utc(2026, 10, 24), utc(2026, 10, 27))
    assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    # Plain APScheduler 3 fires this slot twice that night: the reason cron.py exists.
    plain = CronTrigger.from_crontab("30 2 * * *", timezone="Europe/Berlin")
    first = plain.get_next_fire_time(None, utc(2026, 10, 25))
    second = plain.get_next_fire_time(first, first + timedelta(microseconds=1))
    assert second.date() == first.date()


def test_berlin_skipped_spring_time_still_fires_that_day() -> None:
    """02:30 does not exist on the spring change day; the digest still goes out, once, at 03:30."""
    s = Schedule("30 2 * * *", "Europe/Berlin")
    got = fires(s, utc(2026, 3, 28), utc(2026, 3, 31))
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_half_hourly_schedule_never_steps_backwards_over_dst() -> None:
    """Every slot is later than the one before, through both Berlin changes."""
    s = Schedule("*/30 * * * *", "Europe/Berlin")
    for start in (utc(2026, 3, 28, 22), utc(2026, 10, 24, 22)):
        got = fires(s, start, start + timedelta(hours=6))
        assert got == sorted(set(got))
        # Each wall-clock time fires once: the repeated autumn hour leaves one 90-minute gap.
        gaps = [b - a for a, b in pairwise(got)]
        assert max(gaps) <= timedelta(minutes=90) and len(got) >= 9
        walls = [t.astimezone(s.tz).replace(tzinfo=None) for t in got]
        assert len(walls) == len(set(walls))


def test_cron_weekday_numbers_mean_what_cron_means() -> None:
    """0 and 7 are Sunday and 1 is Monday, as in crontab (APScheduler 3 alone says 0 = Monday)."""
    start = utc(2026, 11, 16)  # a Monday
    for field, weekday in (("0", 6), ("7", 6), ("1", 0), ("sun", 6), ("5", 4)):
        t = Schedule(f"0 12 * * {field}", "UTC").next_after(start)
        assert t is not None and t.weekday() == weekday, field
    two_weeks = start + timedelta(days=14)
    weekdays = fires(Schedule("0 12 * * 1-5", "UTC"), start, two_weeks)
    assert {t.weekday() for t in weekdays} == {0, 1, 2, 3, 4}
    weekend = fires(Schedule("0 12 * * 5-7", "UTC"), start, two_weeks)
    assert {t.weekday() for t in weekend} == {4, 5, 6}


def test_latest_slot_at_or_before() -> None:
    """The slot a late run answers is the most recent one, not an older missed one."""
    s = Schedule("0 9 * * mon", "Asia/Almaty")
    assert s.latest_at_or_before(utc(2026, 11, 20, 12)) == utc(2026, 11, 16, 4)
    assert s.latest_at_or_before(utc(2026, 11, 16, 4)) == utc(2026, 11, 16, 4)
    minutely = Schedule("* * * * *", "Asia/Almaty")
    assert minutely.latest_at_or_before(utc(2026, 11, 20, 12, 0, 59)) == utc(2026, 11, 20, 12)


def test_apscheduler_trigger_uses_the_same_slots() -> None:
    """The trigger APScheduler runs gives the schedule's slots in order."""
    trigger = ScheduleTrigger(Schedule("30 2 * * *", "Europe/Berlin"))
    now = utc(2026, 10, 24, 12)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first)
    assert (first, second) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))


@pytest.mark.parametrize(
    ("schedule", "timezone", "why"),
    [("0 9 * *", "Asia/Almaty", "4 fields"), ("0 25 * * *", "Asia/Almaty", "25"),
     ("0 9 * * 8", "Asia/Almaty", "day of week"), ("0 9 * * *", "Mars/Olympus", "timezone")],
)
def test_bad_schedule_is_rejected_naming_the_list(schedule: str, timezone: str, why: str) -> None:
    """A typo in a list's schedule is reported with the list, the value and an example."""
    with pytest.raises(ConfigError) as err:
        Schedule.of(ListConfig(slug="weekly", schedule=schedule, timezone=timezone))
    assert "weekly" in str(err.value) and why in str(err.value) and "0 9 * * mon" in str(err.value)


def test_run_refuses_a_bad_schedule_with_exit_2(tmp_path: Path) -> None:
    """`publisher run` with a broken schedule stops at once with exit status 2."""
    from click.testing import CliRunner

    from publisher.cli.main import main

    toml = tmp_path / "publisher.toml"
    toml.write_text('[[lists]]\nslug = "daily"\nschedule = "0 9 * *"\n', encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--config", str(toml), "run", "--no-web"],
        env={"PUBLISHER_DATA_DIR": str(tmp_path / "var"), "PUBLISHER_SECRET_KEY": "k" * 32},
    )
    assert result.exit_code == 2
    assert "daily" in result.output and "schedule" in result.output
