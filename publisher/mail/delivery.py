"""Delivery runs: claim due deliveries, personalise and send them, record every answer.

The rules of the ledger (marks after each 250, retries, claims and their leases) are in
publisher/mail/ledger.py; this module runs the pipeline over them: a producer claiming
batches, one coroutine per SMTP connection, and a writer committing the answers that
arrived while its previous commit ran (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError
from sqlalchemy.exc import SQLAlchemyError

from publisher.core.config import Config
from publisher.core.console import progress
from publisher.core.errors import PublisherError
from publisher.i18n.locale import template_problem
from publisher.mail.digest import close_finished
from publisher.mail.ledger import POSSIBLY as POSSIBLY
from publisher.mail.ledger import Job as Job
from publisher.mail.ledger import _claim as _claim
from publisher.mail.ledger import _record as _record
from publisher.mail.ledger import _release as _release
from publisher.mail.ledger import claim_lease as claim_lease
from publisher.mail.ledger import claimer_id as claimer_id
from publisher.mail.ledger import count_due as count_due
from publisher.mail.ledger import release_dead_claims as release_dead_claims
from publisher.mail.ledger import renew_claims as renew_claims
from publisher.mail.message import (
    DigestMessage,
    HeaderValueError,
    Recipient,
    load_articles,
    message_id,
    reader_timezone,
)
from publisher.mail.transport import Outcome, Transport, open_transport
from publisher.mail.verp import return_path
from publisher.subscribers import tokens

log = logging.getLogger("publisher.delivery")


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    bounced: int = 0
    cancelled: int = 0
    possibly_delivered: int = 0
    duration: float = 0.0
    issues: list[int] = field(default_factory=list)
    # (address, reason) of every delivery that ended failed or bounced in this run
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent, "deferred": self.deferred, "failed": self.failed,
            "bounced": self.bounced, "cancelled": self.cancelled,
            "possibly_delivered": self.possibly_delivered,
            "duration_seconds": round(self.duration, 3), "messages_per_second": round(self.rate, 1),
            "issues": self.issues,
            "failures": [{"email": e, "reason": r} for e, r in self.failures],
        }


class _Messages:
    """DigestMessage per (issue, language, timezone, article set), rendered on first use."""

    def __init__(self, cfg: Config, store: Any, key: str) -> None:
        self.cfg, self.store, self.key = cfg, store, key
        self._cache: dict[tuple[int, str, str, tuple[str, ...]], DigestMessage] = {}
        self._zones: dict[tuple[str, str], str] = {}  # (list, stored tz) -> tz used

    def get(self, job: Job) -> DigestMessage:
        tz = self._zones.get((job.list_slug, job.timezone))
        if tz is None:
            tz = reader_timezone(self.cfg.get_list(job.list_slug), job.timezone)
            self._zones[job.list_slug, job.timezone] = tz
        k = (job.issue_id, job.lang, tz, job.article_ids)
        found = self._cache.get(k)
        if found is None:
            if len(self._cache) > 256:
                self._cache.clear()
            with self.store.session() as s:
                arts = load_articles(s, job.article_ids)
                try:
                    found = DigestMessage(
                        self.cfg, self.cfg.get_list(job.list_slug), job.number,
                        job.window_end, job.lang, arts, key=self.key, tz=tz,
                    )
                except TemplateError as exc:
                    # The same for every reader of this language: stop the run (rows stay
                    # due) rather than fail each delivery one by one.
                    raise template_problem(exc, self.cfg.template_dir) from None
            self._cache[k] = found
        return found


async def drain(
    cfg: Config, store: Any, *, issue_id: int | None = None, stop: asyncio.Event | None = None,
    show_progress: bool = False, key: str | None = None, transport: Transport | None = None,
    on_result: Callable[[Job, Outcome], None] | None = None, claimer: str | None = None,
) -> SendReport:
    """Send every due delivery (of `issue_id`, or of all issues) and record each answer.

    `claimer`: the prefix of this run's claims (a worker's id); default host:pid:random.
    """
    key = key or tokens.secret_key(cfg.secret_key)
    prefix = claimer or claimer_id()
    lease = claim_lease(cfg)
    started = time.monotonic()
    report = SendReport()
    release_dead_claims(store)
    total = count_due(store, issue_id)
    own_transport = transport is None
    tx = transport or open_transport(cfg)
    workers = max(1, tx.connections)
    batch = max(50, workers * 25)
    if cfg.smtp.rate > 0:
        batch = max(1, min(batch, int(cfg.smtp.rate * 60)))
    jobs_q: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=batch * 2)
    results_q: asyncio.Queue[tuple[Job, Outcome, str] | None] = asyncio.Queue()
    messages = _Messages(cfg, store, key)
    bounce = cfg.mail.bounce_address
    unsent: list[Job] = []
    issues: set[int] = set()
    seq = iter(range(1 << 62))
    inflight = 0
    final: dict[int, str] = {}  # delivery id -> its state after this run's last answer
    recorded = asyncio.Event()
    # Set when a coroutine of this run fails: the others finish the message in hand and
    # take no new one, so every answer already given is recorded before the error surfaces.
    halt = asyncio.Event()

    def halted() -> bool:
        return halt.is_set() or (stop is not None and stop.is_set())

    async def produce() -> None:
        nonlocal inflight
        try:
            while not halted():
                recorded.clear()
                jobs, cancelled = await asyncio.to_thread(
                    _claim, store, f"{prefix}:{next(seq)}", batch, issue_id, lease
                )
                report.cancelled += cancelled
                if not jobs and not cancelled:
                    # Done only if no answer was recorded while we claimed: one that was
                    # (a dropped connection, due again at once) needs another claim.
                    if inflight == 0 and not recorded.is_set():
                        return
                    # Answers still to come may make a row due again (a retry after a
                    # dropped connection): wait for them before deciding we are done.
                    await recorded.wait()
                    continue
                inflight += len(jobs)
                for job in jobs:
                    issues.add(job.issue_id)
                    await jobs_q.put(job)
        finally:
            for _ in range(workers):
                await jobs_q.put(None)

    async def work() -> None:
        while (job := await jobs_q.get()) is not None:
            if halted():
                unsent.append(job)
                continue
            mid = message_id(cfg, job.list_slug, job.number, job.id, job.issue_created)
            try:
                outcome = await _one(job, mid)
            except BaseException:
                unsent.append(job)  # given back with the rest: it was never sent
                raise
            await results_q.put((job, outcome, mid))

    async def _one(job: Job, mid: str) -> Outcome:
        """Prepare and send one message; whatever goes wrong fails this delivery alone."""
        try:
            msg = messages.get(job)
            data = msg.personalise(Recipient(job.email, job.name, job.token_id, mid))
        except HeaderValueError as exc:
            return Outcome("permanent", 0, f"not sent: {exc}")
        except PublisherError:
            raise  # a broken template: every message would fail alike
        except Exception as exc:  # a bug or odd data: this recipient fails, the run goes on
            log.exception("delivery %d <%s>: cannot prepare the message", job.id, job.email)
            return Outcome("permanent", 0, f"not sent: {type(exc).__name__}: {exc}")
        # VERP: the bounce address names this delivery, so a bounce maps back to it.
        sender = return_path(bounce, key, job.id) if bounce else msg.sender
        try:
            return await tx.send(sender, job.email, data)
        except PublisherError:
            raise  # the configuration (a refused login): every message would fail alike
        except Exception as exc:
            log.exception("delivery %d <%s>: the transport failed", job.id, job.email)
            return Outcome("permanent", 0, f"not sent: {type(exc).__name__}: {exc}")

    async def write(bar: Any) -> None:
        nonlocal inflight
        done = False
        while not done:
            first = await results_q.get()
            if first is None:
                return
            got = [first]
            while len(got) < 1000:
                try:
                    nxt = results_q.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    done = True
                    break
                got.append(nxt)
            tally, states = await asyncio.to_thread(_record, cfg, store, got)
            inflight -= len(got)
            recorded.set()
            report.possibly_delivered += tally["possibly_delivered"]
            seen = len(final)
            final.update(states)
            report.sent += sum(1 for _, state in states if state == "sent")
            ended = {d_id for d_id, state in states if state in ("failed", "bounced")}
            report.failures += [(job.email, outcome.describe())
                                for job, outcome, _ in got if job.id in ended]
            bar.advance(len(final) - seen, note=f"{report.sent} sent")
            if on_result is not None:
                for job, outcome, _ in got:
                    on_result(job, outcome)

    async def renew() -> None:
        # A slow relay can take longer than one lease for a batch: keep ours while alive.
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            try:
                await asyncio.to_thread(renew_claims, store, prefix, lease)
            except SQLAlchemyError as exc:  # the next renewal may succeed; the lease has slack
                log.warning("cannot renew the claims of %s: %s", prefix, exc)

    with progress("Sending", total or None, show_progress) as bar:
        writer = asyncio.create_task(write(bar))
        renewer = asyncio.create_task(renew())
        tasks = [asyncio.create_task(produce()),
                 *(asyncio.create_task(work()) for _ in range(workers))]
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            if pending:
                halt.set()
                recorded.set()  # a producer waiting for answers that will not come wakes up
            while pending:
                _, pending = await asyncio.wait(pending, timeout=0.1)
                if all(t.done() for t in tasks[1:]):
                    # No worker left to take jobs: unblock a producer stuck on a full queue.
                    while not jobs_q.empty():
                        if (left := jobs_q.get_nowait()) is not None:
                            unsent.append(left)
            for task in tasks:
                task.result()  # re-raise the first failure, now that the others are done
        finally:
            for task in tasks:
                if not task.done():  # cancelled from outside: do not leave orphans behind
                    task.cancel()
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await results_q.put(None)
            await writer
            await asyncio.to_thread(_release, store, unsent)
            if own_transport:
                await tx.close()
    outcomes = Counter(final.values())
    report.deferred, report.failed = outcomes["deferred"], outcomes["failed"]
    report.bounced = outcomes["bounced"]
    with store.session() as s:
        close_finished(s, sorted(issues))
    report.issues = sorted(issues)
    report.duration = time.monotonic() - started
    return report


def deliver(cfg: Config, store: Any, **kwargs: Any) -> SendReport:
    """`drain` for synchronous callers."""
    return asyncio.run(drain(cfg, store, **kwargs))
