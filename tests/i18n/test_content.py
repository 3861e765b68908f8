"""Which text a reader of each language sees, and the note when it is a fallback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from publisher.i18n import content
from publisher.store.models import Article, ArticleText

NOW = datetime(2025, 4, 7, tzinfo=UTC)
FALLBACK = {"kk": ["ru", "en"], "ru": ["en"], "en": ["ru"]}


def _article(**slots: str) -> Article:
    """An in-memory article written in en, with extra slots {lang: status}; the status
    "outdated" is a ready translation made from an older source text."""
    art = Article(id="a" * 16, slug="a", key="a", source_lang="en", published_at=NOW,
                  created_at=NOW, updated_at=NOW, fingerprint="fp")
    art.texts = [ArticleText(lang="en", title="Title", status="source", source_fingerprint="fp",
                             updated_at=NOW)]
    for lang, status in slots.items():
        old = status == "outdated"
        art.texts.append(ArticleText(lang=lang, title=f"Title {lang}",
                                     status="ready" if old else status,
                                     source_fingerprint="old" if old else "fp", updated_at=NOW))
    return art


def test_ready_translation_is_shown_in_its_language() -> None:
    """A kk reader sees the ready kk text, not marked as a fallback."""
    shown = content.pick(_article(kk="ready", ru="ready"), "kk", FALLBACK)
    assert (shown.lang, shown.text.title, shown.is_fallback) == ("kk", "Title kk", False)
    assert content.fallback_note(shown) is None


def test_draft_falls_back_along_the_chain() -> None:
    """A kk draft is not shown: the kk reader gets the ready ru text, noted as in progress."""
    shown = content.pick(_article(kk="draft", ru="ready"), "kk", FALLBACK)
    assert (shown.lang, shown.wanted, shown.is_fallback) == ("ru", "kk", True)
    assert content.fallback_note(shown) == (
        "Аударма әзірленуде, сондықтан мақала уақытша басқа тілде көрсетілген: орыс тілі"
    )


def test_source_is_the_last_resort_with_a_localized_note() -> None:
    """With no ru text a ru reader gets the English source and a note in Russian."""
    shown = content.pick(_article(kk="ready"), "ru", FALLBACK)
    assert (shown.lang, shown.is_fallback) == ("en", True)
    assert content.fallback_note(shown) == (
        "Статья ещё не переведена, поэтому показана на другом языке: английский"
    )
    en = content.pick(_article(ru="ready"), "en", FALLBACK)
    assert (en.lang, en.is_fallback) == ("en", False)


@pytest.mark.parametrize(("slots", "wanted", "expected"), [
    ({}, "kk", "Мақала әлі аударылмаған, сондықтан басқа тілде көрсетілген: ағылшын тілі"),
    ({}, "ru", "Статья ещё не переведена, поэтому показана на другом языке: английский"),
    ({"ru": "ready"}, "kk",
     "Мақала әлі аударылмаған, сондықтан басқа тілде көрсетілген: орыс тілі"),
    ({"kk": "draft"}, "kk",
     "Аударма әзірленуде, сондықтан мақала уақытша басқа тілде көрсетілген: ағылшын тілі"),
    ({"ru": "draft"}, "ru",
     "Перевод в работе, поэтому статья пока показана на другом языке: английский"),
    ({"kk": "outdated"}, "kk", "Бұл аударма жасалғаннан кейін түпнұсқа өзгерді"),
    ({"ru": "outdated"}, "ru", "Оригинал изменился после того, как был сделан этот перевод"),
])
def test_note_says_why_the_reader_sees_this_text(
    slots: dict[str, str], wanted: str, expected: str
) -> None:
    """Missing, draft and outdated translations each get their own note in the reader's language."""
    assert content.fallback_note(content.pick(_article(**slots), wanted, FALLBACK)) == expected


def test_outdated_translation_is_still_shown_in_its_language() -> None:
    """An outdated ready kk text is shown to the kk reader, not replaced by a fallback."""
    shown = content.pick(_article(kk="outdated", ru="ready"), "kk", FALLBACK)
    assert (shown.lang, shown.text.title, shown.is_fallback) == ("kk", "Title kk", False)
    assert shown.wanted_state == "outdated"


def test_english_notes_come_from_the_msgids() -> None:
    """An English reader of a Russian article reads each of the three notes in plain English."""
    art = _article(ru="ready")
    art.source_lang = "ru"
    en, ru = art.texts
    art.texts = [ru]
    ru.status = "source"
    chain = {"en": ["ru"]}
    assert content.fallback_note(content.pick(art, "en", chain)) == (
        "Not translated yet: this article is shown in Russian"
    )
    art.texts = [en, ru]
    en.status = "draft"
    assert content.fallback_note(content.pick(art, "en", chain)) == (
        "Translation in progress: this article is shown in Russian"
    )
    en.status, en.source_fingerprint = "ready", "old"
    assert content.fallback_note(content.pick(art, "en", chain)) == (
        "The original has changed since this translation was made"
    )


def test_configured_chain_changes_the_fallback() -> None:
    """With kk → en configured, a kk reader gets English even when Russian is ready."""
    shown = content.pick(_article(ru="ready"), "kk", {"kk": ["en"]})
    assert shown.lang == "en"
    assert content.translations_of(_article(kk="ready", ru="draft")) == ["en", "kk"]
