"""Which text a reader of each language sees, and the note when it is a fallback."""

from __future__ import annotations

from datetime import UTC, datetime

from publisher.i18n import content
from publisher.store.models import Article, ArticleText

NOW = datetime(2025, 4, 7, tzinfo=UTC)
FALLBACK = {"kk": ["ru", "en"], "ru": ["en"], "en": ["ru"]}


def _article(**slots: str) -> Article:
    """An in-memory article written in en, with extra slots {lang: status}."""
    art = Article(id="a" * 16, slug="a", key="a", source_lang="en", published_at=NOW,
                  created_at=NOW, updated_at=NOW, fingerprint="fp")
    art.texts = [ArticleText(lang="en", title="Title", status="source", source_fingerprint="fp",
                             updated_at=NOW)]
    for lang, status in slots.items():
        art.texts.append(ArticleText(lang=lang, title=f"Title {lang}", status=status,
                                     source_fingerprint="fp", updated_at=NOW))
    return art


def test_ready_translation_is_shown_in_its_language() -> None:
    """A kk reader sees the ready kk text, not marked as a fallback."""
    shown = content.pick(_article(kk="ready", ru="ready"), "kk", FALLBACK)
    assert (shown.lang, shown.text.title, shown.is_fallback) == ("kk", "Title kk", False)
    assert content.fallback_note(shown) is None


def test_draft_falls_back_along_the_chain() -> None:
    """A kk draft is not shown: the kk reader gets the ready ru text, marked as Russian."""
    shown = content.pick(_article(kk="draft", ru="ready"), "kk", FALLBACK)
    assert (shown.lang, shown.wanted, shown.is_fallback) == ("ru", "kk", True)
    assert content.fallback_note(shown) == (
        "Аударма әзірленуде, сондықтан мақала басқа тілде көрсетілген: орыс тілі"
    )


def test_source_is_the_last_resort_with_a_localized_note() -> None:
    """With no ru text a ru reader gets the English source and a note in Russian."""
    shown = content.pick(_article(kk="ready"), "ru", FALLBACK)
    assert (shown.lang, shown.is_fallback) == ("en", True)
    assert content.fallback_note(shown) == (
        "Перевод готовится, поэтому статья показана на другом языке: английский"
    )
    en = content.pick(_article(ru="ready"), "en", FALLBACK)
    assert (en.lang, en.is_fallback) == ("en", False)


def test_configured_chain_changes_the_fallback() -> None:
    """With kk → en configured, a kk reader gets English even when Russian is ready."""
    shown = content.pick(_article(ru="ready"), "kk", {"kk": ["en"]})
    assert shown.lang == "en"
    assert content.translations_of(_article(kk="ready", ru="draft")) == ["en", "kk"]
