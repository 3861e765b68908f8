"""The UI catalogs are complete in kk, ru and en, and the checker notices when they are not."""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher import LANGUAGES
from publisher.i18n import catalog
from publisher.i18n.locale import LOCALES_DIR, ROOT

NEW_STRING = 'from publisher.i18n.locale import N_\n\nY = N_("Brand new string")\n'
READ_MORE = 'from publisher.i18n.locale import N_\n\nX = N_("Read more")\n'


def _problems_text(problems: list[catalog.Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def test_catalogs_are_complete_against_a_fresh_extraction() -> None:
    """Every string in the code and templates is translated (not fuzzy) in kk, ru and en."""
    problems = catalog.check(ROOT, LOCALES_DIR)
    assert not problems, (
        "run `.venv/bin/python -m publisher.i18n.catalog update` and translate:\n"
        + _problems_text(problems)
    )


def test_extraction_finds_python_and_plural_strings() -> None:
    """The extractor sees i18n.gettext(lang, msg)-style calls and the article plural."""
    template = catalog.extract(ROOT)
    assert template.get("Read more") is not None
    plural = template.get("%(num)d article")
    assert plural is not None and plural.id == ("%(num)d article", "%(num)d articles")


def _project(tmp_path: Path, source: str) -> tuple[Path, Path]:
    """A tiny project tree: babel.cfg, one module and a copy of the real catalogs."""
    root = tmp_path / "proj"
    (root / "publisher").mkdir(parents=True)
    (root / "templates").mkdir()
    shutil.copy(ROOT / "babel.cfg", root / "babel.cfg")
    (root / "publisher" / "ui.py").write_text(source, encoding="utf-8")
    locales = root / "locales"
    shutil.copytree(LOCALES_DIR, locales)
    return root, locales


def test_check_reports_an_untranslated_string(tmp_path: Path) -> None:
    """A new string without kk/ru translation fails the check, naming file and msgid."""
    root, locales = _project(tmp_path, NEW_STRING + 'X = N_("Read more")\n')
    catalog.update(root, locales)
    problems = catalog.check(root, locales)
    assert {(p.kind, p.msgid, Path(p.path).parts[-3]) for p in problems} == {
        ("untranslated", "Brand new string", "kk"),
        ("untranslated", "Brand new string", "ru"),
    }
    # The existing translation survives the update; English is filled from the msgid.
    kk = (locales / "kk" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    assert 'msgstr "Толығырақ"' in kk
    en = (locales / "en" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    assert 'msgid "Brand new string"\nmsgstr "Brand new string"' in en


def test_check_passes_once_the_string_is_translated(tmp_path: Path) -> None:
    """Filling the empty msgstr in kk and ru makes the same check pass."""
    root, locales = _project(tmp_path, NEW_STRING)
    catalog.update(root, locales)
    for lang, text in (("kk", "Жаңа жол"), ("ru", "Новая строка")):
        path = locales / lang / "LC_MESSAGES" / "messages.po"
        po = path.read_text(encoding="utf-8")
        empty = 'msgid "Brand new string"\nmsgstr ""'
        path.write_text(po.replace(empty, empty[:-2] + f'"{text}"'), encoding="utf-8")
    assert catalog.check(root, locales) == []


def test_check_reports_fuzzy_and_bad_plural_header(tmp_path: Path) -> None:
    """A fuzzy translation and a Russian catalog with two plural forms are both reported."""
    root, locales = _project(tmp_path, READ_MORE)
    catalog.update(root, locales)
    ru = locales / "ru" / "LC_MESSAGES" / "messages.po"
    text = ru.read_text(encoding="utf-8")
    text = text.replace('msgid "Read more"', '#, fuzzy\nmsgid "Read more"')
    text = text.replace("nplurals=3;", "nplurals=2;", 1)
    ru.write_text(text, encoding="utf-8")
    kinds = {(p.kind, p.msgid.split(" ")[0]) for p in catalog.check(root, locales)}
    assert ("fuzzy", "Read") in kinds
    assert ("header", "Plural-Forms") in kinds


def test_update_twice_changes_nothing(tmp_path: Path) -> None:
    """Re-running the update on an up-to-date tree rewrites no file (no timestamp churn)."""
    root, locales = _project(tmp_path, READ_MORE)
    catalog.update(root, locales)
    assert catalog.update(root, locales) == []


def test_plural_forms_headers_are_right() -> None:
    """ru declares three plural forms, kk and en two."""
    for lang, expected in (("ru", "nplurals=3;"), ("kk", "nplurals=2; plural=(n != 1);"),
                           ("en", "nplurals=2;")):
        po = (LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
        assert f'"Plural-Forms: {expected}' in po, lang
    assert len(LANGUAGES) == 3


def _set_plural_forms(locales: Path, lang: str, header: str) -> None:
    path = locales / lang / "LC_MESSAGES" / "messages.po"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith('"Plural-Forms:'))
    end = start
    while not lines[end].rstrip().endswith('\\n"'):
        end += 1  # the header may be wrapped over several lines
    lines[start : end + 1] = [f'"Plural-Forms: {header}\\n"\n']
    path.write_text("".join(lines), encoding="utf-8")


def test_a_respelled_plural_rule_with_the_same_meaning_passes(tmp_path: Path) -> None:
    """A Russian Plural-Forms spelled unlike Babel's but choosing the same forms passes."""
    root, locales = _project(tmp_path, NEW_STRING)
    catalog.update(root, locales)
    _set_plural_forms(locales, "ru", "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : "
                      "n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);")
    _set_plural_forms(locales, "kk", "nplurals=2; plural=n!=1;")
    headers = [p for p in catalog.check(root, locales) if p.kind == "header"]
    assert headers == []


def test_a_kazakh_catalog_with_three_plural_forms_fails(tmp_path: Path) -> None:
    """kk declaring the Russian three-form rule is reported as a wrong Plural-Forms header."""
    root, locales = _project(tmp_path, NEW_STRING)
    catalog.update(root, locales)
    _set_plural_forms(locales, "kk", "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : "
                      "n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);")
    headers = [p for p in catalog.check(root, locales) if p.kind == "header"]
    assert [Path(p.path).parts[-3] for p in headers] == ["kk"]
    assert "nplurals=2" in headers[0].msgid


def test_same_count_but_different_choice_is_a_different_rule() -> None:
    """Two forms chosen as French does (n > 1) is not the kk/en rule (n != 1): n = 0 differs."""
    assert catalog.same_plural_rule((2, "(n > 1)"), (2, "(n != 1)")) is False
    assert catalog.same_plural_rule((2, "(n != 1)"), (2, "n != 1")) is True
    assert catalog.same_plural_rule((2, "n ? 2 : 0"), (2, "n ? 1 : 0")) is False
    assert catalog.same_plural_rule((2, "n +"), (2, "n != 1")) is False
