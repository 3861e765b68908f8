"""Stored merges and splits replayed by the importer (ingest/corrections.py, regroup.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from publisher.ingest import corrections, importer, regroup
from publisher.store.articles import Block, ParsedArticle, all_articles, as_json
from publisher.store.engine import Store
from publisher.store.models import Correction

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
DUMP = FIXTURES / "regroup.txt"
LAB = "University opens a genomics laboratory"
VACCINE = "Student volunteers vaccinate the campus"
NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def _docs(store: Store) -> dict[str, dict[str, Any]]:
    with store.session() as s:
        return {d["title"]: d for d in map(as_json, all_articles(s, include_hidden=True))}


def _totals(store: Store, *paths: Path, dry_run: bool = False) -> dict[str, int]:
    return importer.import_paths(store, paths, dry_run=dry_run, now=NOW).totals()


def _jsonl(path: Path, *objs: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs),
                    encoding="utf-8")
    return path


CMS = {
    "title": "Clinic opens a sleep laboratory", "date": "2025-04-07T09:30:00+05:00",
    "lang": "en", "categories": ["clinic"],
    "blocks": [
        {"kind": "paragraph", "text": "The university clinic opened a sleep laboratory."},
        {"kind": "heading", "text": "Open day for families"},
        {"kind": "paragraph", "text": "On 12 April 2025 families can visit the laboratory."},
    ],
    "translations": {"ru": {"title": "Клиника открыла лабораторию сна",
                            "body": "Клиника университета открыла лабораторию сна."}},
}


def test_a_split_part_takes_the_date_its_own_lead_states() -> None:
    """A part cut off at a heading is dated by its lead's full date, else by the article."""
    whole = ParsedArticle(
        title="Whole", lang="en", date=datetime(2025, 3, 1, 12, tzinfo=UTC),
        blocks=[Block("paragraph", "Intro."), Block("heading", "Later"),
                Block("paragraph", "On 12 April 2025 it went on."), Block("heading", "Tail"),
                Block("paragraph", "No date here.")],
    )
    head, tail = corrections.cut(whole, 1)
    assert head.blocks == whole.blocks[:1] and tail.title == "Later"
    assert tail.date == datetime(2025, 4, 12, 12, tzinfo=UTC)
    _head, undated = corrections.cut(whole, 3)
    assert undated.date == whole.date and undated.lang == "en"
    assert head.derived_fingerprint != tail.derived_fingerprint


def test_a_jsonl_article_is_cut_again_on_reimport(store: Store, tmp_path: Path) -> None:
    """A split of a JSON Lines article (whose reader never cuts at headings) holds on
    re-import: the importer cuts it the same way and finds both parts unchanged."""
    path = _jsonl(tmp_path / "cms.jsonl", CMS)
    _totals(store, path)
    aid = _docs(store)[CMS["title"]]["id"]
    done = regroup.split(store, aid, "Open day for families", now=NOW)
    assert done["outdated"] == ["ru"]
    assert done["new"]["date"] == "2025-04-12" and done["new"]["categories"] == ["clinic"]
    before = _docs(store)
    assert _totals(store, path)["unchanged"] == 2
    assert _docs(store) == before
    assert _docs(store)[CMS["title"]]["translations"]["ru"] == "outdated"


def test_a_dump_that_repeats_merged_articles_stays_merged(store: Store, tmp_path: Path) -> None:
    """A file that repeats both merged articles imports as the one merged article."""
    twice = tmp_path / "twice.txt"
    text = DUMP.read_text(encoding="utf-8")
    twice.write_text(text + "\n" + text, encoding="utf-8")
    _totals(store, twice)
    docs = _docs(store)
    regroup.merge(store, docs[LAB]["id"], docs[VACCINE]["id"], now=NOW)
    merged = _docs(store)
    assert _totals(store, twice) == {"files": 1, "articles": 4, "new": 0, "updated": 0,
                                     "unchanged": 4, "rejected": 0}
    assert _docs(store) == merged


def test_a_dry_run_after_a_merge_reports_it_unchanged(store: Store) -> None:
    """`import --dry-run` of the dump after a merge shows nothing new or updated."""
    _totals(store, DUMP)
    docs = _docs(store)
    regroup.merge(store, docs[LAB]["id"], docs[VACCINE]["id"], now=NOW)
    assert _totals(store, DUMP, dry_run=True)["unchanged"] == 2


def test_a_changed_dump_updates_the_merged_article(store: Store, tmp_path: Path) -> None:
    """When the dump's text of a merged-in article changes, the merged article shows the
    new text (and stays one article)."""
    path = tmp_path / "dump.txt"
    path.write_text(DUMP.read_text(encoding="utf-8"), encoding="utf-8")
    _totals(store, path)
    docs = _docs(store)
    regroup.merge(store, docs[LAB]["id"], docs[VACCINE]["id"], now=NOW)
    path.write_text(path.read_text(encoding="utf-8").replace("five hundred", "six hundred"),
                    encoding="utf-8")
    assert _totals(store, path)["updated"] == 1
    after = _docs(store)
    assert VACCINE not in after
    assert "six hundred" in after[LAB]["blocks"][-1]["text"]


def test_undoing_removes_the_rule_instead_of_stacking_one(store: Store) -> None:
    """A merge undone by a split leaves no stored rule behind, and the other way round."""
    _totals(store, DUMP)
    docs = _docs(store)
    regroup.merge(store, docs[LAB]["id"], docs[VACCINE]["id"], now=NOW)
    regroup.split(store, docs[LAB]["id"], VACCINE, now=NOW)
    regroup.split(store, docs[LAB]["id"], "Research Priorities", now=NOW)
    with store.session() as s:
        assert [r.kind for r in s.scalars(select(Correction))] == ["split"]
    new = _docs(store)["Research Priorities"]["id"]
    regroup.merge(store, docs[LAB]["id"], new, now=NOW)
    with store.session() as s:
        assert list(s.scalars(select(Correction))) == []
    assert _totals(store, DUMP)["unchanged"] == 3
