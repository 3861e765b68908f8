"""`publisher subscribers add|remove|list|export` end to end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
        ("Nurai@example.kz", "Нұрай", "kk", {"weekly": "active"})
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
