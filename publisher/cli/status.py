from __future__ import annotations

from zoneinfo import ZoneInfo

import click

from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.console import emit_json, table
from publisher.service import status


@click.command("status", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@pass_app
def status_(app: App, as_json: bool) -> None:
    """Show the store, the last import, the next run of every job, the active scheduler and
    the delivery workers with their last heartbeat and throughput."""
    doc = status.report(app.cfg, app.store)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"store: {doc['store']}")
    imp = doc["last_import"]
    click.echo(f"last import: {status.when(imp['imported_at'])}"
               + (f" (watched file {imp['watched_file']} at {status.when(imp['watched_file_at'])})"
                  if imp["watched_file"] else ""))
    lease = doc["scheduler"]
    if lease is None:
        click.echo("scheduler: never run on this store")
    else:
        state = "active" if lease["active"] else "none active (lease expired)"
        click.echo(f"scheduler: {state}; holder {lease['holder']}, "
                   f"heartbeat {status.when(lease['heartbeat_at'])}")
    rows = []
    for job in doc["jobs"]:
        if "next_run" in job:
            rows.append((job["job"], f"{job['schedule']} ({job['timezone']})",
                         status.when(job["next_run"]),
                         f"{status.when(job['last_slot'])} {job['last_outcome'] or ''}".strip()))
        else:
            rows.append((job["job"], f"every {job['every_seconds']:g} s", "-", "-"))
    table("Jobs", ["job", "schedule", "next run (UTC)", "last slot"], rows)
    issues = ", ".join(f"{slug}: " + ", ".join(f"{n} {k}" for k, n in sorted(v.items()))
                       for slug, v in sorted(doc["issues"].items())) or "none"
    click.echo(f"issues: {issues}")
    deliveries = ", ".join(f"{n} {k}" for k, n in sorted(doc["deliveries"].items())) or "none"
    click.echo(f"deliveries: {deliveries}")
    retries = doc["retries"]
    if retries["deferred"]:
        first = retries["next_retry_at"]
        local = first.astimezone(ZoneInfo(retries["timezone"]))
        click.echo(f"pending retries: {retries['deferred']}, next at "
                   f"{local:%Y-%m-%d %H:%M} {retries['timezone']} ({first:%Y-%m-%d %H:%M} UTC); "
                   "`publisher send --list LIST --retry-now` retries now")
    else:
        click.echo("pending retries: none")
    if doc["workers"]:
        table("Workers", ["worker", "state", "last heartbeat (UTC)", "sent", "messages/s"],
              [(w["id"], "alive" if w["alive"] else "gone (no heartbeat)",
                status.when(w["heartbeat_at"]), w["sent"], f"{w['messages_per_second']:g}")
               for w in doc["workers"]])
    else:
        click.echo("workers: none running (start `publisher worker` or `publisher run`)")
    for svc in doc["services"]:
        shown = {True: "running", False: "gone (did not stop cleanly)", None: "on another host"}
        rows = []
        for name, task in sorted(svc["tasks"].items()):
            note = task.get("last_error", "")
            if task["state"] == "dead" and task.get("restart_at"):
                note = f"{note} (restart at {task['restart_at']})"
            rows.append((name, task["state"], task["restarts"], note or "-"))
        table(f"Service {svc['holder']}: {shown[svc['running']]}",
              ["task", "state", "restarts", "last error"], rows)


COMMANDS = [status_]
