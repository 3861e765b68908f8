"""Subscribers, lists and subscriptions: normalising and the no-reactivation rule."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.core.errors import InputError
from publisher.ingest.textio import clean
from publisher.store.engine import Store
from publisher.store.models import (
    BounceEvent,
    Delivery,
    MailingList,
    Subscriber,
    Subscription,
    utcnow,
)

if TYPE_CHECKING:
    from publisher.core.console import Progress
    from publisher.subscribers.csvfile import CsvReport

# Statuses a CSV import or an admin `add` must never turn back into active:
# only a new double opt-in may do that.
SUPPRESSED = ("unsubscribed", "bounced", "complained")

LANGUAGE_ALIASES = {
    "kk": "kk", "kaz": "kk", "kz": "kk", "kk-kz": "kk", "kk_kz": "kk", "қазақша": "kk",
    "қазақ": "kk", "қазақ тілі": "kk", "kazakh": "kk", "казахский": "kk",
    "ru": "ru", "rus": "ru", "ru-ru": "ru", "ru_ru": "ru", "русский": "ru", "орысша": "ru",
    "russian": "ru",
    "en": "en", "eng": "en", "en-us": "en", "en-gb": "en", "english": "en", "английский": "en",
    "ағылшынша": "en",
}  # fmt: skip

# Plain ASCII addresses, the bulk of every list, for which email_validator's answer is known
# without running it (about 20 µs an address, most of a large import's parsing time): a
# dot-atom local part and LDH labels under an alphabetic TLD. Punycode ("--"), over-long parts
# and special-use domains still go through email_validator; tests/subscribers check that both
# agree on everything this pattern accepts.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"{_ATEXT}(?:\.{_ATEXT})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}"
)
_SPECIAL_SUFFIXES = tuple("." + d for d in SPECIAL_USE_DOMAIN_NAMES)


class AddressError(ValueError):
    """The address is not a syntactically valid email address."""


def normalise_email(raw: str) -> str:
    """Syntax check (no DNS) and normal form: NFC, IDNA-safe, lower case throughout.

    RFC 5321 lets a local part be case-sensitive, but no mail provider treats it so: folding
    it keeps one person from becoming two subscribers, or from being re-subscribed by a CSV
    that spells an unsubscribed address with other capitals.
    """
    if "\r" in raw or "\n" in raw:
        raise AddressError("line break in address")
    plain = _plain_address(raw.strip())
    if plain is not None:
        return plain
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    return result.normalized.lower()


def _plain_address(address: str) -> str | None:
    """The normal form of an address email_validator surely accepts unchanged, else None."""
    if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
        return None
    local, _, domain = address.rpartition("@")
    domain = domain.lower()
    if len(local) > 64 or "--" in domain or domain.endswith(_SPECIAL_SUFFIXES):
        return None
    return f"{local}@{domain}".lower()


SMTPUTF8_NOTE = ("the part before @ is not ASCII: only a mail server that offers SMTPUTF8 "
                 "can deliver to it (check [smtp] host); elsewhere that delivery fails alone")


def needs_smtputf8(email: str) -> bool:
    """A non-ASCII local part (юзер@...) needs SMTPUTF8; a non-ASCII domain goes as IDNA."""
    return not email.rpartition("@")[0].isascii()


def normalise_language(raw: str | None) -> str | None:
    """kk/ru/en from the many ways people write them; None when unknown."""
    if raw is None:
        return None
    key = " ".join(raw.strip().casefold().split())
    return LANGUAGE_ALIASES.get(key) or (key if key in LANGUAGES else None)


def ensure_list(session: Session, slug: str, now: datetime | None = None) -> MailingList:
    found = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if found is None:
        found = MailingList(slug=slug, created_at=now or utcnow())
        session.add(found)
        session.flush()
    return found


def by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def by_token_id(session: Session, token_id: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.token_id == token_id))


@dataclass(frozen=True)
class AddResult:
    subscriber: Subscriber
    outcome: str  # added | updated | unchanged | skipped (suppressed address)


def add(
    session: Session, email: str, *, list_slug: str, language: str | None, name: str = "",
    timezone: str | None = None, status: str = "active", now: datetime | None = None,
    default_language: str = "kk", default_timezone: str = "Asia/Almaty",
) -> AddResult:
    """Add or update a subscriber and subscribe them to `list_slug`.

    An address that unsubscribed, bounced or complained is left as it is ("skipped").
    A new subscription's cursor starts now: a new subscriber gets only what comes after.
    `language`, `timezone` and `name` change an existing subscriber only when given (not
    None/empty): a re-import without those columns keeps what the subscriber chose.
    """
    now = now or utcnow()
    # Names end up in the To: header; line breaks and controls never get that far.
    name = " ".join(clean(name).split())
    email = normalise_email(email)
    mlist = ensure_list(session, list_slug, now)
    sub = by_email(session, email)
    if sub is not None and sub.status in SUPPRESSED:
        return AddResult(sub, "skipped")
    subscription = None
    if sub is not None:
        subscription = subscription_of(session, sub.id, mlist.id)
        if subscription is not None and subscription.status == "unsubscribed":
            # Left this list (one-click or preferences): only the subscriber may come back.
            return AddResult(sub, "skipped")
    outcome = "unchanged"
    if sub is None:
        sub = Subscriber(
            email=email, name=name, language=language or default_language,
            timezone=timezone or default_timezone, status=status,
            token_id=secrets.token_hex(16), created_at=now, updated_at=now,
            confirmed_at=now if status == "active" else None,
        )
        session.add(sub)
        session.flush()
        outcome = "added"
    else:
        wanted = (name or sub.name, language or sub.language, timezone or sub.timezone)
        if (sub.name, sub.language, sub.timezone) != wanted:
            sub.name, sub.language, sub.timezone = wanted
            sub.updated_at = now
            outcome = "updated"
    if subscription is None:
        session.add(Subscription(
            subscriber_id=sub.id, list_id=mlist.id,
            status="active" if status == "active" else "pending",
            cursor=now, created_at=now, updated_at=now,
        ))
        outcome = "added" if outcome == "added" else "updated"
    return AddResult(sub, outcome)


def subscription_of(session: Session, subscriber_id: int, list_id: int) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id
        )
    )


# --- admin views -----------------------------------------------------------------------

def listing(
    session: Session, list_slug: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Subscribers (optionally of one list, or with one status) with their per-list status,
    oldest first. With `status`, each also has the `reason` last recorded for them.

    "complained" also finds those who complained about one list but stay on others.
    """
    query = (
        select(Subscriber, Subscription, MailingList)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id, isouter=True)
        .join(MailingList, MailingList.id == Subscription.list_id, isouter=True)
        .order_by(Subscriber.id)
    )
    if status == "complained":
        complained = select(BounceEvent.subscriber_id).where(BounceEvent.kind == "complaint")
        query = query.where(
            (Subscriber.status == status) | Subscriber.id.in_(complained.scalar_subquery())
        )
    elif status is not None:
        query = query.where(Subscriber.status == status)
    docs: dict[int, dict[str, Any]] = {}
    for sub, subscription, mlist in session.execute(query):
        doc = docs.setdefault(sub.id, {
            "email": sub.email, "name": sub.name, "language": sub.language,
            "timezone": sub.timezone, "status": sub.status, "lists": {},
            "created_at": sub.created_at, "confirmed_at": sub.confirmed_at,
        })
        if subscription is not None and mlist is not None:
            doc["lists"][mlist.slug] = subscription.status
    if status is not None:
        why = reasons(session, list(docs))
        for sid, doc in docs.items():
            doc["reason"] = why.get(sid, "")
    return [d for d in docs.values() if list_slug is None or list_slug in d["lists"]]


