"""What the importer knows about one heading candidate, as numbers for the model.

Each signal is measured, not weighed: `model` holds the weights, fitted on the annotated
dumps. The signals do not depend on word lists of one file:

- lexical cohesion (TextTiling): how much the text after the candidate shares vocabulary with
  the text before it, relative to the usual paragraph-to-paragraph cohesion of this file;
- whether the candidate's own words already occurred in the current article (a subheading
  names something the article is about; a new title rarely does);
- whether the next paragraph opens a new event (a full date, a place, an institution name) or
  goes on with the story (a leading connective or pronoun);
- whether the candidate is a clause with a predicate (`predicate`) or a noun phrase;
- where it stands and what it looks like: how much article precedes it (closing sections
  such as results and plans come late, after a long body, and open no new event), a question,
  a lone numbered line, a line closed by a period (a sentence, unless its body follows on
  the very next line, as briefs set their headlines, or it is too short for a sentence), a
  line with its body right under it, English headline case;
- whether it is a quotation and nothing else («...», “...”), as feature and interview
  stories are headlined (a speaker's line, "Профессор Ахметов: «...»", is not), or a
  question whose lead takes it up ("This question was the main topic of..."), as features
  are headlined (an interviewer's question is followed by its answer);
- how long its section runs (`section_prose`): the paragraphs under it before the next
  heading or date token; an article's first section (lead, background, quotes) runs on, a
  section inside one is often a paragraph or two before the next subheading;
- whether it shares the form of its neighbours: the article's previous subheading (a run of
  questions in an interview, of numbered sections, of short noun phrases such as "Основные
  темы семинара" then "Отзывы участников"), or, for a numbered line, the next candidate
  (the "1." of a run of numbered sections). Sections of one article are written in parallel;
  a new title rarely repeats the form of the section before it.

Many other signals were measured leave-one-file-out by benchmarks/segmentation.py (or
benchmarks/probe.py, for an oracle or a model too slow to ship) and dropped; the log in
benchmarks/README.md names each with its figure, so that none is tried twice by accident.
Among them: closing-section vocabulary, a speaker's quotation, words shared with the
article's title, the dump's own title form, and a sentence encoder (multilingual-e5-small),
which gains boundaries but costs two orders of magnitude of import speed.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from itertools import chain

from publisher.ingest import detect, predicate, segment
from publisher.ingest.detect import words
from publisher.ingest.units import CLOSERS, Unit

NAMES = (
    "cohesion_drop", "uncovered", "event", "echo", "short_body", "question", "long_heading",
    "list_follows", "back_reference", "lead_names_nothing", "lone_section", "predicate",
    "depth", "period", "attached", "numbered", "words", "title_case", "title_link",
    "same_shape", "language_switch", "closing", "numbered_run", "same_form",
    "section_prose", "quotation", "asked_back",
)
# The nouns that name a closing section (results, conclusions, plans, next steps, outlook),
# by stem as segment.stems cuts them: a discourse category, the same in every article.
_CLOSING = words(
    "итоги итог резул вывод заклю персп планы план дальн будущ "
    "қорыт нәтиж жоспа алдағ болаш келеш "
    "concl resul summa outlo next steps plans futur"
)
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_LOWER_LINKS = words(
    "a an the of in on at for to from with by and or as into about over under after"
)


def _title_case(text: str) -> float:
    """English headline style ("Bachelor's Programme in Nursing Expands") against sentence
    style ("Admission requirements"); 0 for other scripts and short lines."""
    words = [w for w in _LATIN_WORD.findall(text) if w.casefold() not in _LOWER_LINKS]
    if len(words) < 3:
        return 0.0
    return float(sum(w[0].isupper() for w in words[1:]) / (len(words) - 1) >= 0.6)


# A line that is a quotation and nothing else: «...», “...”, „...“, "...".
_QUOTATION = re.compile(r'^(?:«[^«»]+»|“[^“”]+”|„[^„“”]+[“”]|"[^"]+")$')


def _prose(u: Unit) -> bool:
    """Text, for the context of a candidate: a later line closed by a period is not decided
    yet and nearly always a sentence."""
    return u.kind == "prose" or u.period


def _heading(u: Unit) -> bool:
    return u.kind == "heading" and not u.period


_LABEL = re.compile(r"^[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w]{0,10}:")


def _shape_of(u: Unit) -> str:
    """The form a run of parallel subheadings shares: questions, "Q:" lines, numbers."""
    if u.shape == "numbered":
        return "numbered"
    text = u.text.rstrip(CLOSERS)
    if _LABEL.match(u.text):
        return "label"
    return "question" if text.endswith("?") else ""


@dataclass
class Draft:
    """An article being assembled; what the signals need of it is kept up to date on `add`."""

    title: str
    line: int
    derived: bool = False
    units: list[Unit] = field(default_factory=list)
    token_date: date | None = None
    title_stems: list[str] = field(default_factory=list)
    body: list[Unit] = field(default_factory=list)  # units that are not headings
    chars: int = 0  # characters of the body's text
    seen: set[str] = field(default_factory=set)  # every stem of the title and the units

    def __post_init__(self) -> None:
        self.seen.update(self.title_stems)

    def add(self, u: Unit) -> None:
        self.units.append(u)
        self.seen.update(u.stems)
        if u.kind != "heading":
            self.body.append(u)
            self.chars += len(u.text)

    def copy(self) -> Draft:
        """The article as assembled so far, to go on apart from this one."""
        return Draft(self.title, self.line, self.derived, list(self.units), self.token_date,
                     self.title_stems, list(self.body), self.chars, set(self.seen))


def _bag(units: list[Unit]) -> Counter[str]:
    """The stems of `units` counted, in the order they occur (cosine sums in that order)."""
    # One pass of Counter's C loop over the chained lists.
    return Counter(chain.from_iterable([u.stems for u in units]))


def baseline(us: list[Unit], idf: dict[str, float], k: int = 3, samples: int = 300) -> float:
    """Median cohesion across ordinary paragraph gaps of this file."""
    gaps = [i for i in range(1, len(us)) if us[i].kind != "heading" and us[i - 1].kind != "heading"]
    if len(gaps) > samples:
        step = len(gaps) / samples
        gaps = [gaps[int(j * step)] for j in range(samples)]
    sims = []
    for i in gaps:
        before = _bag(us[max(0, i - k):i])
        after = _bag(us[i:i + k])
        sims.append(segment.cosine(before, after, idf))
    positive = [s for s in sims if s > 0]
    return max(statistics.median(positive), 0.05) if positive else 0.15


def _section(us: list[Unit], i: int, limit: int = 12) -> tuple[int, Unit | None]:
    """The paragraphs under heading `us[i]` (prose units before the next heading, a date
    token or the end, within `limit` units) and the heading candidate that ends them: none
    past a date token (a new article starts there anyway), the end or the limit."""
    n = 0
    for x in us[i + 1:i + 1 + limit]:
        if x.starts:
            return n, None
        if _heading(x):
            return n, x
        n += _prose(x)
    return n, None


def _form(u: Unit, lang: str) -> tuple[bool, bool]:
    """The form of a plain heading (no question, label or number): a clause or a noun
    phrase, short or long."""
    return predicate.has_predicate(u.text, lang), len(u.text.split()) <= 5


def _heading_lang(u: Unit, context: Unit | None) -> str:
    """A heading is too short to detect its language alone; Cyrillic without Kazakh letters
    is Kazakh when the text around it is."""
    lang = u.lang
    if lang == "ru" and context is not None and context.lang == "kk":
        return "kk"
    return lang


# The signals that cost the most, in groups that share their work, with the values each can
# take. The judge computes them group by group, in this order (what settles the most
# decisions for its cost first), and stops once the rest, at their extremes, could not change
# its answer (dumps._Judge): most candidates are plain subheadings or plain titles.
STAGED: tuple[tuple[str, dict[str, tuple[float, float]]], ...] = (
    ("lead", {"title_link": (0.0, 1.0), "echo": (0.0, 1.0)}),
    # 1 - min(relative cosine, 1.5), and a cosine is never negative
    ("cohesion", {"cohesion_drop": (-0.5, 1.0)}),
    ("names", {"lead_names_nothing": (0.0, 1.0)}),
    ("form", {"language_switch": (0.0, 1.0), "predicate": (0.0, 1.0), "same_form": (0.0, 1.0)}),
)
_AT = {name: NAMES.index(name) for _, group in STAGED for name in group}


class Candidate:
    """The signals of candidate `us[i]` as the next unit of `draft`, in the order of NAMES
    (`x`): the cheap ones at once, each group of STAGED (0 until then) on `fill`."""

    def __init__(self, us: list[Unit], i: int, draft: Draft, base: float,
                 idf: dict[str, float], k: int = 4) -> None:
        self.draft, self.base, self.idf, self.k = draft, base, idf, k
        u = self.u = us[i]
        body = draft.body
        after_units: list[Unit] = []
        # Indexes, not `us[i + 1:]`: a slice copies the rest of the file for every candidate.
        for j in range(i + 1, len(us)):
            x = us[j]
            if _heading(x) and after_units:
                break
            if x.starts and after_units:
                break
            after_units.append(x)
            if len(after_units) >= k:
                break
        self.after_units = after_units
        # Unweighted on purpose: a subheading often reuses the article's most common words.
        covered = segment.coverage(u.stems, draft.seen)
        # The paragraph under the candidate: none when another heading comes first (its lead
        # is that heading's, not this one's).
        nxt = None
        for j in range(i + 1, len(us)):
            if _prose(us[j]):
                nxt = us[j]
                break
            if _heading(us[j]):
                break
        self.nxt = nxt
        event = self.event = detect.event_signal(nxt.text) if nxt is not None else 0.0
        following = us[i + 1] if i + 1 < len(us) else None
        n_words = len(u.text.split())
        lone = sum(_prose(x) for x in after_units) < 2 and (
            len(after_units) == len(us) - i - 1 or _heading(us[i + 1 + len(after_units)])
        )
        shape = self.shape = _shape_of(u)
        previous = self.previous = next(
            (x for x in reversed(draft.units) if x.kind == "heading"), None)
        same_shape = bool(shape) and previous is not None and _shape_of(previous) == shape
        section, ahead = _section(us, i)
        back = nxt is not None and detect.points_back(nxt.text)
        self.x = [
            0.0,  # cohesion_drop
            0.4 - covered,
            event,
            0.0,  # echo
            float(len(body) >= 2 and draft.chars < 300),
            float(u.text.rstrip(CLOSERS).endswith("?")),
            float(n_words >= 8),
            float(following is not None
                  and (following.kind == "items" or following.text.endswith(":"))),
            float(back),
            0.0,  # lead_names_nothing
            float(lone),
            0.0,  # predicate
            math.log1p(len(body)) / math.log(11),
            # A period line with its body right under it is a brief's headline, not a
            # sentence: no such line was ever a subheading or a stray sentence in the
            # annotated dumps. Nor is a line too short for a sentence ("Марапат.", "New
            # Dormitory Rules."): every stray sentence in them has five words or more.
            float(u.period and u.shape != "attached" and n_words >= 5),
            float(u.shape == "attached"),
            float(u.shape == "numbered"),
            min(n_words, 20) / 20,
            _title_case(u.text),
            0.0,  # title_link
            float(same_shape),
            0.0,  # language_switch
            # Closing sections come after a body: weighed by how much article precedes them.
            float(u.stems[:1] != [] and u.stems[0] in _CLOSING) * min(len(body), 6) / 6,
            float(u.shape == "numbered" and ahead is not None and ahead.shape == "numbered"),
            0.0,  # same_form
            # An article's first section runs on (lead, background, quotes); a section inside
            # one is often a paragraph or two before the next subheading.
            min(section, 6) / 6,
            float(bool(_QUOTATION.match(u.text))),
            # A lead pointing back right after a question takes the question up ("This
            # question was the main topic of...", "Этот вопрос обсуждали..."): a feature's
            # headline. After any other heading it goes on with the story before it.
            float(shape == "question" and back),
        ]

    def fill(self, group: int) -> None:
        """Compute the signals of STAGED[group] into `x`."""
        getattr(self, "_" + STAGED[group][0])()

    def _lead(self) -> None:
        # A title is usually restated by the lead that follows it (weak: subheadings are
        # too); a section goes on with what the article's title named, a new story's lead
        # does not.
        u, draft = self.u, self.draft
        lead = set(chain.from_iterable([v.stems for v in self.after_units[:2]]))
        seen = draft.seen
        self.x[_AT["echo"]] = segment.coverage([w for w in u.stems if w not in seen], lead)
        self.x[_AT["title_link"]] = (segment.coverage(draft.title_stems, lead, self.idf)
                                     if draft.title_stems else 0.0)

    def _cohesion(self) -> None:
        before = _bag(self.draft.units[-self.k:])
        after = _bag(self.after_units)
        rel = segment.cosine(before, after, self.idf) / max(self.base, 0.1)
        self.x[_AT["cohesion_drop"]] = 1.0 - min(rel, 1.5)

    def _names(self) -> None:
        nxt = self.nxt
        lead_text = detect.first_sentence(nxt.text[:400]) if nxt is not None else ""
        self.x[_AT["lead_names_nothing"]] = float(
            nxt is not None and not self.event and not detect.names_something(lead_text))

    def _form(self) -> None:
        u, nxt, body, previous = self.u, self.nxt, self.draft.body, self.previous
        context = nxt if nxt is not None else (body[-1] if body else None)
        lang = _heading_lang(u, context)
        form = _form(u, lang)
        self.x[_AT["predicate"]] = float(form[0])
        # A dump that mixes languages changes language between articles, not inside one.
        self.x[_AT["language_switch"]] = float(
            nxt is not None and bool(body) and nxt.lang != body[-1].lang)
        self.x[_AT["same_form"]] = float(
            not self.shape and previous is not None and not _shape_of(previous)
            and _form(previous, lang) == form)


def features(
    us: list[Unit], i: int, draft: Draft, base: float, idf: dict[str, float],
    k: int = 4,
) -> list[float]:
    """All the signals of candidate `us[i]` as the next unit of `draft` (see Candidate)."""
    c = Candidate(us, i, draft, base, idf, k)
    for group in range(len(STAGED)):
        c.fill(group)
    return c.x
