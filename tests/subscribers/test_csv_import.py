"""CSV subscriber lists: encodings, delimiters, bad rows, duplicates, the no-reactivation rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.core.errors import InputError
from publisher.store.engine import Store
from publisher.store.models import Subscriber, Subscription
from publisher.subscribers import registry as subs

ROOT = Path(__file__).resolve().parents[2]
WEEKLY = ROOT / "subscribers" / "weekly.csv"


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _emails(store: Store) -> dict[str, Subscriber]:
    with store.session() as s:
        return {x.email: x for x in s.scalars(select(Subscriber))}


def test_sample_list_imports_three_subscribers_per_language(store: Store) -> None:
    """The shipped subscribers/weekly.csv imports cleanly: 9 people, 3 per language."""
    report = subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    assert report.imported and report.added == 9 and not report.warnings
    langs = [x.language for x in _emails(store).values()]
    assert sorted(langs) == ["en"] * 3 + ["kk"] * 3 + ["ru"] * 3
    assert _emails(store)["aigerim.nurlanova@example.kz"].name == "Әйгерім Нұрланова"


def test_reimport_changes_nothing(store: Store) -> None:
    """Importing the same list twice adds nobody the second time."""
    subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    again = subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 9)


def test_bom_and_semicolons_are_understood(store: Store, tmp_path: Path) -> None:
    """An Excel export (UTF-8 BOM, semicolons, capitalised headers) imports like a plain CSV."""
    path = _write(tmp_path, "\ufeffEmail;Name;Language\r\nanna@example.org;Анна Ли;Русский\r\n")
    report = subs.import_csv(store, path, "weekly", default_language="kk")
    assert (report.encoding, report.delimiter, report.added) == ("utf-8-sig", ";", 1)
    sub = _emails(store)["anna@example.org"]
    assert (sub.name, sub.language) == ("Анна Ли", "ru")


def test_windows_1251_names_are_decoded(store: Store, tmp_path: Path) -> None:
    """A list saved as Windows-1251 keeps its Cyrillic names intact."""
    path = _write(tmp_path, "email;name;language\nboris@example.kz;Борис Ёлкин;русский\n", "cp1251")
    report = subs.import_csv(store, path, "weekly", default_language="kk")
    assert report.encoding == "windows-1251"
    sub = _emails(store)["boris@example.kz"]
    assert (sub.name, sub.language) == ("Борис Ёлкин", "ru")


def test_a_bad_row_rejects_the_whole_file(store: Store, tmp_path: Path) -> None:
    """One invalid address, timezone or extra field: every bad line is named, nobody is added."""
    path = _write(
        tmp_path,
        (
            "email,name,language,timezone\n"
            "good@example.org,Good,en,\n"
            "not-an-address,Bad,en,\n"
            "tz@example.org,Tz,en,Mars/Olympus\n"
            ",No address,en,\n"
            "extra@example.org,Extra,en,Asia/Almaty,surplus\n"
        ),
    )
    report = subs.import_csv(store, path, "weekly", default_language="kk")
    assert not report.imported
    assert [(n.line, n.email) for n in report.rejected] == [
        (3, "not-an-address"),
        (4, "tz@example.org"),
        (5, ""),
        (6, "extra@example.org"),
    ]
    assert "invalid email address" in report.rejected[0].reason
    assert "Mars/Olympus" in report.rejected[1].reason
    assert _emails(store) == {}


def test_duplicates_are_merged(store: Store, tmp_path: Path) -> None:
    """The same address twice (domain case differs) becomes one subscriber, gaps filled in."""
    path = _write(tmp_path, "email,name,language\ndup@EXAMPLE.org,,\ndup@example.org,Дана,kk\n")
    report = subs.import_csv(store, path, "weekly", default_language="en")
    assert report.added == 1 and [(n.line, n.reason) for n in report.merged] == [
        (3, "same address as line 2")
    ]
    sub = _emails(store)["dup@example.org"]
    assert (sub.name, sub.language) == ("Дана", "kk")


def test_unknown_language_falls_back_with_a_warning(store: Store, tmp_path: Path) -> None:
    """An unknown language gets the list default and a warning naming the line."""
    path = _write(tmp_path, "email,name,language\nx@example.org,X,klingon\ny@example.org,Y,\n")
    report = subs.import_csv(store, path, "weekly", default_language="ru")
    assert [(n.line, n.email) for n in report.warnings] == [(2, "x@example.org")]
    assert {e: s.language for e, s in _emails(store).items()} == {
        "x@example.org": "ru",
        "y@example.org": "ru",
    }


def test_kazakh_language_spellings(store: Store, tmp_path: Path) -> None:
    """kk, kaz, қазақша and Kazakh all mean Kazakh."""
    rows = "".join(
        f"k{i}@example.kz,,{v}\n" for i, v in enumerate(["kk", "kaz", "Қазақша", "Kazakh"])
    )
    report = subs.import_csv(
        store, _write(tmp_path, "email,name,language\n" + rows), "weekly", default_language="en"
    )
    assert report.added == 4 and {s.language for s in _emails(store).values()} == {"kk"}


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_suppressed_addresses_are_never_reactivated(store: Store, status: str) -> None:
    """An address that left or bounced stays that way after an import, reported as skipped."""
    subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    with store.session() as s:
        sub = subs.by_email(s, "ivan.petrov@example.org")
        assert sub is not None
        sub.status = status
    report = subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    assert [(n.line, n.email) for n in report.skipped] == [(5, "ivan.petrov@example.org")]
    assert _emails(store)["ivan.petrov@example.org"].status == status


def test_list_unsubscribe_is_not_undone_by_import(store: Store) -> None:
    """Leaving one list survives a re-import of that list."""
    subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    with store.session() as s:
        subs.remove(s, "john.smith@example.org", list_slug="weekly")
    report = subs.import_csv(store, WEEKLY, "weekly", default_language="kk")
    assert [n.email for n in report.skipped] == ["john.smith@example.org"]
    with store.session() as s:
        sub = subs.by_email(s, "john.smith@example.org")
        assert sub is not None and sub.status == "active"
        states = s.scalars(
            select(Subscription.status).where(Subscription.subscriber_id == sub.id)
        ).all()
    assert states == ["unsubscribed"]


def test_missing_email_column_is_an_input_error(store: Store, tmp_path: Path) -> None:
    """A file without an email header fails with one line naming the file and line 1."""
    path = _write(tmp_path, "name,language\nX,en\n")
    with pytest.raises(InputError, match=r"list\.csv: line 1: no email column"):
        subs.import_csv(store, path, "weekly", default_language="kk")


def test_binary_file_is_rejected(store: Store, tmp_path: Path) -> None:
    """A spreadsheet saved as .xlsx instead of CSV is refused with a hint."""
    path = tmp_path / "list.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(InputError, match="binary data at byte offset 4"):
        subs.import_csv(store, path, "weekly", default_language="kk")


def test_cli_import_reports_rejected_rows_and_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`subscribers import` names each rejected line on stderr and exits 2, storing nothing."""
    path = _write(tmp_path, "email,name,language\nok@example.org,Ok,en\nbroken@,B,en\n")
    result = cli("subscribers", "import", str(path), "--list", "weekly")
    assert result.exit_code == 2
    assert "line 3: rejected broken@" in result.stderr and "nothing imported" in result.stderr
    listed = cli("subscribers", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_cli_import_json_and_unknown_list(cli) -> None:  # type: ignore[no-untyped-def]
    """--json prints one report document; an unconfigured list slug exits 2."""
    result = cli("subscribers", "import", str(WEEKLY), "--list", "weekly", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["added"] == 9 and doc["rejected"] == [] and doc["encoding"] == "utf-8"
    bad = cli("subscribers", "import", str(WEEKLY), "--list", "daily")
    assert bad.exit_code == 2 and "unknown list 'daily'" in bad.stderr
