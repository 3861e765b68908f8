"""`publisher run`: the long-running service (APScheduler 3, asyncio).

What happened lives in the store, never in APScheduler's job store: the jobs are created
from the configuration each time this process becomes the active scheduler, and each
list's last handled slot is in `list_runs` (issue creation is once per slot anyway, by the
`issues (list_id, slot)` unique key). On activation a list whose latest slot passed
unhandled gets one catch-up issue if it is no later than the list's max_lateness_hours,
else that slot is recorded as skipped; older missed slots are never issued.

Only the holder of the store's lease acts; other processes wait as standbys and take over
within about `lease_seconds` after it dies. The web app runs in every process (unless
--no-web): serving pages is not scheduler work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from publisher.core.clock import Clock, system_clock
from publisher.core.config import Config, ListConfig
from publisher.core.errors import PublisherError
from publisher.core.eventlog import EventLog
from publisher.service.cron import Schedule, ScheduleTrigger
from publisher.service.health import TaskHealth
from publisher.service.lease import Lease
from publisher.service.watch import Debounce, FolderWatch, content_signature, import_stable
from publisher.store.engine import Store
from publisher.store.models import DigestIssue, ListRun, MailingList

T = TypeVar("T")

# APScheduler may wake a hair before the slot by the wall clock; a slot this close counts.
EARLY = timedelta(seconds=2)


@dataclass(frozen=True)
class SlotOutcome:
    list_slug: str
    slot: datetime | None
    # issued | empty (nothing new) | skipped (too late) | baseline (first start) | done | none
    outcome: str
    issue_id: int | None = None
    lateness_seconds: float | None = None


def last_handled(store: Store, list_slug: str) -> datetime | None:
    """The newest slot of the list already dealt with, by the scheduler or by `send`."""
    with store.session() as s:
        run = s.get(ListRun, list_slug)
        issued = s.scalar(
            select(func.max(DigestIssue.slot)).join(MailingList)
            .where(MailingList.slug == list_slug)
        )
    known = [t for t in (run.last_slot if run else None, issued) if t is not None]
    return max(known) if known else None


def _record(store: Store, item: ListConfig, slot: datetime, outcome: str, issue_id: int | None,
            now: datetime) -> None:
    with store.session() as s:
        s.merge(ListRun(list_slug=item.slug, last_slot=slot, outcome=outcome,
                        issue_id=issue_id, updated_at=now))


def handle_due_slot(
    cfg: Config, store: Store, item: ListConfig, now: datetime, *, early: timedelta = timedelta(0)
) -> SlotOutcome:
    """Create the issue of the list's latest slot at `now` if it is due and not too late.

    Idempotent: the regular cron run, the catch-up on start and a run after a crash all
    come here, and a slot already handled is left alone. `early`: how far ahead a slot
    still counts as due (the cron job may wake a moment before its slot).
    """
    slot = Schedule.of(item).latest_at_or_before(now + early)
    if slot is None:
        return SlotOutcome(item.slug, None, "none")
    handled = last_handled(store, item.slug)
    if handled is not None and handled >= slot:
        return SlotOutcome(item.slug, slot, "done")
    lateness = max((now - slot).total_seconds(), 0.0)
    if handled is None:
        # First start on this store: the slot passed before anyone ran the service, so it
        # is not a missed run; mailing everyone at install time would surprise.
        _record(store, item, slot, "baseline", None, now)
        return SlotOutcome(item.slug, slot, "baseline", None, lateness)
    if lateness > item.max_lateness_hours * 3600:
        _record(store, item, slot, "skipped", None, now)
        return SlotOutcome(item.slug, slot, "skipped", None, lateness)
    from publisher.mail.digest import create_issue

    issue_id = create_issue(cfg, store, item.slug, now=now, slot=slot)
    outcome = "issued" if issue_id is not None else "empty"
    _record(store, item, slot, outcome, issue_id, now)
    return SlotOutcome(item.slug, slot, outcome, issue_id, lateness)


def _counts(report: Any) -> Any:
    if report is None:
        return None
    if hasattr(report, "as_dict"):
        return report.as_dict()
    if is_dataclass(report) and not isinstance(report, type):
        return asdict(report)
    return str(report)


def _anything(counts: Any) -> bool:
    """Whether a report has a non-zero number anywhere (idle polls are not logged)."""
    if isinstance(counts, bool):
        return counts
    if isinstance(counts, int):  # floats are timings and rates, not work done
        return counts != 0
    if isinstance(counts, dict):
        return any(_anything(v) for v in counts.values())
    if isinstance(counts, list | tuple):
        return any(_anything(v) for v in counts)
    return False


class _EventLogHandler(logging.Handler):
    """APScheduler's and uvicorn's warnings as structured lines too."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if "maximum number of running instances" in record.getMessage():
            return  # a poll coinciding with a slow run of itself: coalescing, not a fault
        error = repr(record.exc_info[1]) if record.exc_info else None
        self.log.event(record.name, level=record.levelname.lower(), message=record.getMessage(),
                       error=error)


