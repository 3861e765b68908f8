"""`publisher send --list SLUG`: create the list's issue now (if anything is new) and deliver it."""

from __future__ import annotations

import asyncio

import click

from publisher import LANGUAGES
from publisher.cli.app import CONTEXT, App, pass_app
from publisher.core.config import Config
from publisher.core.console import emit_json
from publisher.core.errors import InputError, PublisherError
from publisher.mail import history
from publisher.mail.delivery import SendReport, count_due
from publisher.mail.digest import create_issue, open_issues, plan_issue, preview
from publisher.mail.send import send_list, send_test, signing_key
from publisher.publish import site

_SHOWN = 20  # failed addresses listed in the text report


@click.command("send", context_settings=CONTEXT)
@click.option("--list", "list_slug", required=True, help="The list to send (see [[lists]]).")
@click.option("--dry-run", is_flag=True, help="Show who would get what; store and send nothing.")
@click.option("--wait", is_flag=True,
              help="Only create the issue; follow it while the workers deliver it.")
@click.option("--test-to", "test_to", metavar="ADDRESS",
              help="Send the next issue, marked [TEST], to this address only; record nothing.")
@click.option("--lang", type=click.Choice(LANGUAGES),
              help="With --test-to: the language to test (default: the list's).")
@click.option("--retry-now", is_flag=True,
              help="Make the list's deferred deliveries due now, then send.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report on stdout.")
@pass_app
def send(app: App, list_slug: str, dry_run: bool, wait: bool, test_to: str | None,
         lang: str | None, retry_now: bool, as_json: bool) -> None:
    """Create the list's digest issue now (if anything is new) and deliver it.

    Running it again, or after a crash, resumes the unfinished issue: a recipient whose
    delivery is marked sent is never sent to again. With --wait this command sends nothing
    itself: running workers (`publisher worker`, `publisher run`) deliver, and it shows
    their progress until every delivery of the list's open issues has an answer.
    """
    cfg = app.cfg
    lcfg = cfg.get_list(list_slug)
    if lang is not None and test_to is None:
        raise InputError("--lang only goes with --test-to", "a real send uses each reader's")
    if test_to is not None:
        _send_test(app, list_slug, lang or lcfg.default_language, test_to, as_json)
        return
    if retry_now:
        made_due = history.retry_now(app.store, list_slug)
        if not as_json:
            click.echo(f"{made_due} deferred delivery(ies) of list {list_slug} are due now.")
    if dry_run:
        plan = plan_issue(cfg, app.store, list_slug, dry_run=True)
        pending = sum(count_due(app.store, i) for i in open_issues(app.store, list_slug))
        doc = {**plan.as_dict(), "dry_run": True, "pending_from_open_issues": pending}
        if as_json:
            emit_json(doc)
            return
        langs = ", ".join(f"{k}: {v}" for k, v in sorted(plan.recipients.items())) or "none"
        click.echo(f"Dry run for list {list_slug}: a new issue would go to {plan.total} "
                   f"recipient(s) ({langs}); {pending} delivery(ies) of open issues are due. "
                   "Nothing was stored or sent.")
        return
    # Digests link to article pages: make sure they exist before anyone gets a link. The
    # build writes only what changed.
    site.build(cfg, app.store)
    # A broken email template ([templates] dir) stops here, before anyone is mailed, rather
    # than failing every delivery one by one.
    for lang in lcfg.languages:
        preview(cfg, app.store, list_slug, lang)
    if wait:
        _send_and_wait(app, list_slug, as_json)
        return
    key = signing_key(cfg)
    created, report = asyncio.run(
        send_list(cfg, app.store, list_slug, key=key, show_progress=not as_json)
    )
    if as_json:
        emit_json({"list": list_slug, "created_issue_id": created, **report.as_dict()})
        _fail_if_nothing_accepted(cfg, report)
        return
    if created is None and not report.issues:
        click.echo(f"Nothing new for list {list_slug}: no email sent.")
        _tell_pending(app, list_slug)
        return
    click.echo(
        f"List {list_slug}: {report.sent} sent, {report.deferred} deferred, "
        f"{report.failed} failed, {report.bounced} bounced, {report.cancelled} cancelled "
        f"in {report.duration:.1f} s ({report.rate:.0f} messages/s)."
    )
    for email, reason in report.failures[:_SHOWN]:
        click.echo(f"  failed: {email}: {reason}")
    if len(report.failures) > _SHOWN:
        click.echo(f"  ... and {len(report.failures) - _SHOWN} more failed "
                   "(`publisher send --json` lists them all)")
    if report.possibly_delivered:
        click.echo(f"{report.possibly_delivered} connection(s) dropped after DATA "
                   "(possibly delivered; retried once).")
    if cfg.mail.transport == "maildir":
        click.echo(f"Messages are in {cfg.outbox_dir / 'new'}")
    _fail_if_nothing_accepted(cfg, report)


