"""Which text a reader of language L sees: the same rule for site, feeds and emails."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.i18n.locale import fallback_chain, gettext, locale
from publisher.store.models import Article, ArticleText

SHOWABLE = ("source", "ready")


@dataclass(frozen=True)
class Shown:
    """The text shown to a reader who asked for `wanted`; `lang` is its real language.

    `wanted_state` is what the article has in `wanted`: source | ready | outdated (a ready
    translation of an older source text, still shown) | draft | missing.
    """

    text: ArticleText
    lang: str
    wanted: str
    wanted_state: str = "source"

    @property
    def is_fallback(self) -> bool:
        return self.lang != self.wanted


def available(article: Article, lang: str) -> bool:
    """True when `lang` has its own showable text (not a fallback)."""
    slot = article.text(lang)
    return slot is not None and slot.status in SHOWABLE


def _state(article: Article, lang: str) -> str:
    slot = article.text(lang)
    if slot is None:
        return "missing"
    # A draft is "in progress" whether or not its source changed since: either way someone
    # is working on it, and it is not shown. The fingerprints are compared here rather than
    # through slot.outdated, which loads slot.article: pages render detached articles.
    if slot.status == "ready" and slot.source_fingerprint != article.fingerprint:
        return "outdated"
    return slot.status


def pick(article: Article, wanted: str, fallback: dict[str, list[str]]) -> Shown:
    """The `wanted` slot when it is source or ready, else the first showable in the chain."""
    state = _state(article, wanted)
    for lang in fallback_chain(wanted, fallback):
        slot = article.text(lang)
        if slot is not None and slot.status in SHOWABLE:
            return Shown(slot, lang, wanted, state)
    return Shown(article.source_text, article.source_lang, wanted, state)


def translations_of(article: Article) -> list[str]:
    """Languages in which the article can be read in its own text."""
    return [t.lang for t in sorted(article.texts, key=lambda t: t.lang) if t.status in SHOWABLE]


def fallback_note(shown: Shown) -> str | None:
    """The localized note above a text a reader of `shown.wanted` should read with care: a
    fallback (naming its real language, and whether a translation is under way) or an
    outdated translation; else None."""
    if not shown.is_fallback:
        if shown.wanted_state == "outdated":
            return gettext(shown.wanted, "The original has changed since this translation was made")
        return None
    # Lower-case CLDR names ("орыс тілі", "английский") read naturally inside a sentence.
    name = locale(shown.lang).get_display_name(locale(shown.wanted)) or shown.lang
    if shown.wanted_state == "draft":
        message = gettext(shown.wanted,
                          "Translation in progress: this article is shown in %(language)s")
    else:
        message = gettext(shown.wanted,
                          "Not translated yet: this article is shown in %(language)s")
    return message % {"language": name}