def reasons(session: Session, subscriber_ids: list[int]) -> dict[int, str]:
    """The latest recorded reason per subscriber: a bounce report, else the SMTP answer."""
    found: dict[int, str] = {}
    if not subscriber_ids:
        return found
    for sid, reason in session.execute(
        select(BounceEvent.subscriber_id, BounceEvent.reason)
        .where(BounceEvent.subscriber_id.in_(subscriber_ids))
        .order_by(BounceEvent.created_at, BounceEvent.id)
    ):
        found[sid] = reason
    for sid, reply in session.execute(
        select(Delivery.subscriber_id, Delivery.last_reply)
        .where(Delivery.subscriber_id.in_(subscriber_ids), Delivery.state == "bounced")
        .order_by(Delivery.updated_at, Delivery.id)
    ):
        found.setdefault(sid, reply)
    return found


def remove(
    session: Session, email: str, *, list_slug: str | None = None, erase: bool = False,
    now: datetime | None = None,
) -> str:
    """Unsubscribe an address from one list or from all; `erase` forgets it entirely.

    Unsubscribing keeps the row so that no later CSV import brings the address back.
    """
    now = now or utcnow()
    address = normalise_email(email)
    sub = by_email(session, address)
    if sub is None:
        raise InputError(f"no subscriber {address}", "see `publisher subscribers list`")
    if erase:
        session.delete(sub)
        return "erased"
    subs = session.scalars(select(Subscription).where(Subscription.subscriber_id == sub.id)).all()
    if list_slug is not None:
        mlist = session.scalar(select(MailingList).where(MailingList.slug == list_slug))
        subs = [x for x in subs if mlist is not None and x.list_id == mlist.id]
        if not subs:
            raise InputError(f"{address} is not on the list {list_slug}")
    else:
        sub.status, sub.updated_at = "unsubscribed", now
    for item in subs:
        item.status, item.updated_at = "unsubscribed", now
    return "unsubscribed"


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def import_csv(
    store: Store, path: str | Path, list_slug: str, *, default_language: str,
    default_timezone: str = "Asia/Almaty", languages: Sequence[str] = LANGUAGES,
    now: datetime | None = None, overwrite_preferences: bool = False,
    progress: Progress | None = None,
) -> CsvReport:
    """Import a CSV list: see `publisher.subscribers.csvfile.import_csv`."""
    from publisher.subscribers import csvfile

    return csvfile.import_csv(
        store, path, list_slug, default_language=default_language,
        default_timezone=default_timezone, languages=languages, now=now,
        overwrite_preferences=overwrite_preferences, progress=progress,
    )


def export_rows(session: Session, list_slug: str, *, raw: bool = False) -> list[list[str]]:
    """The active subscribers of a list as CSV rows: see `csvfile.export_rows`."""
    from publisher.subscribers import csvfile

    return csvfile.export_rows(session, list_slug, raw=raw)
