"""CSV subscriber lists: strict reading, the import, export safe for spreadsheets.

An import reads and checks the whole file first: a structural fault (an unbalanced quote)
rejects it with one error, a bad row is reported with its line, and either way nothing is
stored. Only then are the rows written, in chunks (`bulk.write_rows`).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.core.console import Progress
from publisher.core.errors import InputError
from publisher.ingest.textio import clean
from publisher.store.engine import Store
from publisher.store.models import MailingList, Subscriber, Subscription
from publisher.subscribers.bulk import CHUNK, write_rows
from publisher.subscribers.registry import (
    SMTPUTF8_NOTE,
    AddressError,
    needs_smtputf8,
    normalise_email,
    normalise_language,
    valid_timezone,
)
from publisher.subscribers.report import CsvReport, Row, RowNote

__all__ = [
    "CHUNK", "CsvReport", "Row", "RowNote", "export_rows", "import_csv", "parse", "read_csv",
    "records", "safe_cell", "write_rows",
]

# Header spellings seen in lists exported from spreadsheets and university systems.
CSV_HEADERS = {
    "email": "email", "e-mail": "email", "mail": "email", "почта": "email",
    "эл. почта": "email", "электронная почта": "email", "электрондық пошта": "email",
    "name": "name", "full name": "name", "имя": "name", "фио": "name", "аты": "name",
    "аты-жөні": "name", "language": "language", "lang": "language", "язык": "language",
    "тіл": "language", "timezone": "timezone", "tz": "timezone", "time zone": "timezone",
    "часовой пояс": "timezone", "уақыт белдеуі": "timezone",
}  # fmt: skip

# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A cell our export protected with "'" (any number of them before a formula character);
# the import takes one off again so that an exported list re-imports unchanged.
_PROTECTED = re.compile(r"'+[=+\-@\t\r]")
_QUOTE_HINT = (
    "close each quote on the line where it opens, and write a quote inside a quoted "
    'field twice ("")'
)


# --- reading ---------------------------------------------------------------------------


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


def records(text: str, delimiter: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each record, or InputError at the first unbalanced quote.

    A record must end on the line where it starts: no field of a subscriber list holds a
    line break, so a quoted field running over a line end is a quote opened and never
    closed, which would otherwise swallow the rows after it. A sentinel line after the
    text catches a quote left open at the end of the file on every Python version (the
    csv module reports that case only in some).
    """
    sentinel = f"\x1fend-{secrets.token_hex(8)}"
    lines = itertools.chain(io.StringIO(text, newline=""), [sentinel])
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            raise _unclosed(name, start, None) from None
        except csv.Error as exc:
            if "end of data" in str(exc):
                raise _unclosed(name, start, None) from None
            if reader.line_num > start:
                raise _unclosed(name, start, reader.line_num) from None
            if "expected after" in str(exc):
                raise InputError(
                    f"{name}: line {start}: stray quote: text after the closing quote of a "
                    f"field ({exc})",
                    'a field that starts with a quote must end with one: "Ivanova, Anna"',
                ) from None
            raise InputError(f"{name}: line {start}: malformed CSV: {exc}", _QUOTE_HINT) from None
        end = reader.line_num
        if end > start:
            if sentinel in cells[-1]:
                raise _unclosed(name, start, None)
            raise _unclosed(name, start, end)
        if cells == [sentinel]:
            return
        yield start, cells


def _unclosed(name: str, line: int, until: int | None) -> InputError:
    where = "runs to the end of the file" if until is None else f"runs into line {until}"
    return InputError(
        f"{name}: line {line}: unclosed quote: the quoted field opened here {where}",
        _QUOTE_HINT,
    )


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


def _cell(raw: str) -> str:
    # clean() (NFC, control characters) is the costly part; plain ASCII needs none of it.
    text = " ".join((raw if raw.isascii() and raw.isprintable() else clean(raw)).split())
    if text[:1] == "'" and _PROTECTED.match(text):
        return text[1:]
    return text


