"""What `publisher status` reports: the store, imports, jobs, issues, deliveries, the lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from publisher.core.clock import Clock, system_clock
from publisher.core.config import Config
from publisher.service import health, lease
from publisher.service.cron import Schedule
from publisher.store.engine import Store
from publisher.store.models import (
    Article,
    ArticleText,
    Delivery,
    DigestIssue,
    ImportedFile,
    ListRun,
    MailingList,
)


def report(cfg: Config, store: Store, clock: Clock = system_clock) -> dict[str, Any]:
    now = clock()
    with store.session() as s:
        last_article = s.scalar(select(func.max(Article.updated_at)))
        # When an import last wrote a source text: the article's own date (often in the
        # past) says nothing about when it was imported.
        last_import = s.scalar(
            select(func.max(ArticleText.updated_at)).where(ArticleText.status == "source")
        )
        last_file = s.execute(
            select(ImportedFile.path, ImportedFile.imported_at)
            .order_by(ImportedFile.imported_at.desc()).limit(1)
        ).first()
        runs = {r.list_slug: r for r in s.scalars(select(ListRun))}
        issues: dict[str, dict[str, int]] = {}
        for slug, state, n in s.execute(
            select(MailingList.slug, DigestIssue.status, func.count())
            .join(MailingList, MailingList.id == DigestIssue.list_id)
            .group_by(MailingList.slug, DigestIssue.status)
        ):
            issues.setdefault(slug, {})[state] = n
        deliveries = {state: n for state, n in s.execute(
            select(Delivery.state, func.count()).group_by(Delivery.state)
        )}
    jobs: list[dict[str, Any]] = []
    for item in cfg.lists:
        run = runs.get(item.slug)
        jobs.append({
            "job": f"digest:{item.slug}", "list": item.slug, "schedule": item.schedule,
            "timezone": item.timezone,
            "next_run": Schedule.of(item).next_after(now),
            "last_slot": run.last_slot if run else None,
            "last_outcome": run.outcome if run else None,
            "max_lateness_hours": item.max_lateness_hours,
        })
    jobs.append({"job": "watch", "every_seconds": cfg.imports.poll_seconds,
                 "folders": list(cfg.imports.watch)})
    jobs.append({"job": "drain", "every_seconds": cfg.scheduler.drain_seconds})
    info = lease.current(store)
    from publisher.mail.history import pending_retries
    from publisher.mail.worker import workers

    return {
        "store": store.url,
        "data_dir": str(cfg.data_dir),
        "now": now,
        "last_import": {
            "imported_at": last_import,
            "article_changed_at": last_article,
            "watched_file": last_file[0] if last_file else None,
            "watched_file_at": last_file[1] if last_file else None,
        },
        "jobs": jobs,
        "issues": issues,
        "issues_total": sum(sum(v.values()) for v in issues.values()),
        "deliveries": deliveries,
        "scheduler": info.as_dict() if info else None,
        "workers": [w.as_dict() for w in workers(cfg, store, now)],
        "services": health.read(cfg.data_dir),
        "retries": {**pending_retries(store), "timezone": cfg.i18n.timezone},
    }


def when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"
