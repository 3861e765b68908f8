"""JSON Lines and Markdown imports (for CMS exports), and their bad-input messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"


def _articles(cli: Cli) -> dict[str, dict[str, Any]]:
    return {d["title"]: d for d in json.loads(cli("articles", "list", "--json").output)}


def test_jsonl_articles_with_translations(cli: Cli) -> None:
    """JSON Lines: body or blocks, date, lang and a ready translation slot are imported."""
    result = cli("import", str(FIXTURES / "cms_export.jsonl"))
    assert result.exit_code == 0, result.output
    docs = _articles(cli)
    lab = docs["Жаңа зертхана ашылды"]
    assert lab["lang"] == "kk" and lab["date"] == "2025-05-05"
    assert lab["translations"] == {"kk": "source", "ru": "ready", "en": "missing"}
    assert lab["categories"] == ["science"]
    assert [b["kind"] for b in lab["blocks"]] == ["paragraph", "paragraph"]
    vac = docs["Vaccination week"]
    assert vac["lang"] == "en" and vac["date"] == "2024-10-01"
    assert vac["blocks"][1] == {"kind": "list", "text": "flu\nmeasles"}
    again = json.loads(cli("import", str(FIXTURES / "cms_export.jsonl"), "--json").output)
    assert again["totals"]["unchanged"] == 2


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"title": "T", "body": "x"}\n{"title": 5, "body": "x"}', "line 2: field 'title'"),
        ('{"title": "T"}', "line 1: field 'body': missing"),
        ('{"title": "T", "body": "x", "date": "7 April"}', "line 1: field 'date'"),
        ('{"title": "T", "body": "x", "lang": "de"}', "line 1: field 'lang'"),
        ('{"title": "T", "blocks": [{"kind": "table", "text": "x"}]}', "blocks[0].kind"),
        ('{"title": "T", "body": "x"}\n{not json', "line 2: not JSON"),
        # A lone surrogate escape decodes to no character: named, not a crash when stored.
        ('{"title": "Bad \\ud800 title", "body": "x"}', "line 1: field 'title': a lone"),
        ('{"title": "T", "blocks": [{"kind": "paragraph", "text": "\\uDFFF"}]}',
         "field 'blocks[0].text': a lone surrogate"),
        ('{"title": "T", "body": "x", "translations": {"ru": {"title": "\\ud83d", '
         '"body": "y"}}}', "field 'translations.ru.title'"),
        ('{"title": "T", "body": "x", "categories": ["ok", "\\udc00"]}',
         "field 'categories[1]'"),
    ],
)
def test_bad_jsonl_line_rejects_the_file(
    cli: Cli, tmp_path: Path, line: str, expected: str
) -> None:
    """A bad JSON Lines record rejects the whole file, naming the line and the field."""
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    result = cli("import", str(path))
    assert result.exit_code == 2
    assert expected in result.stderr
    assert _articles(cli) == {}


def test_a_character_escaped_as_a_surrogate_pair_imports(cli: Cli, tmp_path: Path) -> None:
    """A character above U+FFFF written as a JSON surrogate pair is that character."""
    path = tmp_path / "pair.jsonl"
    path.write_text('{"title": "Clinic opens \\ud83c\\udfe5", "body": "The new clinic '
                    'opened today in Almaty."}\n', encoding="utf-8")
    assert cli("import", str(path)).exit_code == 0
    assert "Clinic opens \U0001f3e5" in _articles(cli)


def test_markdown_with_front_matter(cli: Cli) -> None:
    """Markdown: front matter gives title/date/lang/categories; ## and - become blocks."""
    assert cli("import", str(FIXTURES / "article.md")).exit_code == 0
    doc = _articles(cli)["Ректор встретился со студентами"]
    assert doc["lang"] == "ru" and doc["date"] == "2025-02-14"
    assert doc["categories"] == ["news", "students"]
    assert doc["blocks"] == [
        {"kind": "paragraph",
         "text": "Ректор университета встретился со студентами первого курса."},
        {"kind": "heading", "text": "Вопросы студентов"},
        {"kind": "paragraph", "text": "Студенты спросили о:"},
        {"kind": "list", "text": "общежитиях;\nстипендиях;\nпрактике."},
    ]


def test_markdown_without_title_is_rejected(cli: Cli, tmp_path: Path) -> None:
    """A Markdown file with neither a front-matter title nor a # heading is rejected."""
    path = tmp_path / "untitled.md"
    path.write_text("---\nlang: en\n---\nJust a paragraph.\n", encoding="utf-8")
    result = cli("import", str(path))
    assert result.exit_code == 2 and "field 'title'" in result.stderr


def test_markdown_links_keep_their_words_even_with_parentheses(cli: Cli, tmp_path: Path) -> None:
    """Links whose URL holds parentheses become their text, with no stray ')' left behind."""
    path = tmp_path / "links.md"
    path.write_text(
        "---\ntitle: Links\nlang: en\n---\n\nRead [the article](https://en.wikipedia.org/wiki/"
        "Cornea_(anatomy)) or [click](javascript:alert(1)) today.\n",
        encoding="utf-8",
    )
    assert cli("import", str(path)).exit_code == 0
    (doc,) = json.loads(cli("articles", "list", "--json").stdout)
    assert doc["blocks"][0]["text"] == "Read the article or click today."
