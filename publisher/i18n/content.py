"""Which text a reader of language L sees: the same rule for site, feeds and emails."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.i18n.locale import fallback_chain, gettext, locale
from publisher.store.models import Article, ArticleText

SHOWABLE = ("source", "ready")


@dataclass(frozen=True)
class Shown:
    """The text shown to a reader who asked for `wanted`; `lang` is its real language."""

    text: ArticleText
    lang: str
    wanted: str

    @property
    def is_fallback(self) -> bool:
        return self.lang != self.wanted


def available(article: Article, lang: str) -> bool:
    """True when `lang` has its own showable text (not a fallback)."""
    slot = article.text(lang)
    return slot is not None and slot.status in SHOWABLE


def pick(article: Article, wanted: str, fallback: dict[str, list[str]]) -> Shown:
    """The `wanted` slot when it is source or ready, else the first showable in the chain."""
    for lang in fallback_chain(wanted, fallback):
        slot = article.text(lang)
        if slot is not None and slot.status in SHOWABLE:
            return Shown(slot, lang, wanted)
    return Shown(article.source_text, article.source_lang, wanted)


def translations_of(article: Article) -> list[str]:
    """Languages in which the article can be read in its own text."""
    return [t.lang for t in sorted(article.texts, key=lambda t: t.lang) if t.status in SHOWABLE]


def fallback_note(shown: Shown) -> str | None:
    """The localized note shown above a fallback text, naming its real language; else None."""
    if not shown.is_fallback:
        return None
    # Lower-case CLDR names ("орыс тілі", "английский") read naturally inside a sentence.
    name = locale(shown.lang).get_display_name(locale(shown.wanted)) or shown.lang
    message = gettext(shown.wanted, "Translation pending: this article is shown in %(language)s")
    return message % {"language": name}