def parse(
    text: str, name: str, report: CsvReport, *, default_language: str, default_timezone: str,
    languages: Sequence[str],
) -> list[Row]:
    """The rows to import, duplicates merged; bad rows go to `report.rejected`."""
    found = records(text, report.delimiter, name)
    try:
        _, header = next(found)
    except StopIteration:
        raise InputError(f"{name}: the file is empty", "the first row names the columns") from None
    columns = _columns(header, name)
    width = len(header)
    at = {key: columns.get(key, -1) for key in ("email", "name", "language", "timezone")}
    zones: dict[str, bool] = {}
    langs: dict[str, str | None] = {}
    rows: dict[str, Row] = {}
    for line, raw in found:
        cells = {key: _cell(raw[i]) if 0 <= i < len(raw) else "" for key, i in at.items()}
        if not any(cells.values()) and not any(_cell(c) for c in raw):
            continue
        report.rows += 1
        raw_email = cells["email"]
        if len(raw) > width:
            reason = (f"{len(raw)} fields, the header has {width} (hint: quote a field that "
                      f"contains {report.delimiter!r})")
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
        if needs_smtputf8(email):
            report.warnings.append(RowNote(line, email, SMTPUTF8_NOTE))
        zone_name = cells["timezone"] or default_timezone
        if zone_name not in zones:
            zones[zone_name] = valid_timezone(zone_name)
        if not zones[zone_name]:
            report.rejected.append(RowNote(line, email, f"unknown timezone {zone_name!r}"))
            continue
        raw_lang = cells["language"]
        if raw_lang not in langs:
            langs[raw_lang] = normalise_language(raw_lang)
        lang = langs[raw_lang]
        given = lang is not None and lang in languages
        if lang is None or not given:
            if raw_lang:
                report.warnings.append(RowNote(
                    line, email, f"unknown language {raw_lang!r}, using {default_language}"
                ))
            lang = default_language
        row = Row(line, email, cells["name"], lang, zone_name, given, bool(cells["timezone"]))
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
    return list(rows.values())


def read_csv(
    path: str | Path, list_slug: str, *, default_language: str,
    default_timezone: str = "Asia/Almaty", languages: Sequence[str] = LANGUAGES,
) -> tuple[CsvReport, list[Row]]:
    """Read and check a whole list without touching the store: (report, rows to write)."""
    path = Path(path)
    report = CsvReport(path=str(path), list_slug=list_slug)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    text, report.encoding = _decode_csv(data, str(path))
    del data
    report.delimiter = _delimiter(text)
    rows = parse(
        text, str(path), report, default_language=default_language,
        default_timezone=default_timezone, languages=languages,
    )
    return report, rows


def import_csv(
    store: Store, path: str | Path, list_slug: str, *, default_language: str,
    default_timezone: str = "Asia/Almaty", languages: Sequence[str] = LANGUAGES,
    now: datetime | None = None, overwrite_preferences: bool = False,
    progress: Progress | None = None,
) -> CsvReport:
    """Import a subscriber list: the whole file is checked first, nothing stored if a row is bad.

    Addresses that unsubscribed or bounced stay as they are ("skipped"); the language, time
    zone and lists of a subscriber who saved the preferences page are theirs ("kept") unless
    `overwrite_preferences`.
    """
    report, rows = read_csv(
        path, list_slug, default_language=default_language,
        default_timezone=default_timezone, languages=languages,
    )
    if report.rejected:
        return report
    return write_rows(
        store, report, rows, now=now, overwrite_preferences=overwrite_preferences,
        progress=progress,
    )


# --- export ----------------------------------------------------------------------------


def safe_cell(value: str) -> str:
    """The cell as a spreadsheet shows it as text: "'" before a formula start (OWASP)."""
    if value.startswith(FORMULA_START) or (value[:1] == "'" and _PROTECTED.match(value)):
        return "'" + value
    return value


def export_rows(session: Session, list_slug: str, *, raw: bool = False) -> list[list[str]]:
    """email,name,language,timezone of the active subscribers of a list (importable again).

    Cells that a spreadsheet would run as a formula get a leading "'" unless `raw`; the
    import takes it off again.
    """
    query = (
        select(Subscriber.email, Subscriber.name, Subscriber.language, Subscriber.timezone)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(MailingList.slug == list_slug, Subscriber.status == "active",
               Subscription.status == "active")
        .order_by(Subscriber.id)
    )
    rows = [["email", "name", "language", "timezone"]]
    for found in session.execute(query):
        cells = list(found)
        rows.append(cells if raw else [safe_cell(c) for c in cells])
    return rows
