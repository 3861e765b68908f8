"""Lexical cohesion for telling article titles from subheadings (TextTiling-style).

Words are cut to a short prefix so that Kazakh and Russian endings ("университетінде",
"университета") count as the same word, which is crude but language-agnostic.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable
from itertools import chain, filterfalse

from publisher.ingest import detect
from publisher.ingest.detect import words

_WORD = detect.LetterRuns("{3,}")
STEM = 5

_STOP = words(
    # en
    "the and for with that this from was were are has have had been its their his her our "
    "not but also which who whom into than then they them these those there will would can "
    "could should about more most other such only all any each over after before during "
    "while where when what how why one two new well very just "
    # ru
    "что это как для при его её она они оно был была были быть также который которая "
    "которые которых этого этой этом или все всех так уже еще ещё где когда чтобы между "
    "после более через может того тем под над без них нам вас наш ваш "
    # kk
    "және мен бен пен үшін бойынша туралы болып бұл осы деп сондай ақ оның олар біз "
    "барлық арасында екенін болды жылы жылғы келеді алайда бірақ тек әрі немесе сол "
    "оны мұнда қатар ретінде"
)


_CUT = operator.itemgetter(slice(None, STEM))


def stems(text: str, bmp: bool = False) -> list[str]:
    """The stems of `text`'s words, stop words left out; `bmp` as for `detect.LetterRuns`
    (casefolding keeps every character of the BMP in it)."""
    # map/filterfalse run in C: this is called for every unit of every file.
    return list(map(_CUT, filterfalse(_STOP.__contains__, _WORD(text.casefold(), bmp))))


def bag(texts: Iterable[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for t in texts:
        out.update(stems(t))
    return out


def idf_weights(docs: Iterable[list[str]]) -> dict[str, float]:
    """Inverse document frequency over the paragraphs of one file: words every article of a
    dump uses (the university's name) say little about where one article ends."""
    sets = list(map(set, docs))
    n = len(sets)
    # One pass of Counter's C loop over every paragraph's distinct words.
    df = Counter(chain.from_iterable(sets))
    # A weight per frequency, not per word: most words of a file share a few frequencies.
    weight = {c: math.log((n + 1) / (c + 0.5)) for c in set(df.values())}
    return dict(zip(df, map(weight.__getitem__, df.values()), strict=True))


def cosine(a: Counter[str], b: Counter[str], idf: dict[str, float] | None = None) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    # dict.get in C instead of a Python helper per word: the same products in the same
    # order, so the same floats, at a fraction of the calls.
    wt = (idf if idf is not None else {}).get
    dot = sum(n * b[w] * wt(w, 1.0) ** 2 for w, n in a.items() if w in b)
    if not dot:
        return 0.0
    na = math.sqrt(sum((n * wt(w, 1.0)) ** 2 for w, n in a.items()))
    nb = math.sqrt(sum((n * wt(w, 1.0)) ** 2 for w, n in b.items()))
    return dot / (na * nb)


def coverage(
    words: list[str], seen: Counter[str] | set[str], idf: dict[str, float] | None = None,
) -> float:
    """Share (idf-weighted) of the distinct `words` that occur in `seen`; 0 without words."""
    distinct = set(words)
    if not distinct:
        return 0.0
    if idf is None:
        # Every weight 1.0: the sums are exact counts.
        return len(distinct.intersection(seen)) / len(distinct)
    weights = {w: idf.get(w, 1.0) for w in distinct}
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(v for w, v in weights.items() if w in seen) / total
