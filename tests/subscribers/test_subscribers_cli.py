"""`publisher subscribers add|remove|list|export` end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WEEKLY = ROOT / "subscribers" / "weekly.csv"


def test_add_list_remove(cli) -> None:  # type: ignore[no-untyped-def]
    """An admin adds an address, sees it listed, removes it; re-adding it is refused."""
    assert (
        cli(
            "subscribers",
            "add",
            "Nurai@Example.KZ",
            "--list",
            "weekly",
            "--name",
            "Нұрай",
            "--language",
            "kk",
        ).exit_code
        == 0
    )
    docs = json.loads(cli("subscribers", "list", "--json").stdout)
    assert [(d["email"], d["name"], d["language"], d["lists"]) for d in docs] == [
        ("nurai@example.kz", "Нұрай", "kk", {"weekly": "active"})
    ]
    assert cli("subscribers", "remove", "Nurai@example.kz").exit_code == 0
    again = cli("subscribers", "add", "Nurai@example.kz", "--list", "weekly")
    assert "skipped" in again.stdout
    doc = json.loads(cli("subscribers", "list", "--json").stdout)[0]
    assert (doc["status"], doc["lists"]) == ("unsubscribed", {"weekly": "unsubscribed"})


def test_add_rejects_bad_input(cli) -> None:  # type: ignore[no-untyped-def]
    """A malformed address or timezone exits 2 with one line on stderr."""
    bad = cli("subscribers", "add", "nobody-at-all", "--list", "weekly")
    assert bad.exit_code == 2 and "invalid email address" in bad.stderr
    tz = cli(
        "subscribers", "add", "a@example.org", "--list", "weekly", "--timezone", "Nowhere/City"
    )
    assert tz.exit_code == 2 and "Nowhere/City" in tz.stderr
    gone = cli("subscribers", "remove", "ghost@example.org")
    assert gone.exit_code == 2 and "no subscriber ghost@example.org" in gone.stderr


def test_export_round_trips(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An exported list holds the active subscribers and imports again unchanged."""
    cli("subscribers", "import", str(WEEKLY), "--list", "weekly")
    cli("subscribers", "remove", "olga.smirnova@example.kz", "--list", "weekly")
    out = cli("subscribers", "export", "--list", "weekly")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 8 and "olga.smirnova@example.kz" not in {r["email"] for r in rows}
    assert {
        "email": "ivan.petrov@example.org",
        "name": "Иван Петров",
        "language": "ru",
        "timezone": "Asia/Almaty",
    } in rows
    target = tmp_path / "out.csv"
    assert cli("subscribers", "export", "--list", "weekly", "-o", str(target)).exit_code == 0
    back = json.loads(
        cli("subscribers", "import", str(target), "--list", "weekly", "--json").stdout
    )
    assert (back["added"], back["updated"], back["unchanged"]) == (0, 0, 8)


def test_address_case_does_not_make_a_second_subscriber_or_resubscribe(
    cli: Any, tmp_path: Path
) -> None:
    """An unsubscribed address spelled with other capitals in a CSV stays unsubscribed."""
    first = tmp_path / "a.csv"
    first.write_text("email,name,language\nanna.ivanova@example.com,Анна,ru\n", encoding="utf-8")
    assert cli("subscribers", "import", str(first), "--list", "weekly").exit_code == 0
    removed = cli("subscribers", "remove", "anna.ivanova@example.com", "--list", "weekly")
    assert removed.exit_code == 0
    again = tmp_path / "b.csv"
    again.write_text("email,name,language\nAnna.Ivanova@Example.COM,Анна,ru\n", encoding="utf-8")
    result = cli("subscribers", "import", str(again), "--list", "weekly", "--json")
    assert json.loads(result.output)["skipped"], result.output
    listed = json.loads(cli("subscribers", "list", "--json").output)
    assert [d["email"] for d in listed] == ["anna.ivanova@example.com"]


def test_reimport_without_language_keeps_the_subscribers_choice(cli: Any, tmp_path: Path) -> None:
    """A CSV without language/timezone columns does not reset what subscribers chose."""
    first = tmp_path / "a.csv"
    first.write_text(
        "email,name,language,timezone\nivan@example.org,Иван,ru,Europe/Moscow\n", encoding="utf-8"
    )
    assert cli("subscribers", "import", str(first), "--list", "weekly").exit_code == 0
    bare = tmp_path / "b.csv"
    bare.write_text("email,name\nivan@example.org,Иван\n", encoding="utf-8")
    assert cli("subscribers", "import", str(bare), "--list", "weekly").exit_code == 0
    assert cli("subscribers", "add", "ivan@example.org", "--list", "weekly").exit_code == 0
    (row,) = json.loads(cli("subscribers", "list", "--json").output)
    assert (row["language"], row["timezone"]) == ("ru", "Europe/Moscow")


def test_line_breaks_in_a_name_never_reach_a_header(cli: Any) -> None:
    """`subscribers add --name` with CR/LF stores the name on one line."""
    result = cli("subscribers", "add", "eve@example.org", "--list", "weekly",
                 "--name", "Eve\r\nBcc: victim@example.org")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(cli("subscribers", "list", "--json").output)
    assert row["name"] == "Eve Bcc: victim@example.org"


def test_every_list_option_rejects_an_unknown_list(cli: Any) -> None:
    """A typo in --list is an error naming the configured lists (exit 2), never an empty
    backup or "0 subscriber(s)" with exit 0."""
    for args in (["subscribers", "export", "--list", "weeky"],
                 ["subscribers", "list", "--list", "weeky"],
                 ["subscribers", "remove", "a@example.org", "--list", "weeky"],
                 ["subscribers", "add", "a@example.org", "--list", "weeky"],
                 ["digest", "list", "--list", "weeky"],
                 ["digest", "preview", "--list", "weeky", "--lang", "kk"],
                 ["send", "--list", "weeky"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "weeky" in result.stderr and "weekly" in result.stderr, args
        assert result.stdout == "", args


def test_an_address_needing_smtputf8_is_flagged_at_import_and_add(
    cli: Any, tmp_path: Path
) -> None:
    """юзер@пример.рф is stored, and the operator learns at once that it needs a server with
    SMTPUTF8; user@пример.рф (IDNA works everywhere) raises no warning."""
    path = tmp_path / "people.csv"
    path.write_text("email,name,language\nюзер@пример.рф,Юзер,ru\nuser@пример.рф,User,ru\n",
                    encoding="utf-8")
    result = cli("subscribers", "import", str(path), "--list", "weekly")
    assert result.exit_code == 0, result.output
    assert "line 2" in result.stderr and "SMTPUTF8" in result.stderr
    assert "line 3" not in result.stderr
    added = cli("subscribers", "add", "әлия@example.kz", "--list", "weekly")
    assert added.exit_code == 0 and "SMTPUTF8" in added.stderr
