"""Translation slots and the PO round trip: export, edit with polib, import, status."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import polib
import pytest

from publisher.core.config import Config
from publisher.core.errors import InputError
from publisher.i18n import translations
from publisher.store import articles
from publisher.store.articles import Block, ParsedArticle
from publisher.store.engine import Store
from publisher.store.models import Article

NOW = datetime(2025, 4, 7, 9, 0, tzinfo=UTC)
LATER = datetime(2025, 4, 8, 9, 0, tzinfo=UTC)


def _parsed(title: str, *paragraphs: str, items: str | None = None) -> ParsedArticle:
    blocks = [Block("paragraph", p) for p in paragraphs]
    if items:
        blocks.insert(1, Block("list", items))
    return ParsedArticle(
        title=title, blocks=blocks, lang="en",
        date=datetime(2025, 4, 6, 12, 0, tzinfo=UTC), origin="news.txt",
    )


CORNEA = _parsed(
    "Corneal transplant at the clinic",
    "Surgeons performed the first layered corneal transplant.",
    "Two patients regained their sight.",
    items="Fast recovery\nFewer rejections",
)
HEALTH = _parsed("World Health Day", "Students and staff exercised together in the park.")


def _save(store: Store, *parsed: ParsedArticle) -> None:
    with store.session() as s:
        for p in parsed:
            articles.save(s, p, now=NOW)


def _id(parsed: ParsedArticle) -> str:
    return articles.article_id(articles.normalise_key(parsed.title))


def _export(cfg: Config, store: Store, lang: str, path: Path) -> polib.POFile:
    result = translations.export(cfg, store, lang, now=NOW)
    translations.write_po(result.po, path)
    return polib.pofile(str(path))


def _slot(store: Store, parsed: ParsedArticle, lang: str) -> dict[str, object]:
    with store.session() as s:
        art = s.get(Article, _id(parsed))
        assert art is not None
        slot = art.text(lang)
        assert slot is not None
        return {"title": slot.title, "summary": slot.summary, "blocks": slot.blocks,
                "status": slot.status, "ready_at": slot.ready_at, "outdated": slot.outdated}


RU = {
    "Corneal transplant at the clinic": "Пересадка роговицы в клинике",
    "Surgeons performed the first layered corneal transplant.":
        "Хирурги провели первую послойную пересадку роговицы.",
    "Fast recovery\nFewer rejections": "Быстрое восстановление\nМеньше отторжений",
    "Two patients regained their sight.": "Двое пациентов вновь обрели зрение.",
    "World Health Day": "Всемирный день здоровья",
    "Students and staff exercised together in the park.":
        "Студенты и сотрудники вместе сделали зарядку в парке.",
}


def _translate(po: polib.POFile, *, fuzzy_title_of: str | None = None) -> None:
    for entry in po:
        entry.msgstr = RU[entry.msgid]
        entry.flags = [f for f in entry.flags if f != "fuzzy"]
        if fuzzy_title_of and entry.msgctxt == f"{fuzzy_title_of}:title":
            entry.flags.append("fuzzy")


def test_export_writes_one_entry_per_field_with_context_and_notes(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A translator gets title and each body block, named by msgctxt, with date and link."""
    _save(store, CORNEA)
    po = _export(cfg, store, "kk", tmp_path / "kk.po")
    aid = _id(CORNEA)
    assert [e.msgctxt for e in po] == [f"{aid}:title", f"{aid}:block:1", f"{aid}:block:2",
                                       f"{aid}:block:3"]
    assert [e.msgid for e in po] == [CORNEA.title, *(b.text for b in CORNEA.blocks)]
    assert all(e.msgstr == "" for e in po)
    assert po.metadata["Language"] == "kk"
    assert po.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    notes = po[0].comment.splitlines()
    assert "Article date: 2025-04-06" in notes
    assert "Link: https://news.example.kz/kk/corneal-transplant-at-the-clinic/" in notes
    assert "keep the line breaks" in po[2].comment


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
def test_exported_po_passes_msgfmt_check(cfg: Config, store: Store, tmp_path: Path) -> None:
    """The exported file opens cleanly in gettext tools (msgfmt --check, header included)."""
    _save(store, CORNEA, HEALTH)
    path = tmp_path / "ru.po"
    _export(cfg, store, "ru", path)
    done = subprocess.run(
        ["msgfmt", "--check", "--check-header", "-o", str(tmp_path / "ru.mo"), str(path)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr


def test_round_trip_makes_ready_and_fuzzy_makes_draft(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """Translated entries make a slot ready; a fuzzy title keeps the other article a draft."""
    _save(store, CORNEA, HEALTH)
    path = tmp_path / "ru.po"
    po = _export(cfg, store, "ru", path)
    _translate(po, fuzzy_title_of=_id(HEALTH))
    po.save(str(path))

    report = translations.import_po(store, path, now=LATER)
    assert (report.ready, report.draft, report.fuzzy_entries) == (1, 1, 1)
    cornea = _slot(store, CORNEA, "ru")
    assert cornea["status"] == "ready" and cornea["ready_at"] == LATER
    assert cornea["title"] == "Пересадка роговицы в клинике"
    # Each block also keeps the source text it was translated from, for a later review.
    assert cornea["blocks"] == [
        {"kind": "paragraph", "text": RU[CORNEA.blocks[0].text],
         "source": CORNEA.blocks[0].text, "source_title": CORNEA.title},
        {"kind": "list", "text": "Быстрое восстановление\nМеньше отторжений",
         "source": CORNEA.blocks[1].text},
        {"kind": "paragraph", "text": RU[CORNEA.blocks[2].text], "source": CORNEA.blocks[2].text},
    ]
    assert cornea["summary"] == RU[CORNEA.blocks[0].text]
    health = _slot(store, HEALTH, "ru")
    assert health["status"] == "draft" and health["ready_at"] is None

    # Importing the same file again changes nothing, ready_at included.
    again = translations.import_po(store, path, now=datetime(2025, 5, 1, tzinfo=UTC))
    assert (again.ready, again.draft, again.unchanged) == (0, 0, 2)
    assert _slot(store, CORNEA, "ru")["ready_at"] == LATER

    # The draft is exported again, prefilled and fuzzy; the ready article is not.
    po2 = _export(cfg, store, "ru", tmp_path / "ru2.po")
    assert {e.msgctxt.split(":")[0] for e in po2} == {_id(HEALTH)}
    assert all(e.fuzzy and e.msgstr for e in po2)


def test_untranslated_entries_are_ignored(cfg: Config, store: Store, tmp_path: Path) -> None:
    """An article the translator did not touch keeps no slot; a half-done one is a draft."""
    _save(store, CORNEA, HEALTH)
    path = tmp_path / "ru.po"
    po = _export(cfg, store, "ru", path)
    po.find(f"{_id(CORNEA)}:title", by="msgctxt").msgstr = RU[CORNEA.title]
    po.save(str(path))
    report = translations.import_po(store, path, now=LATER)
    assert (report.ready, report.draft, report.skipped) == (0, 1, 1)
    status = translations.status(store)["languages"]["ru"]
    assert status == {"source": 0, "ready": 0, "draft": 1, "outdated": 0, "missing": 1}


def test_changed_source_makes_translation_outdated_and_reexported(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """Editing the English text marks the ru translation outdated; it is exported again."""
    _save(store, CORNEA)
    path = tmp_path / "ru.po"
    po = _export(cfg, store, "ru", path)
    _translate(po)
    po.save(str(path))
    translations.import_po(store, path, now=LATER)
    assert translations.status(store)["languages"]["ru"]["ready"] == 1

    changed = _parsed(CORNEA.title, CORNEA.blocks[0].text, "Three patients regained their sight.",
                      items=CORNEA.blocks[1].text)
    _save(store, changed)
    assert translations.status(store)["languages"]["ru"]["outdated"] == 1
    assert _slot(store, CORNEA, "ru")["outdated"] is True

    po2 = _export(cfg, store, "ru", tmp_path / "ru2.po")
    assert "Three patients regained their sight." in [e.msgid for e in po2]
    assert "this translation: outdated" in po2[0].comment
    # The old translation comes back prefilled and fuzzy, for review.
    assert all(e.fuzzy for e in po2)
    for entry in po2:
        entry.msgstr = RU.get(entry.msgid, "Трое пациентов вновь обрели зрение.")
        entry.flags.remove("fuzzy")
    po2.save(str(tmp_path / "ru2.po"))
    translations.import_po(store, tmp_path / "ru2.po", now=datetime(2025, 4, 9, tzinfo=UTC))
    slot = _slot(store, CORNEA, "ru")
    assert slot["outdated"] is False and slot["status"] == "ready"
    # Still the same article for digests: it became readable in ru on the first import.
    assert slot["ready_at"] == LATER


def test_entry_for_an_older_source_text_stays_outdated(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A PO made before the source changed imports as a draft that still shows as outdated."""
    _save(store, CORNEA)
    path = tmp_path / "ru.po"
    po = _export(cfg, store, "ru", path)
    _translate(po)
    po.save(str(path))
    _save(store, _parsed(CORNEA.title, "Surgeons performed a new kind of transplant.",
                         CORNEA.blocks[2].text, items=CORNEA.blocks[1].text))
    report = translations.import_po(store, path, now=LATER)
    assert (report.draft, report.stale_entries) == (1, 1)
    assert translations.status(store)["languages"]["ru"]["outdated"] == 1


def test_wrong_language_and_unknown_article_are_rejected(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A PO whose header disagrees, or naming an unknown article, is refused with its line."""
    _save(store, CORNEA, HEALTH)
    path = tmp_path / "ru.po"
    po = _export(cfg, store, "ru", path)
    _translate(po)
    po.save(str(path))

    wrong_name = tmp_path / "kk.po"
    shutil.copy(path, wrong_name)
    with pytest.raises(InputError, match="named for kk but its header says Language: ru"):
        translations.import_po(store, wrong_name)
    with pytest.raises(InputError, match="header says Language: ru, not kk"):
        translations.import_po(store, path, lang="kk")

    # An unknown article id in the last entry: nothing of the file is stored.
    po[-1].msgctxt = "0123456789abcdef:title"
    po.save(str(path))
    line = polib.pofile(str(path))[-1].linenum
    with pytest.raises(InputError, match=rf"ru\.po:{line}: unknown article 0123456789abcdef"):
        translations.import_po(store, path)
    assert translations.status(store)["languages"]["ru"]["missing"] == 2

    # A translation "into" the source language of an article.
    po[-1].msgctxt = f"{_id(HEALTH)}:title"
    po.metadata["Language"] = "en"
    po.save(str(tmp_path / "en.po"))
    with pytest.raises(InputError, match="is written in en"):
        translations.import_po(store, tmp_path / "en.po")


def test_broken_po_file_is_rejected(store: Store, tmp_path: Path) -> None:
    """A file that is not a PO catalog is refused with its name, not a traceback."""
    path = tmp_path / "ru.po"
    path.write_text('msgid "a"\nmsgstr "b"\nnonsense here\n', encoding="utf-8")
    with pytest.raises(InputError, match="not a PO file"):
        translations.import_po(store, path)
    path.write_bytes(b'msgid ""\nmsgstr "\xff"\n')
    with pytest.raises(InputError, match="not UTF-8 at byte"):
        translations.import_po(store, path)


def test_cli_export_import_status(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The three commands work end to end, with status --json counting each state."""
    news = tmp_path / "news.txt"
    news.write_text(
        "Corneal transplant at the clinic\n\nSurgeons performed the first layered corneal "
        "transplant.\n\nTwo patients regained their sight.\n",
        encoding="utf-8",
    )
    assert cli("import", str(news)).exit_code == 0
    path = tmp_path / "out" / "ru.po"
    result = cli("translations", "export", "--lang", "ru", "-o", str(path))
    assert result.exit_code == 0, result.output
    po = polib.pofile(str(path))
    # Translators see the file name and line, never the server's folders.
    assert po[0].occurrences == [("news.txt", "1")]
    assert str(tmp_path) not in path.read_text(encoding="utf-8")
    for entry in po:
        entry.msgstr = RU.get(entry.msgid, entry.msgid + " (ru)")
    po.save(str(path))
    result = cli("translations", "import", str(path), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ready"] == 1
    doc = json.loads(cli("translations", "status", "--json").stdout)
    assert doc["articles"] == 1
    assert doc["languages"]["ru"]["ready"] == 1
    assert doc["languages"]["kk"]["missing"] == 1
    assert doc["languages"]["en"]["source"] == 1

    bad = cli("translations", "import", str(tmp_path / "missing.po"))
    assert bad.exit_code == 2
    assert "missing.po: no such file" in bad.stderr


SAMPLE_PO = Path(__file__).resolve().parents[2] / "samples" / "translations"


def test_sample_translations_fit_the_sample_articles(cli) -> None:  # type: ignore[no-untyped-def]
    """The demo's kk and ru PO files import cleanly: six real translations ready in each."""
    samples = SAMPLE_PO.parent / "import"
    assert cli("import", str(samples)).exit_code == 0
    for lang in ("kk", "ru"):
        po = polib.pofile(str(SAMPLE_PO / f"{lang}.po"))
        assert po.metadata["Language"] == lang
        assert po.percent_translated() == 100 and not po.fuzzy_entries()
        result = cli("translations", "import", str(SAMPLE_PO / f"{lang}.po"), "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert (report["ready"], report["draft"], report["stale_entries"]) == (6, 0, 0), report
    doc = json.loads(cli("translations", "status", "--json").stdout)
    assert doc["languages"]["kk"]["ready"] == doc["languages"]["ru"]["ready"] == 6
    kk_text = (SAMPLE_PO / "kk.po").read_text(encoding="utf-8")
    assert all(letter in kk_text for letter in "әғқңөұүі")
