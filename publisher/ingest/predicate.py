"""Does a heading say that something happened? A predicate tells a news title from a section.

A news title is usually a clause ("Семинар өтті", "Студенты стали призёрами", "University
Launches a Biobank"); a subheading is usually a noun phrase ("Программа визита", "Next
Steps", "Әдістің артықшылықтары"). Each language is read from its morphology:

- Russian through pymorphy3 (OpenCorpora dictionaries): a finite verb or a short participle
  ("прошла", "проведена", "открыт").
- Kazakh by suffix rules on the last word, because Kazakh puts the predicate last: past
  "-ды/-ді/-ты/-ті" ("өтті", "ашылды"), present-future "-ады/-еді" (same endings), the perfect
  participle "-ған/-ген/-қан/-кен", intention "-мақ/-мек", the continuous "-уда/-уде".
- English by verb forms: auxiliaries, past "-ed" and common irregular pasts, and a headline's
  present "-s" verb between a subject and its object ("University Launches Biobank").
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from publisher.ingest.detect import words

_WORD = re.compile(r"[^\W\d_][\w'’-]*")

# Kazakh nouns and adverbs that end like a verb: "қорытынды" (conclusion) is a closing section.
_KK_NOT_VERBS = words(
    "қорытынды нәтижелі маңызды қажетті тиімді белгілі тұрақты жоспарлы түрлі ерекше "
    "ортақ мерекелі сапалы қауіпті пайдалы"
)
_KK_ENDINGS = ("ды", "ді", "ты", "ті", "ған", "ген", "қан", "кен", "мақ", "мек", "бақ", "бек",
               "пақ", "пек", "уда", "уде")
# Verb endings are only trusted on words long enough to carry a stem ("алды", "өтті").
_KK_MIN = 4

_EN_AUX = words(
    "is are was were be been has have had will would can could may might must shall "
    "should does did do gets got becomes became"
)
_EN_IRREGULAR = words(
    "held won took met began became made gave went saw came brought built led sent spent "
    "told wrote chose drew grew ran rose set hosted opened joined signed awarded received "
    "launched wins takes meets begins makes gives goes sees comes brings builds leads "
    "sends opens joins signs hosts receives launches unveils marks celebrates welcomes "
    "visits completes presents receives trains earns"
)
_EN_LINKS = words(
    "a an the of in on at for to from with by and or as into about over under between "
    "among during after before through against"
)
# "-ed" words that open noun phrases ("Advanced Course", "Selected Papers"), not verbs.
_EN_ADJ_ED = words(
    "advanced selected limited united related based red bed need seed speed feed hundred "
    "kindred sacred naked wicked beloved"
)


def _en(words: list[str]) -> bool:
    low = [w.casefold().strip("'’") for w in words]
    for i, w in enumerate(low):
        if w in _EN_AUX or (w in _EN_IRREGULAR and i > 0):
            return True
        if i > 0 and len(w) > 4 and w.endswith("ed") and w not in _EN_ADJ_ED:
            return True
        # A headline verb in "-s" has a subject before it and an object after it; a plural noun
        # ends its phrase ("Key Findings") or is followed by a preposition ("Results of").
        if (0 < i < len(low) - 1 and len(w) > 3 and w.endswith("s")
                and not w.endswith(("ss", "us", "is", "ics", "'s", "’s"))
                and low[i + 1] not in _EN_LINKS and low[i - 1] not in _EN_LINKS):
            return True
    return False


def _kk(words: list[str]) -> bool:
    last = words[-1].casefold()
    if last in _KK_NOT_VERBS or len(last) < _KK_MIN:
        return False
    return last.endswith(_KK_ENDINGS)


@lru_cache(maxsize=1)
def _morph() -> Any:
    import pymorphy3  # loaded on the first Russian heading only: about 0.1 s and 15 MB

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=65536)
def _ru_word(word: str) -> bool:
    best = _morph().parse(word)[0]
    return best.tag.POS in {"VERB", "PRTS"}


def _ru(words: list[str]) -> bool:
    return any(_ru_word(w.casefold()) for w in words)


@lru_cache(maxsize=4096)  # a subheading is asked about again as the next one's previous
def has_predicate(text: str, lang: str) -> bool:
    """Whether the heading `text` in `lang` (kk, ru, en) holds a verb that makes it a clause."""
    words = _WORD.findall(text)
    if not words:
        return False
    if lang == "kk":
        return _kk(words)
    if lang == "ru":
        return _ru(words)
    return _en(words)
