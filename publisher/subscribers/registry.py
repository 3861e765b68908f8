"""Subscribers, lists and subscriptions: normalising and the no-reactivation rule."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.core.errors import InputError
from publisher.ingest.textio import clean
from publisher.store.engine import Store
from publisher.store.models import MailingList, Subscriber, Subscription, utcnow

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
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    return result.normalized.lower()


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


# --- CSV lists -------------------------------------------------------------------------

# Header spellings seen in lists exported from spreadsheets and university systems.
CSV_HEADERS = {
    "email": "email", "e-mail": "email", "mail": "email", "почта": "email",
    "эл. почта": "email", "электронная почта": "email", "электрондық пошта": "email",
    "name": "name", "full name": "name", "имя": "name", "фио": "name", "аты": "name",
    "аты-жөні": "name", "language": "language", "lang": "language", "язык": "language",
    "тіл": "language", "timezone": "timezone", "tz": "timezone", "time zone": "timezone",
    "часовой пояс": "timezone", "уақыт белдеуі": "timezone",
}  # fmt: skip


@dataclass(frozen=True)
class RowNote:
    line: int
    email: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "email": self.email, "reason": self.reason}


@dataclass
class CsvReport:
    """What a CSV import did, row by row; nothing is written when `rejected` is not empty."""

    path: str
    list_slug: str
    encoding: str = ""
    delimiter: str = ","
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[RowNote] = field(default_factory=list)
    merged: list[RowNote] = field(default_factory=list)
    rejected: list[RowNote] = field(default_factory=list)
    warnings: list[RowNote] = field(default_factory=list)

    @property
    def imported(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "list": self.list_slug, "encoding": self.encoding,
            "delimiter": self.delimiter, "rows": self.rows, "imported": self.imported,
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "skipped": [n.as_dict() for n in self.skipped],
            "merged": [n.as_dict() for n in self.merged],
            "rejected": [n.as_dict() for n in self.rejected],
            "warnings": [n.as_dict() for n in self.warnings],
        }


@dataclass
class _Row:
    line: int
    email: str
    name: str
    language: str
    timezone: str
    language_given: bool
    timezone_given: bool = False


def _decode_csv(data: bytes, name: str) -> tuple[str, str]:
    """(text, encoding): UTF-8 with or without BOM, else Windows-1251 (Excel in ru/kk locales)."""
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise InputError(
            f"{name}: binary data at byte offset {offset}, not a CSV file",
            "save the list as CSV (UTF-8) from your spreadsheet",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data, bom = data[3:], True
    else:
        bom = False
    try:
        return data.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        if bom:
            where = exc.start + 3
            raise InputError(f"{name}: not UTF-8 at byte offset {where} despite the BOM") from None
    try:
        return data.decode("cp1251"), "windows-1251"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: neither UTF-8 nor Windows-1251 at byte offset {exc.start}",
            "save the list as CSV (UTF-8)",
        ) from None


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;").delimiter
    except csv.Error:
        return ";" if header.count(";") > header.count(",") else ","


def _columns(header: list[str], name: str) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        key = CSV_HEADERS.get(" ".join(raw.strip().casefold().split()))
        if key is not None and key not in columns:
            columns[key] = index
    if "email" not in columns:
        raise InputError(
            f"{name}: line 1: no email column in the header ({', '.join(header) or 'empty'})",
            "the first row must name the columns: email,name,language[,timezone]",
        )
    return columns


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _parse_rows(
    text: str, name: str, report: CsvReport, *, default_language: str, default_timezone: str,
    languages: Sequence[str],
) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=report.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{name}: the file is empty", "the first row names the columns") from None
    columns = _columns(header, name)
    rows: dict[str, _Row] = {}
    try:
        for cells in reader:
            line = reader.line_num
            cells = [" ".join(clean(c).split()) for c in cells]
            if not any(cells):
                continue
            report.rows += 1

            def cell(key: str, cells: list[str] = cells) -> str:
                i = columns.get(key)
                return cells[i] if i is not None and i < len(cells) else ""

            raw_email = cell("email")
            if len(cells) > len(header):
                reason = f"{len(cells)} fields, the header has {len(header)}"
                report.rejected.append(RowNote(line, raw_email, reason))
                continue
            if not raw_email:
                report.rejected.append(RowNote(line, "", "no email address"))
                continue
            try:
                email = normalise_email(raw_email)
            except AddressError as exc:
                report.rejected.append(RowNote(line, raw_email, f"invalid email address: {exc}"))
                continue
            zone_name = cell("timezone") or default_timezone
            if not valid_timezone(zone_name):
                report.rejected.append(RowNote(line, email, f"unknown timezone {zone_name!r}"))
                continue
            raw_lang = cell("language")
            lang = normalise_language(raw_lang)
            given = lang is not None and lang in languages
            if lang is None or not given:
                if raw_lang:
                    report.warnings.append(RowNote(
                        line, email, f"unknown language {raw_lang!r}, using {default_language}"
                    ))
                lang = default_language
            row = _Row(line, email, cell("name"), lang, zone_name, given, bool(cell("timezone")))
            first = rows.get(email)
            if first is None:
                rows[email] = row
                continue
            report.merged.append(RowNote(line, email, f"same address as line {first.line}"))
            first.name = first.name or row.name
            if not first.language_given and row.language_given:
                first.language, first.language_given = row.language, True
            if not first.timezone_given and row.timezone_given:
                first.timezone, first.timezone_given = row.timezone, True
    except csv.Error as exc:
        report.rejected.append(RowNote(reader.line_num, "", f"malformed CSV: {exc}"))
    return list(rows.values())


def import_csv(
    store: Store, path: str | Path, list_slug: str, *, default_language: str,
    default_timezone: str = "Asia/Almaty", languages: Sequence[str] = LANGUAGES,
    now: datetime | None = None,
) -> CsvReport:
    """Import a subscriber list: all rows in one transaction, or none if any row is rejected.

    Rows are checked before anything is written; the report names each rejected row by its
    line number. Addresses that unsubscribed or bounced stay as they are ("skipped").
    """
    path = Path(path)
    report = CsvReport(path=str(path), list_slug=list_slug)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    text, report.encoding = _decode_csv(data, str(path))
    report.delimiter = _delimiter(text)
    rows = _parse_rows(
        text, str(path), report, default_language=default_language,
        default_timezone=default_timezone, languages=languages,
    )
    if report.rejected:
        return report
    now = now or utcnow()
    with store.session() as session:
        for row in rows:
            result = add(
                session, row.email, list_slug=list_slug, name=row.name, now=now,
                language=row.language if row.language_given else None,
                timezone=row.timezone if row.timezone_given else None,
                default_language=row.language, default_timezone=row.timezone,
            )
            if result.outcome == "skipped":
                why = _why(result.subscriber, list_slug)
                report.skipped.append(RowNote(row.line, row.email, f"address is {why}"))
            else:
                setattr(report, result.outcome, getattr(report, result.outcome) + 1)
    return report


def _why(sub: Subscriber, list_slug: str) -> str:
    if sub.status in SUPPRESSED:
        return sub.status
    return f"unsubscribed from {list_slug}"


# --- admin views -----------------------------------------------------------------------

def listing(session: Session, list_slug: str | None = None) -> list[dict[str, Any]]:
    """Subscribers (optionally of one list) with their per-list status, oldest first."""
    query = (
        select(Subscriber, Subscription, MailingList)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id, isouter=True)
        .join(MailingList, MailingList.id == Subscription.list_id, isouter=True)
        .order_by(Subscriber.id)
    )
    docs: dict[int, dict[str, Any]] = {}
    for sub, subscription, mlist in session.execute(query):
        doc = docs.setdefault(sub.id, {
            "email": sub.email, "name": sub.name, "language": sub.language,
            "timezone": sub.timezone, "status": sub.status, "lists": {},
            "created_at": sub.created_at, "confirmed_at": sub.confirmed_at,
        })
        if subscription is not None and mlist is not None:
            doc["lists"][mlist.slug] = subscription.status
    return [d for d in docs.values() if list_slug is None or list_slug in d["lists"]]


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


def export_rows(session: Session, list_slug: str) -> list[list[str]]:
    """email,name,language,timezone rows of the active subscribers of a list (importable)."""
    rows = [["email", "name", "language", "timezone"]]
    for doc in listing(session, list_slug):
        if doc["status"] == "active" and doc["lists"].get(list_slug) == "active":
            rows.append([doc["email"], doc["name"], doc["language"], doc["timezone"]])
    return rows