def _tell_pending(app: App, list_slug: str) -> None:
    """Deliveries waiting for a retry are not "nothing": say how many and when."""
    waiting = history.pending_retries(app.store, list_slug)
    if waiting["deferred"]:
        first = waiting["next_retry_at"]
        click.echo(f"{waiting['deferred']} deferred delivery(ies) wait for a retry, the first "
                   f"at {first:%Y-%m-%d %H:%M} UTC; `publisher send --list {list_slug} "
                   "--retry-now` retries them now.")


def _fail_if_nothing_accepted(cfg: Config, report: SendReport) -> None:
    """Exit 1 when every attempt was deferred: a relay that is down must not look like success."""
    if report.sent == 0 and report.deferred > 0:
        raise PublisherError(
            f"no message was accepted: {report.deferred} delivery(ies) deferred "
            "(they are retried by the next send or by `publisher run`)",
            f"check that [smtp] host {cfg.smtp.host}:{cfg.smtp.port} is reachable",
        )


def _send_and_wait(app: App, list_slug: str, as_json: bool) -> None:
    from publisher.mail.worker import follow

    created = create_issue(app.cfg, app.store, list_slug)
    issues = open_issues(app.store, list_slug)
    # A running worker may finish the new issue before we list the open ones: follow it anyway.
    if created is not None and created not in issues:
        issues = [created, *issues]
    if created is None and not issues:
        if as_json:
            emit_json({"list": list_slug, "created_issue_id": None, "issues": [], "total": 0})
        else:
            click.echo(f"Nothing new for list {list_slug}: no email sent.")
        return
    doc = follow(app.cfg, app.store, issues, show_progress=not as_json)
    if as_json:
        emit_json({"list": list_slug, "created_issue_id": created, **doc})
        return
    click.echo(
        f"List {list_slug}: {doc['sent']} sent, {doc['deferred']} deferred, {doc['failed']} "
        f"failed, {doc['bounced']} bounced, {doc['cancelled']} cancelled of {doc['total']} "
        f"(waited {doc['waited_seconds']:.1f} s, {doc['messages_per_second']:.0f} messages/s)."
    )
    if doc["deferred"]:
        click.echo(f"{doc['deferred']} deferred delivery(ies) will be retried by the workers.")




def _send_test(app: App, list_slug: str, lang: str, address: str, as_json: bool) -> None:
    from publisher.subscribers.registry import AddressError, normalise_email

    try:
        address = normalise_email(address)
    except AddressError as exc:
        raise InputError(f"--test-to {address!r}: {exc}") from None
    outcome, subject = asyncio.run(send_test(
        app.cfg, app.store, list_slug, lang, address, key=signing_key(app.cfg)))
    doc = {"list": list_slug, "lang": lang, "to": address, "subject": subject,
           "accepted": outcome.kind == "accepted", "reply": outcome.describe()}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"Test message for list {list_slug} ({lang}) to {address}: "
                   f"{outcome.describe()}. Subject: {subject}")
    if outcome.kind != "accepted":
        raise PublisherError(f"the test message to {address} was not accepted: "
                             f"{outcome.describe()}", "check [smtp] in publisher.toml")


COMMANDS = [send]
