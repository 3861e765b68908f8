"""The UI catalogs: extract strings (babel.cfg), update the three .po files, check completeness.

    python -m publisher.i18n.catalog update   # re-extract messages.pot, merge into kk/ru/en .po
    python -m publisher.i18n.catalog check    # missing, untranslated or fuzzy entries -> exit 1

No fuzzy matching on update: a guessed translation of a similar string is worse than an
honest gap, which `check` (and tests/test_catalog.py) then reports.
"""

from __future__ import annotations

import gettext
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from publisher import LANGUAGES, __version__
from publisher.i18n.locale import DOMAIN, LOCALES_DIR, ROOT

# Keyword specs keyed by argument count, so that both i18n.gettext(lang, msg) in Python and
# gettext(msg) in templates are found (Babel picks the spec matching the call's arity).
KEYWORDS: dict[str, Any] = {
    **DEFAULT_KEYWORDS,
    "gettext": {1: (1,), 2: (2,)},
    "ngettext": {3: (1, 2), 4: (2, 3)},
    "N_plural": (1, 2),
}
LANGUAGE_TEAMS = {"kk": "Kazakh", "ru": "Russian", "en": "English"}
# Lines that change on every run; ignored when deciding whether a file really changed.
_VOLATILE = (b'"POT-Creation-Date:', b'"PO-Revision-Date:')


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str  # missing | untranslated | fuzzy | header | format
    msgid: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.kind}: {self.msgid!r}"


