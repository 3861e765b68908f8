"""Fixing articles from the command line: show, edit, hide, unhide, delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from publisher.core import config
from tests.conftest import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
KEY = "test-signing-key-0123456789abcdef"


def _articles(cli: Cli) -> dict[str, dict[str, Any]]:
    return {d["title"]: d for d in json.loads(cli("articles", "list", "--json").stdout)}


def _first(cli: Cli) -> dict[str, Any]:
    cli("import", str(FIXTURES / "mixed.txt"))
    docs = json.loads(cli("articles", "list", "--json").stdout)
    return dict(docs[0])


def test_show_lists_metadata_and_every_slot(cli: Cli) -> None:
    """`articles show` gives the article's dates and its kk, ru and en slots."""
    art = _first(cli)
    doc = json.loads(cli("articles", "show", art["id"], "--json").stdout)
    assert doc["id"] == art["id"] and doc["date_stated"] is True
    assert doc["texts"][art["lang"]]["status"] == "source"
    assert sum(1 for t in doc["texts"].values() if t is None) == 2
    text = cli("articles", "show", art["slug"]).stdout  # a slug works as well
    assert art["title"].split()[0] in text and "missing" in text


def test_unknown_article_is_one_line_exit_2(cli: Cli) -> None:
    """Every article command rejects an unknown id with one line and exit 2."""
    _first(cli)
    for args in (["show"], ["edit", "--title", "X"], ["hide"], ["unhide"], ["delete", "--yes"]):
        result = cli("articles", args[0], "nosuchid", *args[1:])
        assert result.exit_code == 2, args
        assert len(result.stderr.splitlines()) == 1 and "nosuchid" in result.stderr


def test_edit_fixes_title_and_date_and_a_reimport_keeps_the_fix(
    cli: Cli, store_cfg: config.Config
) -> None:
    """A retitled, redated article shows the fix on the site; importing the same dump
    again does not undo it."""
    art = _first(cli)
    done = cli("articles", "edit", art["id"], "--title", "Исправленный  заголовок",
               "--date", "2025-07-01")
    assert done.exit_code == 0, done.output
    cli("import", str(FIXTURES / "mixed.txt"))
    doc = json.loads(cli("articles", "show", art["id"], "--json").stdout)
    assert doc["texts"][art["lang"]]["title"] == "Исправленный заголовок"
    assert doc["published_at"].startswith("2025-07-01")
    assert cli("site", "build").exit_code == 0
    page = store_cfg.site_dir / art["lang"] / art["slug"] / "index.html"
    assert "Исправленный заголовок" in page.read_text(encoding="utf-8")
    bad = cli("articles", "edit", art["id"], "--date", "1 July")
    assert bad.exit_code == 2


def test_hide_takes_an_article_off_site_feeds_and_digests_and_unhide_restores(
    cli: Cli, store_cfg: config.Config
) -> None:
    """A hidden article's pages are pruned, it leaves the feeds and the next digest;
    unhide brings all of it back."""
    art = _first(cli)
    cli("site", "build")
    pages = [store_cfg.site_dir / lang / art["slug"] / "index.html" for lang in ("kk", "ru", "en")]
    assert all(p.is_file() for p in pages)
    assert cli("articles", "hide", art["id"]).exit_code == 0
    assert cli("site", "build").exit_code == 0
    assert not any(p.exists() for p in pages)
    feed = (store_cfg.site_dir / art["lang"] / "feed.atom").read_text(encoding="utf-8")
    assert art["title"] not in feed
    cli.env["PUBLISHER_SECRET_KEY"] = KEY
    preview = json.loads(cli("digest", "preview", "--list", "weekly", "--lang", art["lang"],
                             "--json").stdout)
    assert art["title"] not in preview["text"]
    assert _articles(cli)[art["title"]]["hidden"] is True
    assert cli("articles", "unhide", art["id"]).exit_code == 0
    cli("site", "build")
    assert all(p.is_file() for p in pages)


def test_delete_removes_the_article_and_its_pages(cli: Cli, store_cfg: config.Config) -> None:
    """`articles delete --yes` removes the article; the next build removes its pages."""
    art = _first(cli)
    cli("site", "build")
    asked = cli("articles", "delete", art["id"], input="n\n")
    assert asked.exit_code == 1 and art["title"] in _articles(cli)
    assert cli("articles", "delete", art["id"], "--yes").exit_code == 0
    assert art["title"] not in _articles(cli)
    cli("site", "build")
    assert not (store_cfg.site_dir / art["lang"] / art["slug"]).exists()
