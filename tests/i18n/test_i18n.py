"""Localized dates, plurals, fallback chain and the compiled UI catalogs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher import LANGUAGES
from publisher.i18n import locale as i18n

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dates"
# 20:30 UTC on 6 April is already 01:30 on 7 April in Almaty (UTC+5).
INSTANT = datetime(2025, 4, 6, 20, 30, tzinfo=UTC)


def _golden(lang: str) -> str:
    lines = [
        f"long: {i18n.format_date(INSTANT, lang)}",
        f"medium: {i18n.format_date(INSTANT, lang, fmt='medium')}",
        f"datetime: {i18n.format_datetime(INSTANT, lang)}",
        f"utc: {i18n.format_date(INSTANT, lang, tz='UTC')}",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dates_match_the_golden_file_per_language(lang: str) -> None:
    """Article dates read the way a reader of kk, ru or en expects (golden files)."""
    assert _golden(lang) == (GOLDEN / f"{lang}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("kk", "2025\u202fж. 7 сәуір"), ("ru", "7 апреля 2025\u202fг."), ("en", "April 7, 2025")],
)
def test_evening_utc_is_the_next_day_in_almaty(lang: str, expected: str) -> None:
    """An article at 20:30 UTC on 6 April is dated 7 April for a reader in Almaty."""
    assert i18n.format_date(INSTANT, lang) == expected
    assert "6" in i18n.format_date(INSTANT, lang, tz="UTC")


def test_almaty_is_utc_plus_five_in_2025() -> None:
    """The timezone data in use knows Almaty moved to UTC+5 in 2024."""
    for month in (1, 7):
        local = datetime(2025, month, 1, 12, tzinfo=UTC).astimezone(i18n.zone())
        assert local.utcoffset() is not None
        assert local.isoformat().endswith("+05:00")
    assert datetime(2023, 6, 1, tzinfo=UTC).astimezone(i18n.zone()).isoformat().endswith("+06:00")


def test_reader_timezone_changes_the_day() -> None:
    """A reader elsewhere (Europe/Moscow) sees the calendar day of their own zone."""
    assert i18n.format_date(INSTANT, "ru", tz="Europe/Moscow") == "6 апреля 2025\u202fг."


def test_bad_timezone_name_is_refused() -> None:
    """A path-like timezone name is never read from disk."""
    with pytest.raises(ValueError):
        i18n.zone("../../etc/passwd")


def test_naive_datetime_is_refused() -> None:
    """A datetime without timezone cannot be shown in a reader's zone by guesswork."""
    with pytest.raises(ValueError, match="naive"):
        i18n.format_date(datetime(2025, 4, 7), "kk")


@pytest.mark.parametrize(
    ("lang", "counts"),
    [
        ("kk", {1: "1 мақала", 5: "5 мақала"}),
        ("ru", {1: "1 статья", 2: "2 статьи", 5: "5 статей", 11: "11 статей", 21: "21 статья"}),
        ("en", {1: "1 article", 2: "2 articles"}),
    ],
)
def test_article_counts_follow_cldr_plurals(lang: str, counts: dict[int, str]) -> None:
    """Counts read naturally: three Russian forms, Kazakh without a plural suffix after numbers."""
    for n, expected in counts.items():
        assert i18n.article_count(lang, n) == expected


def test_templates_get_translations_in_each_language() -> None:
    """The same template renders kk, ru and en UI strings from the catalogs."""
    rendered = {
        lang: i18n.environment(lang).from_string(
            "{{ _('Read more') }} | {{ ngettext('%(num)d article', '%(num)d articles', 3) }}"
        ).render()
        for lang in LANGUAGES
    }
    assert rendered == {
        "kk": "Толығырақ | 3 мақала",
        "ru": "Читать далее | 3 статьи",
        "en": "Read more | 3 articles",
    }


def test_fuzzy_entries_are_never_shown(tmp_path: Path) -> None:
    """A translation still marked fuzzy is not shown: the reader gets the English msgid."""
    po = tmp_path / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: ru\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, fuzzy\nmsgid "Subscribe"\nmsgstr "Отписаться"\n\n'
        'msgid "Read more"\nmsgstr "Читать далее"\n',
        encoding="utf-8",
    )
    compiled = i18n.compile_po(po, "ru")
    assert compiled.gettext("Subscribe") == "Subscribe"
    assert compiled.gettext("Read more") == "Читать далее"


def test_fallback_chain_follows_the_configuration() -> None:
    """kk readers fall back to ru then en by default; a configured chain is respected."""
    default = {"kk": ["ru", "en"], "ru": ["en"], "en": ["ru"]}
    assert i18n.fallback_chain("kk", default) == ["kk", "ru", "en"]
    assert i18n.fallback_chain("en", default) == ["en", "ru", "kk"]
    assert i18n.fallback_chain("kk", {"kk": ["en"]}) == ["kk", "en", "ru"]


def test_language_names_come_from_cldr() -> None:
    """Language switchers name each language in itself."""
    assert [i18n.language_name(lang) for lang in LANGUAGES] == ["Қазақ тілі", "Русский", "English"]