def po_path(lang: str, locales: Path = LOCALES_DIR) -> Path:
    return locales / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract(root: Path = ROOT, mapping: Path | None = None) -> Catalog:
    """A fresh template catalog from the sources and templates under `root`."""
    with (mapping or root / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(  # type: ignore[no-untyped-call]
            fh, str(mapping or root / "babel.cfg")
        )
    template = Catalog(
        project="publisher",
        version=__version__,
        copyright_holder="KazNMU Press Office",
        msgid_bugs_address="news@news.example.kz",
        charset="utf-8",
        fuzzy=False,
    )
    found = extract_from_dir(
        root, method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    )
    for filename, lineno, message, comments, context in found:
        template.add(
            message, None, [(filename.replace("\\", "/"), lineno)],
            auto_comments=comments, context=context,
        )
    return template


def _render(catalog: Catalog, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, **kwargs)
    return buf.getvalue()


def _stable(data: bytes) -> bytes:
    return b"\n".join(line for line in data.splitlines() if not line.startswith(_VOLATILE))


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` unless only the timestamps differ (keeps re-runs free of diffs)."""
    if path.is_file() and _stable(path.read_bytes()) == _stable(data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=lang, domain=DOMAIN)


def merge(template: Catalog, lang: str, existing: Catalog | None) -> Catalog:
    """`existing` brought up to `template`: new strings empty, gone strings obsolete."""
    if existing is None:
        existing = Catalog(
            locale=lang, domain=DOMAIN, project=template.project, version=template.version,
            copyright_holder=template.copyright_holder,
            msgid_bugs_address=template.msgid_bugs_address, charset="utf-8", fuzzy=False,
        )
    previous: dict[Any, Message] = dict(existing.obsolete)
    existing.update(template, no_fuzzy_matching=True)
    existing.fuzzy = False
    existing.language_team = f"{LANGUAGE_TEAMS[lang]} <news@news.example.kz>"
    existing.last_translator = "KazNMU Press Office <news@news.example.kz>"
    for message in existing:
        if not message.id or _translated(message):
            continue
        old = previous.get(_key(message))
        if old is not None and _translated(old):
            # A string that disappeared for a while and came back keeps its translation.
            message.string = old.string
        elif lang == "en":
            # msgids are English: the en catalog is the identity, filled in automatically.
            message.string = message.id
    return existing


def update(root: Path = ROOT, locales: Path = LOCALES_DIR) -> list[Path]:
    """Re-extract into locales/messages.pot and merge it into each language's .po file."""
    template = extract(root)
    changed: list[Path] = []
    pot = locales / f"{DOMAIN}.pot"
    if _write_if_changed(pot, _render(template)):
        changed.append(pot)
    for lang in LANGUAGES:
        path = po_path(lang, locales)
        catalog = merge(template, lang, _read(path, lang) if path.is_file() else None)
        catalog.revision_date = datetime.now(UTC)
        if _write_if_changed(path, _render(catalog)):
            changed.append(path)
    return changed


def _key(message: Message) -> Any:
    # Babel's own key: the singular msgid, paired with msgctxt when there is one.
    key = message.id[0] if isinstance(message.id, list | tuple) else message.id
    return key if message.context is None else (key, message.context)


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, list | tuple) else [message.string]
    return bool(strings) and all(strings)


# Enough to cover every branch of the CLDR rules of kk, ru and en (n % 100 in 11..14 and
# n % 10 in 0..9, twice over).
PLURAL_SAMPLE = range(201)


def plural_table(nplurals: int, expr: str, sample: Iterable[int] = PLURAL_SAMPLE) -> list[int]:
    """The form index `expr` (a gettext C expression) picks for each n; a bad one raises."""
    choose = gettext.c2py(expr)
    table = [int(choose(n)) for n in sample]
    if any(not 0 <= form < nplurals for form in table):
        raise ValueError(f"plural={expr} picks a form outside nplurals={nplurals}")
    return table


def same_plural_rule(found: tuple[int, str], expected: tuple[int, str]) -> bool:
    """Whether two Plural-Forms mean the same rule, whatever their spelling.

    CLDR and Babel rewrite the expression between releases (brackets, ranges, spacing);
    comparing strings would fail the build on an upgrade that changes nothing a reader sees.
    """
    if found[0] != expected[0]:
        return False
    try:
        return plural_table(*found) == plural_table(*expected)
    except (ValueError, SyntaxError, TypeError, ZeroDivisionError, RecursionError):
        return False


def _label(message: Message) -> str:
    return message.id[0] if isinstance(message.id, list | tuple) else str(message.id)


def check_catalog(
    template: Catalog, lang: str, path: Path, shown: str | None = None
) -> list[Problem]:
    """Everything that keeps `path` from showing `template` fully translated in `lang`."""
    name = shown or str(path)
    if not path.is_file():
        return [Problem(name, "missing", f"{lang} catalog")]
    catalog = _read(path, lang)
    problems: list[Problem] = []
    if catalog.fuzzy:
        # msgfmt --check-header and translators' tools treat a fuzzy header as unfinished.
        problems.append(Problem(name, "fuzzy", "header"))
    expected = get_plural(lang)
    if not same_plural_rule(
        (catalog.num_plurals, catalog.plural_expr), (expected.num_plurals, expected.plural_expr)
    ):
        problems.append(Problem(name, "header", f"Plural-Forms should be {expected.plural_forms}"))
    for tmpl in template:
        if not tmpl.id:
            continue
        message = catalog.get(tmpl.id, tmpl.context)
        if message is None:
            problems.append(Problem(name, "missing", _label(tmpl)))
        elif message.fuzzy:
            problems.append(Problem(name, "fuzzy", _label(tmpl), message.lineno))
        elif not _translated(message):
            problems.append(Problem(name, "untranslated", _label(tmpl), message.lineno))
    for message, errors in catalog.check():
        for error in errors:
            problems.append(Problem(name, "format", f"{_label(message)}: {error}", message.lineno))
    return problems


def check(
    root: Path = ROOT, locales: Path = LOCALES_DIR, languages: Iterable[str] = LANGUAGES
) -> list[Problem]:
    """Problems of every language against a fresh extraction (locales/ is only read)."""
    template = extract(root)
    problems: list[Problem] = []
    for lang in languages:
        path = po_path(lang, locales)
        try:
            shown = str(path.relative_to(root))
        except ValueError:
            shown = str(path)
        problems.extend(check_catalog(template, lang, path, shown))
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["update"]:
        changed = update()
        for path in changed:
            print(f"updated {path.relative_to(ROOT)}")
        problems = check()
        print(f"{len(changed)} file(s) changed; {len(problems)} entr(y/ies) still to translate")
        return 0
    if args == ["check"]:
        problems = check()
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {', '.join(LANGUAGES)}", file=sys.stderr)
        return 1 if problems else 0
    print("usage: python -m publisher.i18n.catalog update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