@contextlib.contextmanager
def _library_logs(log: EventLog) -> Iterator[None]:
    handler = _EventLogHandler(log)
    loggers = [logging.getLogger(n) for n in ("apscheduler", "uvicorn.error", "publisher")]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
            lg.propagate = True


class Service:
    """One `publisher run` process: lease loop, APScheduler jobs while active, the web app."""

    def __init__(
        self, cfg: Config, store: Store, log: EventLog, *, web: bool = True,
        clock: Clock = system_clock, holder: str | None = None, worker: bool = True,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.log = log
        self.web = web
        # Delivery is a worker's job (publisher.worker), in every process, active or not:
        # workers share the store safely, so a standby's worker helps instead of idling.
        self.worker: Any = None
        if worker:
            from publisher.mail.worker import Worker

            self.worker = Worker(cfg, store, events=log)
        self.clock = clock
        self.schedules = {item.slug: Schedule.of(item) for item in cfg.lists}  # fail early
        self.lease = Lease(store, ttl=cfg.scheduler.lease_seconds, holder=holder)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="publisher-job")
        # Its own thread: a long import or build must never delay the heartbeat.
        self.lease_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher-lease")
        self.watch = FolderWatch(cfg.imports.watch)
        self.debounce = Debounce(cfg.scheduler.rebuild_delay_seconds)
        self.active = False
        self.failure: PublisherError | None = None
        self.abandoned = False  # work still running in a thread when the process exits
        self._scheduler: Any = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._signature: tuple[Any, ...] | None = None  # of the store the site was built from
        self._requested: tuple[Any, ...] | None = None  # of the change a rebuild is pending for
        self._rebuilding = False
        self._standby_logged: str | None = None
        self._web_server: Any = None
        self.stop = asyncio.Event()
        self._stop_work = asyncio.Event()
        self.health = TaskHealth(cfg.data_dir, self.lease.holder)

    # -- plumbing --------------------------------------------------------------------------

    async def _thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Blocking store or file work off the event loop (heartbeat and web stay live)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    async def _lease_op(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.lease_pool, fn)

    async def _job(self, job: str, body: Callable[[], Awaitable[Any]], *, always_log: bool = True,
                   **fields: Any) -> Any:
        """Runs one job: tracked for shutdown, one log line with counts and duration."""
        if self._stop_work.is_set():
            return None  # started by APScheduler in the instant before shutdown
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        started = time.monotonic()
        try:
            counts = await body()
        except Exception as exc:  # a failed run is logged; the next run tries again
            self.log.event("job_failed", level="error", job=job, error=str(exc),
                           error_type=type(exc).__name__,
                           duration=round(time.monotonic() - started, 3), **fields)
            return None
        finally:
            if task is not None:
                self._inflight.discard(task)
        if always_log or _anything(counts):
            self.log.event("job", job=job, counts=counts,
                           duration=round(time.monotonic() - started, 3), **fields)
        return counts

    # -- jobs ------------------------------------------------------------------------------

    async def job_watch(self) -> None:
        async def body() -> Any:
            paths = await self._thread(self.watch.stable_files)
            report = None
            if paths:
                report = await self._thread(
                    import_stable, self.store, self.watch, paths, self.clock
                )
                for bad in report.rejected:
                    self.log.event("import_rejected", level="warning", job="watch", **bad)
            signature = await self._thread(content_signature, self.store)
            if signature not in (self._signature, self._requested) and not self._rebuilding:
                # Only a new change postpones the rebuild; an unchanged store does not.
                self._requested = signature
                self._request_rebuild()
            return report.as_dict() if report else None

        await self._job("watch", body, always_log=False)

    def _request_rebuild(self) -> None:
        if self._scheduler is None:
            return
        from apscheduler.triggers.date import DateTrigger

        run_at = self.debounce.request(datetime.now(UTC))
        self._scheduler.add_job(self.job_rebuild, DateTrigger(run_at), id="rebuild",
                                name="rebuild", replace_existing=True)

    async def job_rebuild(self) -> None:
        async def body() -> Any:
            from publisher.publish import site

            self.debounce.done()
            self._rebuilding = True
            try:
                signature = await self._thread(content_signature, self.store)
                report = await self._thread(site.build, self.cfg, self.store)
                self._signature = signature
            finally:
                self._rebuilding = False
            # Changes that landed during the build are picked up by the next watch poll.
            return _counts(report)

        await self._job("rebuild", body)

    async def job_digest(self, slug: str, job: str = "digest") -> None:
        item = self.cfg.get_list(slug)
        early = EARLY if job == "digest" else timedelta(0)

        async def body() -> Any:
            out = await self._thread(
                handle_due_slot, self.cfg, self.store, item, self.clock(), early=early
            )
            if out.issue_id is not None:
                from publisher.publish import site

                # The digest links to article pages: they must exist before it goes out.
                await self._thread(site.build, self.cfg, self.store)
                self._kick_drain()
            return {"slot": out.slot, "outcome": out.outcome, "issue_id": out.issue_id,
                    "lateness_seconds": out.lateness_seconds}

        await self._job(job, body, list=slug)

    async def job_catchup(self) -> None:
        for item in self.cfg.lists:
            await self.job_digest(item.slug, job="catchup")

    def _kick_drain(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def job_drain(self) -> None:
        # The worker polls on its own; this wakes it for deferred retries that became due.
        # With --no-worker this process delivers nothing: separate workers do.
        self._kick_drain()

    async def job_bounces(self) -> None:
        """Act on the bounce and complaint reports that arrived in [bounces] maildirs and,
        when [bounces] imap_host is set, in the IMAP folder."""
        from publisher.mail.bouncebox import is_maildir, process_imap, process_paths

        async def body() -> Any:
            found: dict[str, Any] = {}
            # A folder not there yet (the MTA creates it on the first bounce) is no error.
            boxes = [p for p in map(Path, self.cfg.bounces.maildirs) if is_maildir(p)]
            if boxes:
                summary = await self._thread(
                    process_paths, self.cfg, self.store, boxes, self.cfg.secret_key
                )
                found["maildirs"] = summary.as_dict()
            if self.cfg.bounces.imap_host:
                summary = await self._thread(
                    process_imap, self.cfg, self.store, self.cfg.secret_key
                )
                found["imap"] = summary.as_dict()
            return found or None

        await self._job("bounces", body, always_log=False)

    # -- activation ------------------------------------------------------------------------

    def _start_jobs(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        now = datetime.now(UTC)
        sched = AsyncIOScheduler(
            timezone=UTC,
            # Late runs still run, once: the job itself decides from the store what is due.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        sched.add_job(self.job_watch, IntervalTrigger(seconds=self.cfg.imports.poll_seconds),
                      id="watch", name="watch", next_run_time=now)
        sched.add_job(self.job_drain, IntervalTrigger(seconds=self.cfg.scheduler.drain_seconds),
                      id="drain", name="drain", next_run_time=now)
        for item in self.cfg.lists:
            sched.add_job(self.job_digest, ScheduleTrigger(self.schedules[item.slug]),
                          args=[item.slug], id=f"digest:{item.slug}", name=f"digest:{item.slug}")
        if self.cfg.bounces.maildirs or self.cfg.bounces.imap_host:
            sched.add_job(self.job_bounces,
                          IntervalTrigger(seconds=max(self.cfg.bounces.poll_seconds, 1.0)),
                          id="bounces", name="bounces", next_run_time=now)
        sched.add_job(self.job_catchup, DateTrigger(now), id="catchup", name="catchup")
        sched.start()
        self._scheduler = sched

    async def _become_active(self) -> None:
        self.active = True
        self._standby_logged = None
        self._stop_work = asyncio.Event()
        self._signature = self._requested = None  # the first watch poll rebuilds the site
        for folder in self.watch.missing():
            self.log.event("watch_folder_missing", level="warning", folder=folder)
        self._start_jobs()
        self.log.event("active", holder=self.lease.holder, lists=[x.slug for x in self.cfg.lists],
                       watch=self.cfg.imports.watch)

    async def _stop_jobs(self, reason: str) -> None:
        """No new work; the message in flight finishes; wait (bounded) for running jobs."""
        sched, self._scheduler = self._scheduler, None
        if sched is not None:
            # Pause, not shutdown: APScheduler's shutdown cancels running coroutine jobs,
            # which would cut the message in flight.
            sched.pause()
        self._stop_work.set()
        await asyncio.sleep(0)  # jobs submitted just before the pause register or bow out
        pending = {t for t in self._inflight if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.cfg.scheduler.shutdown_seconds)
            if still:
                self.abandoned = True
                self.log.event("jobs_abandoned", level="warning", reason=reason,
                               jobs=len(still))
        if sched is not None:
            sched.shutdown(wait=False)
        self.active = False

    # -- main loop -------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        interval = max(self.cfg.scheduler.lease_seconds / 3, 0.05)
        while not self.stop.is_set():
            try:
                held = await self._lease_op(self.lease.acquire)
            except SQLAlchemyError as exc:
                # Cannot prove we still hold it: act as if lost, a standby may take over.
                self.log.event("lease_error", level="error", error=str(exc).splitlines()[0])
                held = False
            if held and not self.active:
                await self._become_active()
            elif not held and self.active:
                self.log.event("lease_lost", level="warning", holder=self.lease.holder)
                await self._stop_jobs("lease lost")
            if not held and not self.stop.is_set():
                await self._log_standby()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval)

    async def _log_standby(self) -> None:
        from publisher.service.lease import current

        info = await self._lease_op(functools.partial(current, self.store))
        holder = info.holder if info else ""
        if holder != self._standby_logged:
            self._standby_logged = holder
            self.log.event("standby", holder=self.lease.holder, active_holder=holder,
                           lease_seconds=self.cfg.scheduler.lease_seconds)

    def _on_signal(self, signum: int) -> None:
        if not self.stop.is_set():
            self.log.event("signal", signal=signal.Signals(signum).name)
        self.stop.set()

    async def _serve_web(self) -> None:
        import uvicorn

        try:
            from publisher.web import create_app
        except ModuleNotFoundError as exc:
            if exc.name != "publisher.web":
                raise
            self.log.event("web_unavailable", level="warning")
            return
        app = await self._thread(create_app, self.cfg, self.store)

        class Server(uvicorn.Server):
            # The service owns SIGTERM/SIGINT; uvicorn must not re-raise them on exit.
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        from publisher.web.proxy import proxy_settings

        server = Server(uvicorn.Config(app, host=self.cfg.web.host, port=self.cfg.web.port,
                                       log_config=None, access_log=False,
                                       **proxy_settings(self.cfg)))
        self._web_server = server
        self.log.event("web", host=self.cfg.web.host, port=self.cfg.web.port)
        try:
            await server.serve()
        except SystemExit:  # uvicorn's answer to a port it cannot bind
            self.failure = PublisherError(
                f"cannot listen on {self.cfg.web.host}:{self.cfg.web.port}",
                "set [web] port (PUBLISHER_WEB__PORT) or run with --no-web",
            )
            self.stop.set()

    async def _run_worker(self) -> None:
        await self.worker.run(self.stop)

    async def _supervise(self, name: str, body: Callable[[], Awaitable[Any]]) -> None:
        """Run an internal task; if it dies, say so (log, `publisher status`) and restart it.

        Without this a worker that hit an unexpected error would leave the service running
        and looking healthy while nothing is delivered.
        """
        restarts = 0
        while True:
            self.health.set(name, "running", restarts=restarts)
            try:
                await body()
            except Exception as exc:
                restarts += 1
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                delay = min(60.0, 2.0 ** (restarts - 1))  # 1 s, 2 s, 4 s ... a minute
                restart_at = datetime.now(UTC) + timedelta(seconds=delay)
                self.health.set(name, "dead", restarts=restarts, error=error,
                                restart_at=restart_at)
                self.log.event("task_died", level="error", task=name, error=error,
                               error_type=type(exc).__name__, restarts=restarts,
                               restart_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=delay)
                if self.stop.is_set():
                    return
                self.log.event("task_restarted", task=name, restarts=restarts)
                continue
            self.health.set(name, "stopped", restarts=restarts)
            return

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.log.event("start", holder=self.lease.holder, store=self.store.url,
                       web=self.web and f"{self.cfg.web.host}:{self.cfg.web.port}")
        web_task = (asyncio.create_task(self._supervise("web", self._serve_web))
                    if self.web else None)
        worker_task = (asyncio.create_task(self._supervise("worker", self._run_worker))
                       if self.worker is not None else None)
        try:
            await self._lease_loop()
        finally:
            if self.active:
                await self._stop_jobs("shutdown")
            with contextlib.suppress(SQLAlchemyError):
                await self._lease_op(self.lease.release)
            if worker_task is not None:
                # The worker saw `stop`: the messages in flight finish and are recorded.
                done, _ = await asyncio.wait({worker_task},
                                             timeout=self.cfg.scheduler.shutdown_seconds)
                if not done:
                    self.abandoned = True
                    self.log.event("jobs_abandoned", level="warning", reason="shutdown",
                                   jobs=1)
                elif worker_task.exception() is not None:
                    self.log.event("job_failed", level="error", job="worker",
                                   error=str(worker_task.exception()))
            if web_task is not None:
                if self._web_server is not None:
                    self._web_server.should_exit = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(web_task, timeout=self.cfg.scheduler.shutdown_seconds)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            self.pool.shutdown(wait=not self.abandoned, cancel_futures=True)
            self.lease_pool.shutdown(wait=False)
            self.health.close()
            self.log.event("stopped", holder=self.lease.holder, clean=not self.abandoned)


def run_service(cfg: Config, store: Store, *, web: bool = True, worker: bool = True) -> Service:
    """Run until SIGTERM/SIGINT; the caller exits (0, or 1 on `service.failure`)."""
    from publisher.subscribers.tokens import secret_key

    # Every digest and confirmation link is signed: fail now, not at the first send.
    secret_key(cfg.secret_key)
    log = EventLog(cfg.data_dir / "logs" / "publisher.log")
    try:
        service = Service(cfg, store, log, web=web, worker=worker)
        with _library_logs(log):
            asyncio.run(service.run())
    finally:
        log.close()
    return service
