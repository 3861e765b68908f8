from __future__ import annotations

import os
import sys

import click

from publisher.cli.app import CONTEXT, App, pass_app, require_signing_key


@click.command("run", context_settings=CONTEXT)
@click.option("--no-web", is_flag=True, help="Do not serve the site and subscription pages.")
@click.option("--no-worker", is_flag=True,
              help="Do not deliver in this process (separate `publisher worker`s do).")
@click.option("--demo", is_flag=True,
              help="Allow running without PUBLISHER_SECRET_KEY (public demo key; tests only).")
@pass_app
def run(app: App, no_web: bool, no_worker: bool, demo: bool) -> None:
    """Run the service: watch imports, rebuild the site, send each list's digest on schedule.

    Logs one JSON line per event to stderr and to DATA_DIR/logs/publisher.log. Several
    processes may run on one store: one acts, the others wait and take over if it dies.
    Unless --no-worker, each process also runs a delivery worker (see `publisher worker`).
    SIGTERM or Ctrl+C finishes the message in flight and exits.
    """
    from publisher.service.scheduler import run_service

    cfg = require_signing_key(app.cfg, "run", demo)
    service = run_service(cfg, app.store, web=not no_web, worker=not no_worker)
    if service.failure is not None:
        raise service.failure
    if service.abandoned:
        # A job thread is stuck past [scheduler] shutdown_seconds: its transaction is rolled
        # back by exiting, which is what a crash would do, so stop waiting for it.
        sys.stderr.flush()
        os._exit(0)


COMMANDS = [run]
