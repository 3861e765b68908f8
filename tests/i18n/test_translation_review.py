"""What translators and operators see around a PO round trip: `#| msgid` on outdated
entries, and translations in the wrong language refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from sqlalchemy.orm import Session

from publisher.core.config import Config
from publisher.i18n import translations
from publisher.store import articles
from publisher.store.engine import Store
from publisher.store.models import Article, ArticleText
from tests.conftest import Cli
from tests.i18n.test_translations import CORNEA, HEALTH, LATER, RU, _export, _id, _parsed, _save

CHANGED = "Three patients regained their sight."
OLD = CORNEA.blocks[2].text


def _translate(po: polib.POFile, texts: dict[str, str]) -> None:
    for entry in po:
        entry.msgstr = texts[entry.msgid]
        entry.flags = [f for f in entry.flags if f != "fuzzy"]


def _change_cornea(store: Store) -> None:
    _save(store, _parsed(CORNEA.title, CORNEA.blocks[0].text, CHANGED,
                         items=CORNEA.blocks[1].text))


def test_outdated_entries_show_the_text_they_were_translated_from(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """After the English text changes, the ru export is fuzzy with the old English as #| msgid."""
    _save(store, CORNEA)
    path = tmp_path / "ru.po"
    _translate(po := _export(cfg, store, "ru", path), RU)
    po.save(str(path))
    translations.import_po(store, path, now=LATER)
    _change_cornea(store)

    again = _export(cfg, store, "ru", tmp_path / "ru2.po")
    by_field = {e.msgctxt.split(":", 1)[1]: e for e in again}
    assert all(e.fuzzy for e in again)
    changed = by_field["block:3"]
    assert (changed.msgid, changed.previous_msgid, changed.msgstr) == (CHANGED, OLD, RU[OLD])
    # Fields whose text did not change say so: the old text is the same as the new.
    assert by_field["title"].previous_msgid == CORNEA.title == by_field["title"].msgid
    written = (tmp_path / "ru2.po").read_text(encoding="utf-8")
    ctxt = f"{_id(CORNEA)}:block:3"
    assert (f'#, fuzzy\n#| msgctxt "{ctxt}"\n#| msgid "{OLD}"\nmsgctxt "{ctxt}"\n'
            f'msgid "{CHANGED}"') in written


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
def test_export_with_previous_msgids_passes_msgfmt_check(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A PO with #| msgid lines still opens cleanly in gettext tools."""
    _save(store, CORNEA)
    path = tmp_path / "ru.po"
    _translate(po := _export(cfg, store, "ru", path), RU)
    po.save(str(path))
    translations.import_po(store, path, now=LATER)
    _change_cornea(store)
    _export(cfg, store, "ru", path)
    done = subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "ru.mo"), str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_po_made_from_older_text_keeps_that_text_as_previous(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A translation of a text that changed meanwhile is re-exported with the text it used."""
    _save(store, CORNEA)
    path = tmp_path / "ru.po"
    _translate(po := _export(cfg, store, "ru", path), RU)
    po.save(str(path))
    _change_cornea(store)  # before the translator's file comes back
    report = translations.import_po(store, path, now=LATER)
    assert (report.draft, report.stale_entries) == (1, 1)
    again = {e.msgid: e for e in _export(cfg, store, "ru", tmp_path / "ru2.po")}
    assert again[CHANGED].previous_msgid == OLD and again[CHANGED].msgstr == RU[OLD]


def test_translations_that_came_with_the_article_keep_their_source_on_reimport(
    cli: Cli, tmp_path: Path
) -> None:
    """A JSONL ru translation outdated by a re-import is exported with the old English text."""
    first = {"title": "World Health Day", "date": "2025-04-07",
             "body": "Students and staff exercised together in the park.",
             "translations": {"ru": {"title": "Всемирный день здоровья",
                                     "body": "Студенты и сотрудники вместе сделали зарядку."}}}
    path = tmp_path / "cms.jsonl"
    path.write_text(json.dumps(first, ensure_ascii=False) + "\n", encoding="utf-8")
    assert cli("import", str(path)).exit_code == 0
    changed = {**first, "body": "Students and staff ran five kilometres in the park."}
    del changed["translations"]
    path.write_text(json.dumps(changed) + "\n", encoding="utf-8")
    assert cli("import", str(path)).exit_code == 0

    out = tmp_path / "ru.po"
    assert cli("translations", "export", "--lang", "ru", "-o", str(out)).exit_code == 0
    entries = {e.msgid: e for e in polib.pofile(str(out))}
    body = entries["Students and staff ran five kilometres in the park."]
    assert body.fuzzy and body.msgstr == "Студенты и сотрудники вместе сделали зарядку."
    assert body.previous_msgid == "Students and staff exercised together in the park."


def _ru_slot(s: Session) -> ArticleText:
    art = s.get(Article, _id(HEALTH))
    assert art is not None
    slot = art.text("ru")
    assert slot is not None
    return slot


def test_reimporting_the_same_po_is_unchanged_even_for_an_older_slot(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A slot saved before sources were recorded reports unchanged and gains the record."""
    _save(store, HEALTH)
    path = tmp_path / "ru.po"
    _translate(po := _export(cfg, store, "ru", path), RU)
    po.save(str(path))
    translations.import_po(store, path, now=LATER)
    with store.session() as s:
        slot = _ru_slot(s)
        slot.blocks = [{"kind": b["kind"], "text": b["text"]} for b in slot.blocks]
    again = translations.import_po(store, path)
    assert (again.ready, again.unchanged) == (0, 1)
    with store.session() as s:
        assert _ru_slot(s).blocks[0]["source"] == HEALTH.blocks[0].text


NEWS = [
    {"title": "Corneal transplant at the clinic", "date": "2025-04-06",
     "body": "Surgeons performed the first layered corneal transplant at the university clinic "
             "this week.\n\nTwo patients regained their sight after the operation."},
    {"title": "World Health Day", "date": "2025-04-07",
     "body": "Students and staff exercised together in the park to mark World Health Day."},
]
KK = {
    "Corneal transplant at the clinic": "Клиникада көздің мүйізді қабығы ауыстырылды",
    "Surgeons performed the first layered corneal transplant at the university clinic this "
    "week.": "Осы аптада университет клиникасында хирургтар алғаш рет қабатты кератопластика "
             "жасады.",
    "Two patients regained their sight after the operation.":
        "Операциядан кейін екі науқастың көзі қайта көре бастады.",
    "World Health Day": "Дүниежүзілік денсаулық күні",
    "Students and staff exercised together in the park to mark World Health Day.":
        "Дүниежүзілік денсаулық күніне орай студенттер мен қызметкерлер саябақта бірге "
        "жаттығу жасады.",
}
RU_NEWS = {
    "Corneal transplant at the clinic": "Пересадка роговицы в клинике",
    "Surgeons performed the first layered corneal transplant at the university clinic this "
    "week.": "На этой неделе хирурги университетской клиники впервые провели послойную "
             "пересадку роговицы.",
    "Two patients regained their sight after the operation.":
        "После операции двое пациентов вновь обрели зрение.",
    "World Health Day": "Всемирный день здоровья",
    "Students and staff exercised together in the park to mark World Health Day.":
        "Студенты и сотрудники вместе сделали зарядку в парке в честь Всемирного дня здоровья.",
}


def _kk_po(cli: Cli, tmp_path: Path, texts: dict[str, str]) -> Path:
    news = tmp_path / "news.jsonl"
    news.write_text("".join(json.dumps(a) + "\n" for a in NEWS), encoding="utf-8")
    assert cli("import", str(news)).exit_code == 0
    path = tmp_path / "kk.po"
    assert cli("translations", "export", "--lang", "kk", "-o", str(path)).exit_code == 0
    po = polib.pofile(str(path))
    for entry in po:
        entry.msgstr = texts.get(entry.msgid, "")
    po.save(str(path))
    return path


def _kk_status(cli: Cli) -> dict[str, int]:
    doc = json.loads(cli("translations", "status", "--json").output)
    counts: dict[str, int] = doc["languages"]["kk"]
    return counts


def test_russian_texts_in_a_kazakh_po_are_refused(cli: Cli, tmp_path: Path) -> None:
    """A PO headed Language: kk with Russian msgstr exits 2 naming the line; nothing is stored."""
    path = _kk_po(cli, tmp_path, RU_NEWS)
    first_ru = next(e for e in polib.pofile(str(path)) if len(e.msgstr) > 60)
    result = cli("translations", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert f"{path}:{first_ru.linenum}: the translation reads as Russian (ru), but the header " \
           "says Language: kk" in result.stderr
    assert "--force" in result.stderr
    assert _kk_status(cli)["missing"] == 2 and _kk_status(cli)["ready"] == 0


def test_force_imports_a_mismatched_po_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    """--force stores the file anyway and still says which line read as another language."""
    path = _kk_po(cli, tmp_path, RU_NEWS)
    result = cli("translations", "import", str(path), "--force")
    assert result.exit_code == 0, result.output
    assert "reads as Russian (ru)" in result.stderr and "imported (--force)" in result.stderr
    assert _kk_status(cli)["ready"] == 2
    doc = json.loads(cli("translations", "import", str(path), "--force", "--json").output)
    assert len(doc["warnings"]) == 1


def test_short_russian_titles_alone_are_judged_together(cli: Cli, tmp_path: Path) -> None:
    """Titles too short to judge one by one still reject the file when all read as Russian."""
    titles = {k: v for k, v in RU_NEWS.items() if k in ("Corneal transplant at the clinic",
                                                        "World Health Day")}
    path = _kk_po(cli, tmp_path, titles)
    result = cli("translations", "import", str(path))
    assert result.exit_code == 2
    first = next(e for e in polib.pofile(str(path)) if e.msgstr)
    assert f"{path}:{first.linenum}: the translation reads as Russian" in result.stderr


def test_real_kazakh_with_short_entries_is_accepted(cli: Cli, tmp_path: Path) -> None:
    """Kazakh translations import even when a short entry has no Kazakh letters or is a name."""
    texts = {**KK, "World Health Day": "World Health Day"}  # a name kept in English
    path = _kk_po(cli, tmp_path, texts)
    result = cli("translations", "import", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["warnings"] == []
    assert _kk_status(cli)["ready"] == 2


def test_russian_text_naming_kazakh_people_is_not_mistaken_for_kazakh(
    cfg: Config, store: Store, tmp_path: Path
) -> None:
    """A ru translation quoting "Әлия Сейтқалиева" is Russian enough to import."""
    _save(store, HEALTH)
    path = tmp_path / "ru.po"
    po = _export(cfg, store, "ru", path)
    for entry in po:
        entry.msgstr = RU[entry.msgid]
    po[-1].msgstr = ("Зарядку провела Әлия Сейтқалиева, заведующая кафедрой физической "
                     "культуры, и пригласила студентов на следующую встречу в парке.")
    po.save(str(path))
    report = translations.import_po(store, path)
    assert report.ready == 1 and report.warnings == []
    assert articles.article_id(articles.normalise_key(HEALTH.title)) in report.articles
