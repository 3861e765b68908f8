"""Everything language-dependent that renderers share: catalogs, Jinja2, dates, fallback.

Catalogs are compiled from locales/*/LC_MESSAGES/messages.po into memory on first use,
so no hand-maintained .mo file exists. locale.setlocale is never called: Babel carries
the locale explicitly, which keeps one process safe for readers of all three languages.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)

from publisher import LANGUAGES
from publisher.core.errors import InputError

# The checkout: locales/ and templates/ sit beside the publisher/ package.
ROOT = Path(__file__).resolve().parents[2]
LOCALES_DIR = ROOT / "locales"
TEMPLATES_DIR = ROOT / "templates"
DEFAULT_TZ = "Asia/Almaty"
DOMAIN = "messages"
# Writing direction per language; all three are left-to-right, kept explicit for <html dir>.
DIRECTION = {"kk": "ltr", "ru": "ltr", "en": "ltr"}


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


@cache
def locale(lang: str) -> Locale:
    return Locale.parse(check_lang(lang))


@cache
def translations(lang: str) -> Translations:
    """The compiled UI catalog of `lang` (English msgids are the fallback for en)."""
    po_path = LOCALES_DIR / check_lang(lang) / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.is_file():
        return Translations()
    return compile_po(po_path, lang)


def compile_po(po_path: Path, lang: str) -> Translations:
    """A .po file compiled in memory; fuzzy entries are left out, as msgfmt does."""
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    """The CLDR plural form of `lang` for `n` (ru has three, kk and en two)."""
    return translations(lang).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks `message` for the catalog where it is defined; translate it where it is shown."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    return singular, plural


# UI strings the site, feeds and emails share. Defining them here keeps them in the catalog
# (with their kk/ru translations) whatever template happens to use them first.
COMMON_STRINGS = (
    N_("Read more"),
    N_("Not translated yet: this article is shown in %(language)s"),
    N_("Translation in progress: this article is shown in %(language)s"),
    N_("The original has changed since this translation was made"),
    N_("Other languages"),
    N_("Newer"),
    N_("Older"),
    N_("Page %(num)d of %(total)d"),
    N_("Subscribe"),
    N_("Unsubscribe"),
    N_("Preferences"),
    N_("View in browser"),
    N_("Digest archive"),
    N_("Published %(date)s"),
    N_("Updated %(date)s"),
)
ARTICLE_COUNT = N_plural("%(num)d article", "%(num)d articles")


def article_count(lang: str, n: int) -> str:
    """"1 мақала / 5 мақала", "1 статья / 2 статьи / 5 статей / 21 статья", "1 article"."""
    return ngettext(lang, "%(num)d article", "%(num)d articles", n) % {"num": n}


_ZONE_KEY = re.compile(r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$")


@cache
def zone(name: str | None = None) -> ZoneInfo:
    """The IANA zone `name` (default Asia/Almaty), preferring the pip `tzdata` package.

    zoneinfo reads the system database first, and a machine with tzdata older than 2024a
    still puts Almaty at UTC+6; the pip package is a pinned dependency we control.
    """
    key = name or DEFAULT_TZ
    if not _ZONE_KEY.match(key):
        raise ValueError(f"not a timezone name: {key!r}")
    try:
        ref = resources.files("tzdata").joinpath("zoneinfo", *key.split("/"))
        with ref.open("rb") as fh:
            return ZoneInfo.from_file(fh, key=key)
    except (ModuleNotFoundError, OSError, ValueError):
        return ZoneInfo(key)


def _local(value: datetime, tz: str | None) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime; the store keeps timezone-aware UTC")
    return value.astimezone(zone(tz))


def format_date(value: datetime | date, lang: str, tz: str | None = None, fmt: str = "long") -> str:
    """A calendar date as a reader of `lang` in timezone `tz` (default Asia/Almaty) sees it."""
    day = _local(value, tz).date() if isinstance(value, datetime) else value
    return _babel_date(day, fmt, locale=locale(lang))


def format_datetime(value: datetime, lang: str, tz: str | None = None, fmt: str = "medium") -> str:
    local = _local(value, tz)
    return _babel_datetime(local, fmt, tzinfo=local.tzinfo, locale=locale(lang))


def language_name(lang: str, in_lang: str | None = None) -> str:
    """The name of `lang` in `in_lang` (default: in itself, for language switchers)."""
    name = locale(lang).get_display_name(locale(in_lang or lang)) or lang
    return name[:1].upper() + name[1:]


def fallback_chain(lang: str, fallback: dict[str, list[str]]) -> list[str]:
    """`lang` first, then the configured fallbacks, then any language not yet tried."""
    chain = [check_lang(lang)]
    for other in [*fallback.get(lang, []), *LANGUAGES]:
        if other not in chain:
            chain.append(other)
    return chain


@cache
def environment(lang: str, templates: str | None = None) -> Environment:
    """A Jinja2 environment bound to the catalog of `lang`, autoescaping every template.

    One environment per language because the i18n extension installs its callables
    globally; the cache keeps compiled templates across renders.
    """
    packaged = FileSystemLoader(str(TEMPLATES_DIR))
    env = Environment(
        # An override folder ([templates] dir) wins file by file; the rest stay packaged.
        loader=ChoiceLoader([FileSystemLoader(templates), packaged]) if templates else packaged,
        # Every HTML template escapes, whatever its extension; only *.txt is plain text.
        autoescape=select_autoescape(
            disabled_extensions=("txt",), default_for_string=True, default=True
        ),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        lang=lang,
        dir=DIRECTION[lang],
        format_date=lambda v, fmt="long", tz=None: format_date(v, lang, tz, fmt),
        format_datetime=lambda v, fmt="medium", tz=None: format_datetime(v, lang, tz, fmt),
        language_name=language_name,
        languages=LANGUAGES,
    )
    return env


def template_problem(exc: TemplateError, templates: str | None) -> InputError:
    """A broken template as one line naming the file and line, with what to do about it."""
    name, line = getattr(exc, "filename", None) or getattr(exc, "name", None), None
    if isinstance(exc, TemplateSyntaxError):
        line = exc.lineno
    else:  # an error while rendering: Jinja2 puts the template's frame in the traceback
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code.co_filename
            if code.endswith((".html", ".txt")):
                name, line = code, tb.tb_lineno
            tb = tb.tb_next
    where = f"{name}:{line}" if name and line else (name or "a template")
    hint = (f"fix it, or remove it from [templates] dir ({templates}) to use the packaged one"
            if templates else "the packaged templates were changed: restore them")
    message = " ".join(str(exc.message or exc).split())
    return InputError(f"{where}: {type(exc).__name__}: {message}", hint)


def render(lang: str, template: str, **context: Any) -> str:
    return environment(lang).get_template(template).render(**context)
