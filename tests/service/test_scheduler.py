"""Digest runs after downtime: one catch-up issue within max_lateness, else skipped; never one
per missed slot. The clock is injected: every `now` below is an instant the test chooses."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from publisher.core.config import Config, ListConfig
from publisher.mail.digest import create_issue
from publisher.service.scheduler import handle_due_slot
from publisher.store.engine import Store
from publisher.store.models import DigestIssue, ListRun
from tests.conftest import Cli

# Weekly, Monday 09:00 in Almaty = Monday 04:00 UTC.
MONDAY = datetime(2026, 11, 16, 4, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def weekly(store_cfg: Config) -> tuple[Config, ListConfig]:
    item = ListConfig(slug="weekly", schedule="0 9 * * mon", timezone="Asia/Almaty",
                      max_lateness_hours=12.0, send_empty=True)
    return replace(store_cfg, lists=[item]), item


def issue_slots(store: Store) -> list[datetime]:
    with store.session() as s:
        return list(s.scalars(select(DigestIssue.slot).order_by(DigestIssue.slot)))


def test_first_start_does_not_mail_a_past_slot(
    store: Store, weekly: tuple[Config, ListConfig]
) -> None:
    """Starting the service for the first time after Monday 09:00 sends nothing till next week."""
    cfg, item = weekly
    out = handle_due_slot(cfg, store, item, MONDAY + timedelta(hours=2))
    assert out.outcome == "baseline" and issue_slots(store) == []
    out = handle_due_slot(cfg, store, item, MONDAY + WEEK + timedelta(seconds=1))
    assert out.outcome == "issued" and issue_slots(store) == [MONDAY + WEEK]


def test_on_time_run_issues_once(store: Store, weekly: tuple[Config, ListConfig]) -> None:
    """The cron run at the slot creates the issue; running again for it changes nothing."""
    cfg, item = weekly
    handle_due_slot(cfg, store, item, MONDAY - timedelta(days=1))  # service already running
    out = handle_due_slot(cfg, store, item, MONDAY)
    assert out.outcome == "issued" and out.lateness_seconds == 0
    again = handle_due_slot(cfg, store, item, MONDAY + timedelta(minutes=5))
    assert again.outcome == "done" and issue_slots(store) == [MONDAY]


def test_cron_waking_a_moment_early_still_issues_the_slot(
    store: Store, weekly: tuple[Config, ListConfig]
) -> None:
    """A job woken a hair before 09:00 answers the 09:00 slot rather than the previous week's."""
    cfg, item = weekly
    handle_due_slot(cfg, store, item, MONDAY - timedelta(days=1))
    out = handle_due_slot(cfg, store, item, MONDAY - timedelta(milliseconds=5),
                          early=timedelta(seconds=2))
    assert out.outcome == "issued" and issue_slots(store) == [MONDAY]


def test_catch_up_within_max_lateness_once(store: Store, weekly: tuple[Config, ListConfig]) -> None:
    """Down over Monday 09:00 and back by 17:00 (8 h late, limit 12 h): one catch-up issue."""
    cfg, item = weekly
    handle_due_slot(cfg, store, item, MONDAY - timedelta(days=2))  # last seen before the slot
    out = handle_due_slot(cfg, store, item, MONDAY + timedelta(hours=8))
    assert out.outcome == "issued" and out.slot == MONDAY
    assert out.lateness_seconds == 8 * 3600
    # A crash and another restart: still exactly one issue for that slot.
    assert handle_due_slot(cfg, store, item, MONDAY + timedelta(hours=9)).outcome == "done"
    assert issue_slots(store) == [MONDAY]


def test_catch_up_beyond_max_lateness_is_skipped(
    store: Store, weekly: tuple[Config, ListConfig]
) -> None:
    """Back 13 h after the slot (limit 12 h): no issue, recorded as skipped; next week is normal."""
    cfg, item = weekly
    handle_due_slot(cfg, store, item, MONDAY - timedelta(days=2))
    out = handle_due_slot(cfg, store, item, MONDAY + timedelta(hours=13))
    assert out.outcome == "skipped" and issue_slots(store) == []
    with store.session() as s:
        run = s.get(ListRun, "weekly")
        assert run is not None and (run.outcome, run.last_slot) == ("skipped", MONDAY)
    assert handle_due_slot(cfg, store, item, MONDAY + timedelta(hours=14)).outcome == "done"
    assert handle_due_slot(cfg, store, item, MONDAY + WEEK).outcome == "issued"
    assert issue_slots(store) == [MONDAY + WEEK]


def test_long_downtime_gives_one_issue_not_one_per_missed_slot(
    store: Store, weekly: tuple[Config, ListConfig]
) -> None:
    """Down for three weeks, back 2 h after a Monday slot: one issue, for that latest slot."""
    cfg, item = weekly
    handle_due_slot(cfg, store, item, MONDAY - timedelta(days=1))
    out = handle_due_slot(cfg, store, item, MONDAY + 3 * WEEK + timedelta(hours=2))
    assert out.outcome == "issued"
    assert issue_slots(store) == [MONDAY + 3 * WEEK]


def test_slot_already_sent_by_hand_is_not_issued_again(
    store: Store, weekly: tuple[Config, ListConfig]
) -> None:
    """If the slot's issue exists (created by another process), the scheduler leaves it alone."""
    cfg, item = weekly
    handle_due_slot(cfg, store, item, MONDAY - timedelta(days=1))
    create_issue(cfg, store, "weekly", now=MONDAY, slot=MONDAY)
    assert handle_due_slot(cfg, store, item, MONDAY + timedelta(hours=1)).outcome == "done"
    assert issue_slots(store) == [MONDAY]


def test_dst_zone_catch_up_uses_the_local_slot(store: Store, store_cfg: Config) -> None:
    """A Berlin 09:00 list caught up on the autumn change day answers the 08:00 UTC slot."""
    item = ListConfig(slug="berlin", schedule="0 9 * * *", timezone="Europe/Berlin",
                      max_lateness_hours=3.0, send_empty=True)
    cfg = replace(store_cfg, lists=[item])
    change_day = datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET
    handle_due_slot(cfg, store, item, change_day - timedelta(hours=20))
    out = handle_due_slot(cfg, store, item, change_day + timedelta(hours=2, minutes=30))
    assert (out.outcome, out.slot) == ("issued", change_day)


def test_status_shows_jobs_counts_and_the_active_scheduler(store: Store, cli: Cli) -> None:
    """`publisher status` names the store, each job's next run and who is scheduling now."""
    from publisher.service.lease import Lease

    Lease(store, holder="host:1234:abcd", ttl=60).acquire()
    result = cli("status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["scheduler"]["holder"] == "host:1234:abcd" and doc["scheduler"]["active"]
    digest = next(j for j in doc["jobs"] if j["job"] == "digest:weekly")
    assert digest["timezone"] == "Asia/Almaty" and digest["next_run"].endswith("04:00:00+00:00")
    assert {j["job"] for j in doc["jobs"]} >= {"watch", "drain"}
    assert doc["deliveries"] == {} and doc["issues_total"] == 0
    text = cli("status")
    assert text.exit_code == 0
    assert "host:1234:abcd" in text.output and "digest:weekly" in text.output
