"""`publisher worker`: deliver due digests from the shared store until SIGTERM."""

from __future__ import annotations

import click

from publisher.cli.app import CONTEXT, App, pass_app


@click.command("worker", context_settings=CONTEXT)
@click.option("--concurrency", type=click.IntRange(1, 1000),
              help="SMTP connections of this worker (default: [worker] concurrency, "
                   "else [smtp] connections).")
@pass_app
def worker(app: App, concurrency: int | None) -> None:
    """Deliver due digests: claim batches, send them, record every answer; run until stopped.

    Start as many as the relay allows, on one machine or several sharing a PostgreSQL store
    ([store] url). They split [smtp] rate between them. SIGTERM or Ctrl+C finishes the
    messages in flight and exits; a worker that is killed loses nothing (its batch is
    claimed again after [worker] claim_seconds, only unsent rows are sent). Logs one JSON
    line per event to stderr and DATA_DIR/logs/publisher.log.
    """
    from publisher.core.eventlog import EventLog
    from publisher.mail.send import signing_key
    from publisher.mail.worker import run_worker

    cfg = app.cfg
    key = signing_key(cfg)
    store = app.store
    events = EventLog(cfg.data_dir / "logs" / "publisher.log")
    try:
        report = run_worker(cfg, store, concurrency=concurrency, key=key, events=events)
    finally:
        events.close()
    click.echo(f"worker stopped: {report.sent} sent, {report.deferred} deferred, "
               f"{report.failed} failed, {report.bounced} bounced in {report.duration:.1f} s",
               err=True)


COMMANDS = [worker]
