"""Fixing the importer's title/subheading split: `articles merge` and `articles split`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polib

from publisher.core import config
from tests.conftest import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
DUMP = FIXTURES / "regroup.txt"
LAB = "University opens a genomics laboratory"
VACCINE = "Student volunteers vaccinate the campus"
LIBRARY = "Library extends its opening hours"
HEADING = "Research Priorities"


def _docs(cli: Cli) -> dict[str, dict[str, Any]]:
    result = cli("articles", "list", "--json")
    assert result.exit_code == 0, result.output
    return {d["title"]: d for d in json.loads(result.stdout)}


def _import(cli: Cli, *paths: Path) -> dict[str, Any]:
    result = cli("import", *(str(p) for p in paths or (DUMP,)), "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _fresh(cli: Cli) -> dict[str, dict[str, Any]]:
    assert _import(cli)["totals"]["new"] == 3
    return _docs(cli)


def _translate(cli: Cli, tmp_path: Path, lang: str = "ru") -> None:
    """Every missing `lang` slot translated and imported back as ready."""
    path = tmp_path / f"{lang}.po"
    assert cli("translations", "export", "--lang", lang, "-o", str(path)).exit_code == 0
    po = polib.pofile(str(path))
    for entry in po:
        entry.msgstr = f"[{lang}] {entry.msgid}"
        entry.flags = [f for f in entry.flags if f != "fuzzy"]
    po.save(str(path))
    done = cli("translations", "import", str(path), "--force")
    assert done.exit_code == 0, done.output


def _heading(text: str) -> dict[str, str]:
    return {"kind": "heading", "text": text}


def test_merge_appends_the_second_article_under_its_title_and_removes_it(
    cli: Cli, store_cfg: config.Config
) -> None:
    """After a merge the list shows one article: the first's blocks, the second's title as
    a subheading, then the second's blocks; the next build removes the second's pages."""
    docs = _fresh(cli)
    lab, vaccine = docs[LAB], docs[VACCINE]
    cli("site", "build")
    page = store_cfg.site_dir / "en" / vaccine["slug"] / "index.html"
    assert page.is_file()
    done = cli("articles", "merge", lab["id"], vaccine["id"])
    assert done.exit_code == 0, done.output
    assert vaccine["id"] in done.stdout and lab["id"] in done.stdout
    after = _docs(cli)
    assert set(after) == {LAB, LIBRARY}
    assert after[LAB]["id"] == lab["id"] and after[LAB]["date"] == lab["date"]
    assert after[LAB]["blocks"] == [*lab["blocks"], _heading(VACCINE), *vaccine["blocks"]]
    assert cli("site", "build").exit_code == 0
    assert not page.exists()
    lab_page = store_cfg.site_dir / "en" / lab["slug"] / "index.html"
    assert "Shots are free" in lab_page.read_text(encoding="utf-8")


def test_reimporting_the_dump_after_a_merge_keeps_it_merged(cli: Cli) -> None:
    """Importing the same dump again neither brings the merged article back nor changes the
    merged one."""
    docs = _fresh(cli)
    cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    merged = _docs(cli)
    report = _import(cli)
    assert report["totals"] == {"files": 1, "articles": 2, "new": 0, "updated": 0,
                                "unchanged": 2, "rejected": 0}
    assert _docs(cli) == merged
    assert _import(cli, DUMP, DUMP)["totals"]["unchanged"] == 4  # and again, twice over


def test_merge_outdates_the_first_articles_translations_and_drops_the_seconds(
    cli: Cli, tmp_path: Path
) -> None:
    """A merged article's translations show as outdated, and the output says which
    translations of the removed article were dropped."""
    docs = _fresh(cli)
    _translate(cli, tmp_path)
    assert _docs(cli)[LAB]["translations"]["ru"] == "ready"
    done = cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    assert done.exit_code == 0, done.output
    assert "outdated: ru" in done.stdout and "dropped: ru" in done.stdout
    after = _docs(cli)[LAB]
    assert after["translations"] == {"kk": "missing", "ru": "outdated", "en": "source"}
    _import(cli)
    assert _docs(cli)[LAB]["translations"]["ru"] == "outdated"
    # The translators get the merged text, prefilled with what they had and fuzzy.
    path = tmp_path / "again.po"
    cli("translations", "export", "--lang", "ru", "-o", str(path))
    entries = [e for e in polib.pofile(str(path)) if e.msgctxt.startswith(docs[LAB]["id"])]
    assert VACCINE in [e.msgid for e in entries]
    assert entries[0].fuzzy and entries[0].previous_msgid == LAB


def test_split_makes_a_new_article_from_the_heading_on(cli: Cli) -> None:
    """After a split the heading is a new article's title with the blocks after it, dated
    and in the language of the article it came from."""
    lab = _fresh(cli)[LAB]
    done = cli("articles", "split", lab["id"], "--at", "research  PRIORITIES")
    assert done.exit_code == 0, done.output
    after = _docs(cli)
    assert set(after) == {LAB, VACCINE, LIBRARY, HEADING}
    at = lab["blocks"].index(_heading(HEADING))
    assert after[LAB]["blocks"] == lab["blocks"][:at]
    new = after[HEADING]
    assert new["blocks"] == lab["blocks"][at + 1:]
    assert (new["lang"], new["date"], new["hidden"]) == ("en", lab["date"], False)
    assert new["translations"] == {"kk": "missing", "ru": "missing", "en": "source"}


def test_reimporting_the_dump_after_a_split_keeps_it_split(cli: Cli) -> None:
    """Importing the same dump again neither puts the cut-off part back nor changes either
    article."""
    lab = _fresh(cli)[LAB]
    cli("articles", "split", lab["id"], "--at", HEADING)
    split = _docs(cli)
    assert _import(cli)["totals"]["unchanged"] == 4
    assert _docs(cli) == split


def test_a_dump_cut_at_the_split_heading_by_itself_keeps_both_articles(
    cli: Cli, tmp_path: Path
) -> None:
    """After a split, a dump whose reader already cuts at that heading (the admin marked it
    `# ` too) gives the same two articles: the parts are joined and cut again so that both
    keep the fingerprints the split gave them, and nothing is updated."""
    lab = _fresh(cli)[LAB]
    cli("articles", "split", lab["id"], "--at", HEADING)
    split = _docs(cli)
    marked = tmp_path / DUMP.name
    text = DUMP.read_text("utf-8")
    assert f"\n{HEADING}\n" in text
    marked.write_text(text.replace(f"\n{HEADING}\n", f"\n# {HEADING}\n"), "utf-8")
    totals = _import(cli, marked)["totals"]
    assert (totals["unchanged"], totals["updated"], totals["new"]) == (4, 0, 0)
    assert _docs(cli) == split


def test_split_outdates_translations_and_the_new_article_has_only_its_source(
    cli: Cli, tmp_path: Path
) -> None:
    """After a split the article's translations are outdated and the new article waits
    for its own translations."""
    lab = _fresh(cli)[LAB]
    _translate(cli, tmp_path)
    done = cli("articles", "split", lab["id"], "--at", HEADING)
    assert "outdated: ru" in done.stdout
    after = _docs(cli)
    assert after[LAB]["translations"]["ru"] == "outdated"
    assert after[HEADING]["translations"]["ru"] == "missing"
    assert after[VACCINE]["translations"]["ru"] == "ready"


def test_split_at_the_merged_heading_undoes_the_merge(cli: Cli, tmp_path: Path) -> None:
    """Splitting a merged article at the merged-in title gives back both articles as
    imported, and re-importing then leaves both alone."""
    docs = _fresh(cli)
    _translate(cli, tmp_path)
    before = _docs(cli)
    cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    done = cli("articles", "split", docs[LAB]["id"], "--at", VACCINE, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["undid_merge"] is True
    after = _docs(cli)
    assert after[VACCINE]["id"] == docs[VACCINE]["id"]
    assert after[VACCINE]["slug"] == docs[VACCINE]["slug"]
    assert after[VACCINE]["date"] == docs[VACCINE]["date"]
    assert after[LAB]["blocks"] == docs[LAB]["blocks"]
    # The lab's translation was made from exactly this text again; the merged-away
    # article's were dropped.
    assert after[LAB]["translations"]["ru"] == "ready"
    assert after[VACCINE]["translations"]["ru"] == "missing"
    assert _import(cli)["totals"]["unchanged"] == 3
    assert {t: d["blocks"] for t, d in _docs(cli).items()} == {
        t: d["blocks"] for t, d in before.items()}


def test_merging_the_cut_off_part_back_undoes_the_split(cli: Cli) -> None:
    """Merging a split-off article back into the one it came from gives back the article as
    imported, and re-importing then changes nothing."""
    lab = _fresh(cli)[LAB]
    cli("articles", "split", lab["id"], "--at", HEADING)
    new = _docs(cli)[HEADING]
    done = cli("articles", "merge", lab["id"], new["id"], "--json")
    assert json.loads(done.stdout)["undid_split"] is True
    assert _docs(cli)[LAB]["blocks"] == lab["blocks"]
    assert _import(cli)["totals"] == {"files": 1, "articles": 3, "new": 0, "updated": 0,
                                      "unchanged": 3, "rejected": 0}
    assert set(_docs(cli)) == {LAB, VACCINE, LIBRARY}


def test_json_output_is_one_document_per_command(cli: Cli) -> None:
    """`--json` prints one JSON document describing the merged or split articles."""
    docs = _fresh(cli)
    merged = json.loads(cli("articles", "merge", docs[LAB]["id"], docs[LIBRARY]["id"],
                            "--json").stdout)
    assert merged["action"] == "merge" and merged["merged"]["id"] == docs[LIBRARY]["id"]
    assert merged["article"]["blocks"][-3] == _heading(LIBRARY)
    assert merged["dropped_translations"] == [] and merged["undid_split"] is False
    split = json.loads(cli("articles", "split", docs[LAB]["id"], "--at", HEADING,
                           "--json").stdout)
    assert split["action"] == "split" and split["new"]["title"] == HEADING
    assert split["new"]["blocks"][-3] == _heading(LIBRARY)  # the library came along
    assert split["article"]["id"] == docs[LAB]["id"]


def test_bad_requests_exit_2_with_one_line_and_change_nothing(cli: Cli) -> None:
    """An unknown id, a merge into itself or a heading the article lacks is refused with
    one line and exit 2, and the store is as before."""
    docs = _fresh(cli)
    lab, vaccine = docs[LAB]["id"], docs[VACCINE]["id"]
    cases = [
        (["merge", "nosuchid", vaccine], "nosuchid"),
        (["merge", lab, "nosuchid"], "nosuchid"),
        (["merge", lab, docs[LAB]["slug"]], "itself"),
        (["split", "nosuchid", "--at", HEADING], "nosuchid"),
        (["split", lab, "--at", "Funding"], "'Research Priorities'"),
        (["split", vaccine, "--at", HEADING], "no headings"),
        (["split", lab, "--at", LAB], "title"),
        (["split", lab, "--at", "  "], "empty"),
    ]
    for args, says in cases:
        result = cli("articles", *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.splitlines()) == 1 and says in result.stderr, args
    assert "--at" in cli("articles", "split", lab).stderr
    assert _docs(cli) == docs
    assert _import(cli)["totals"]["unchanged"] == 3  # and no rule was stored


def test_help_describes_both_commands(cli: Cli) -> None:
    """`-h` explains merge and split."""
    for command, says in (("merge", "ID2"), ("split", "--at")):
        result = cli("articles", command, "-h")
        assert result.exit_code == 0 and says in result.stdout


def test_an_edited_title_survives_a_merge_and_the_reimport(cli: Cli) -> None:
    """A title fixed with `articles edit` stays fixed after merging and re-importing."""
    docs = _fresh(cli)
    cli("articles", "edit", docs[LAB]["id"], "--title", "Genomics laboratory opens")
    cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    assert _import(cli)["totals"]["unchanged"] == 2
    after = _docs(cli)
    assert set(after) == {"Genomics laboratory opens", LIBRARY}
    assert after["Genomics laboratory opens"]["blocks"][-3] == _heading(VACCINE)


def test_a_deleted_merged_article_comes_back_merged(cli: Cli) -> None:
    """Deleting a merged article and re-importing the dump brings it back merged, not as
    the two articles the importer made."""
    docs = _fresh(cli)
    cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    merged = _docs(cli)[LAB]
    cli("articles", "delete", docs[LAB]["id"], "--yes")
    assert _import(cli)["totals"]["new"] == 1
    after = _docs(cli)
    assert set(after) == {LAB, LIBRARY} and after[LAB]["blocks"] == merged["blocks"]


def test_a_hidden_article_split_keeps_both_parts_hidden(
    cli: Cli, store_cfg: config.Config
) -> None:
    """Splitting a hidden article does not publish the part cut off it."""
    lab = _fresh(cli)[LAB]
    cli("articles", "hide", lab["id"])
    cli("articles", "split", lab["id"], "--at", HEADING)
    assert _docs(cli)[HEADING]["hidden"] is True
    assert cli("site", "build").exit_code == 0
    feed = (store_cfg.site_dir / "en" / "feed.atom").read_text(encoding="utf-8")
    assert HEADING not in feed and LAB not in feed


def test_merge_across_two_files_survives_reimporting_either(cli: Cli, tmp_path: Path) -> None:
    """Articles merged from two dumps stay merged when either dump is imported again, and
    the report says why a part was not imported."""
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    text = DUMP.read_text(encoding="utf-8")
    cut = text.index(VACCINE)
    one.write_text(text[:cut], encoding="utf-8")
    two.write_text(text[cut:], encoding="utf-8")
    _import(cli, one, two)
    docs = _docs(cli)
    cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    merged = _docs(cli)
    for path in (one, two):
        report = _import(cli, path)
        assert report["totals"]["new"] == 0 and report["totals"]["updated"] == 0
        assert any("merge" in w for w in report["files"][0]["warnings"])
    assert _docs(cli) == merged


def test_merging_a_hidden_article_says_its_text_is_now_shown(cli: Cli) -> None:
    """Merging a hidden article into a shown one warns that its text is now public."""
    docs = _fresh(cli)
    cli("articles", "hide", docs[VACCINE]["id"])
    done = cli("articles", "merge", docs[LAB]["id"], docs[VACCINE]["id"])
    assert done.exit_code == 0 and "was hidden" in done.stdout
    assert _docs(cli)[LAB]["hidden"] is False
