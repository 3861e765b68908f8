"""`publisher articles list`: the table and the --json contract of DESIGN.md."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"


def test_list_json_has_the_documented_fields_and_filters_by_language(cli: Cli) -> None:
    """--json gives id, lang, title, date, blocks and translations; --lang filters."""
    cli("import", str(FIXTURES / "mixed.txt"))
    docs = json.loads(cli("articles", "list", "--json").output)
    assert len(docs) == 3
    for d in docs:
        assert {"id", "lang", "title", "date", "blocks", "translations"} <= set(d)
        assert all(set(b) == {"kind", "text"} for b in d["blocks"])
        assert d["translations"][d["lang"]] == "source"
    # newest first
    assert [d["date"] for d in docs] == ["2025-06-28", "2025-05-05", "2024-10-01"]
    only_kk = json.loads(cli("articles", "list", "--lang", "kk", "--json").output)
    assert [d["title"] for d in only_kk] == ["Медициналық колледж түлектеріне дипломдар табысталды"]


def test_list_table_shows_titles(cli: Cli) -> None:
    """Without --json a table lists the articles with their language."""
    cli("import", str(FIXTURES / "mixed.txt"))
    result = cli("articles", "list", "--lang", "ru")
    assert result.exit_code == 0
    assert "Вакцинация" in result.output and "1 article(s)" in result.output


def test_a_piped_table_keeps_each_row_on_one_line(cli: Cli, tmp_path: Path) -> None:
    """Output that is not a terminal (a file, grep) does not fold cells: the import table
    names a long path whole on its row, as a script searching the output needs."""
    deep = tmp_path / "exports" / "2026-12-06" / "university-news-kazakh-russian-english"
    deep.mkdir(parents=True)
    path = deep / "mixed-dump-of-the-week-exported-from-the-old-cms.txt"
    path.write_text((FIXTURES / "mixed.txt").read_text("utf-8"), "utf-8")
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if str(path) in line)
    assert "imported" in row and len(str(path)) > 80
