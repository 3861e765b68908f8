"""The import report warns about guesses: derived titles, missing dates, years inferred."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.ingest import importer
from publisher.store.articles import all_articles, as_json
from publisher.store.engine import Store
from tests.conftest import Cli

TITLELESS = (
    "Студенты и преподаватели университета провели субботник в ботаническом саду, где "
    "высадили более двухсот молодых деревьев и кустарников вдоль главной аллеи. Работы шли "
    "весь день.\n\n"
    "Организаторы поблагодарили всех участников и пообещали сделать акцию ежегодной.\n"
)
DERIVED = ("Студенты и преподаватели университета провели субботник в ботаническом саду, "
           "где высадили более…")


def _jsonl(path: Path, *articles: tuple[str, str]) -> Path:
    path.write_text("".join(json.dumps({"title": t, "body": b}, ensure_ascii=False) + "\n"
                            for t, b in articles), encoding="utf-8")
    return path


def _stored(cli: Cli) -> dict[str, dict[str, Any]]:
    return {d["title"]: d for d in json.loads(cli("articles", "list", "--json").output)}


def test_derived_title_and_missing_date_are_warned_in_text_and_json(
    cli: Cli, tmp_path: Path
) -> None:
    """A title-less, undated article gets two warnings naming its line, on stderr and in JSON."""
    path = tmp_path / "news.txt"
    path.write_text(TITLELESS, encoding="utf-8")
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {path}: line 1: no title line; the title is made from the first sentence, "
        f"cut short: \"{DERIVED}\"",
        f"warning: {path}: line 1: \"{DERIVED[:59].rstrip()}…\": no date stated; dated with the "
        "time it was first imported",
    ]
    assert _stored(cli)[DERIVED]["date"] is None
    again = json.loads(cli("import", str(path), "--json").output)
    assert [w.split(": ", 2)[1][:12] for w in again["files"][0]["warnings"]] == [
        "no title lin", f"\"{DERIVED[:11]}",
    ]
    assert again["totals"]["unchanged"] == 1


def test_titled_and_dated_articles_import_without_warnings(cli: Cli, tmp_path: Path) -> None:
    """An article with its title line and a full date in the lead is imported silently."""
    path = tmp_path / "news.txt"
    path.write_text("Субботник в ботаническом саду\n\n14 марта 2025 года студенты высадили "
                    "двести деревьев.\n\nОрганизаторы поблагодарили участников.\n",
                    encoding="utf-8")
    result = cli("import", str(path), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["files"][0]["warnings"] == []


def test_day_month_without_year_takes_the_nearest_dated_articles_year(
    cli: Cli, tmp_path: Path
) -> None:
    """"30 тамызда", "30 декабря", "On August 30": the year comes from the nearest full date."""
    path = _jsonl(
        tmp_path / "news.jsonl",
        ("Олимпиада өтті", "2025 жылғы 14 наурызда университетте олимпиада өтті."),
        ("Конференция өтті", "30 тамызда Алматыда неврологтар конференциясы өтті."),
        ("Новогодний концерт", "30 декабря студенты дали концерт для пациентов клиники."),
        ("Зимняя школа открылась", "2 января 2026 года в университете открылась зимняя школа."),
        ("Summer school", "On August 30 the summer school closed with a ceremony."),
        ("Undated note", "The library keeps its usual opening hours."),
    )
    result = cli("import", str(path), "--json")
    assert result.exit_code == 0, result.output
    docs = _stored(cli)
    # Nearest dated article first; between two, the earlier one. The year is the one that puts
    # the day nearest that date: 30 December beside 2 January 2026 is 2025-12-30.
    assert docs["Конференция өтті"]["date"] == "2025-08-30"
    assert docs["Новогодний концерт"]["date"] == "2025-12-30"
    assert docs["Summer school"]["date"] == "2025-08-30"
    assert docs["Undated note"]["date"] is None
    warnings = json.loads(result.output)["files"][0]["warnings"]
    assert warnings == [
        "line 2: \"Конференция өтті\": \"30 тамызда\" gives no year; dated 2025-08-30, the "
        "year taken from the nearest dated article (line 1, 2025-03-14)",
        "line 3: \"Новогодний концерт\": \"30 декабря\" gives no year; dated 2025-12-30, the "
        "year taken from the nearest dated article (line 4, 2026-01-02)",
        "line 5: \"Summer school\": \"August 30\" gives no year; dated 2025-08-30, the year "
        "taken from the nearest dated article (line 4, 2026-01-02)",
        "line 6: \"Undated note\": no date stated; dated with the time it was first imported",
    ]
    again = json.loads(cli("import", str(path), "--json").output)
    assert again["totals"]["unchanged"] == 6


def test_without_any_dated_article_the_import_date_gives_the_year(
    store: Store, tmp_path: Path
) -> None:
    """With no full date in the file, "30 августа" takes the year nearest the import date."""
    path = _jsonl(tmp_path / "news.jsonl",
                  ("Конференция неврологов", "30 августа в Уральске прошла конференция."),
                  ("Концерт", "30 декабря студенты дали концерт."))
    report = importer.import_paths(store, [path], now=datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert report.files[0].warnings == [
        "line 1: \"Конференция неврологов\": \"30 августа\" gives no year; dated 2025-08-30, "
        "the year taken from the import date (2026-01-05)",
        "line 2: \"Концерт\": \"30 декабря\" gives no year; dated 2025-12-30, the year taken "
        "from the import date (2026-01-05)",
    ]
    with store.session() as s:
        docs = {a.source_text.title: as_json(a) for a in all_articles(s)}
    assert docs["Конференция неврологов"]["date"] == "2025-08-30"
    assert docs["Конференция неврологов"]["published"] == "2025-08-30T12:00:00+00:00"


def test_kazakh_dump_with_a_day_and_month_is_dated_and_warned(cli: Cli, tmp_path: Path) -> None:
    """A text dump's "30 тамызда" lead is dated too, and a dry run reports the same warning."""
    path = tmp_path / "kk.txt"
    path.write_text(
        "Неврологтар конференциясы өтті\n\n30 тамызда Орал қаласында республикалық "
        "конференция өтті. Оған елдің түкпір-түкпірінен мамандар қатысты.\n\n"
        "Конференцияда оңалту мәселелері талқыланды.\n",
        encoding="utf-8",
    )
    dry = json.loads(cli("import", str(path), "--dry-run", "--json").output)
    assert len(dry["files"][0]["warnings"]) == 1
    assert "\"30 тамызда\" gives no year" in dry["files"][0]["warnings"][0]
    assert cli("import", str(path)).exit_code == 0
    assert _stored(cli)["Неврологтар конференциясы өтті"]["date"][5:] == "08-30"


def test_a_kind_of_warning_is_shown_five_times_a_file_and_json_keeps_every_one(
    cli: Cli, tmp_path: Path
) -> None:
    """Twelve undated articles (some titles with quotes of their own) print five "no date
    stated" lines and one saying seven more were left out; `--json` still lists all twelve,
    and a warning of another kind shows."""
    titles = [f"Заметка {n}" for n in range(8)] + [
        f'Ректор ответил "да": {w}' for w in ("стипендии", "общежитие", "практика", "гранты")]
    path = _jsonl(tmp_path / "news.jsonl",
                  *((t, "Библиотека работает как обычно.") for t in titles),
                  ("Конференция прошла", "30 декабря в университете прошла конференция."))
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    undated = [line for line in lines if line.endswith("no date stated; dated with the time "
                                                       "it was first imported")]
    assert [line.split('"')[1] for line in undated] == titles[:5]
    assert f"warning: {path}: 7 more like that (no date stated); `publisher import --json` " \
        "lists every warning" in lines
    assert any("gives no year" in line for line in lines)
    assert len(lines) == 7
    report = json.loads(cli("import", str(path), "--json", "--dry-run").output)
    assert sum("no date stated" in w for w in report["files"][0]["warnings"]) == 12
