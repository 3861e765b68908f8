"""Plain-text news dumps -> articles.

A dump is a run of articles: a title line, a blank line, paragraphs separated by blank lines.
Inside bodies there are subheadings that look exactly like titles, lead-in lines ending in
':', bullet and numbered lines. Every one-line paragraph shaped like a heading is a
*candidate*; whether it starts a new article is scored from signals that do not depend on the
language:

- lexical cohesion (TextTiling): how much the text after the candidate shares vocabulary with
  the text before it, relative to the usual paragraph-to-paragraph cohesion of this file;
- whether the candidate's own words already occurred in the current article (a subheading
  names something the article is about; a new title rarely does);
- whether the next paragraph opens a new event: a full date, a place, an institution name;
- whether the current article already has a body worth the name;
- known titles (seen earlier in the file or already in the store) always start an article.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from publisher.core.errors import InputError
from publisher.ingest import detect, segment
from publisher.store.articles import Block, ParsedArticle, normalise_key

_BULLET = re.compile(r"^\s*[•●▪◦·‣∙○■□►➢➤✓✔\u2043]\s*(?P<t>\S.*)$")
_DASH = re.compile(r"^\s*[-–—*]\s+(?P<t>\S.*)$")
_NUMBER = re.compile(r"^\s*(?:\d{1,2}|[IVX]{1,4})[.)]\s+(?P<t>\S.*)$")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# A heading ends without sentence punctuation ('?' and '!' are allowed: "What is an Adjuvant?").
_SENTENCE_END = frozenset(".,;:…")
_CLOSERS = "\"'»”’)]"
_LETTER = re.compile(r"[^\W\d_]")
# "Professor Akhmetov: «We must ...»": a speaker and their words, the way an interview or a
# report marks a section; a title announces an event instead.
_ATTRIBUTED_QUOTE = re.compile(r"^[^\W\d_][^:«»\"“”„]{1,60}?:\s*[«\"“„]")

MAX_HEADING_CHARS = 220
MAX_HEADING_WORDS = 32
TITLE_THRESHOLD = 0.5
# Bonus per missing share of a lead's words below 12% already in the article (2-4 all measure
# alike on the fixtures; 5 starts to promote sections).
LEAD_FRESH_WEIGHT = 3.5
_UNIT_SAMPLE = 800  # characters of a unit used for cohesion: enough words, bounded work


@dataclass
class Unit:
    kind: str  # prose | heading | items
    text: str  # items: one item per line, markers stripped
    line: int
    marker: str = ""  # items: bullet | dash | number
    raw: str = ""  # items: the lines as written, for a lone "— ..." line that stays prose
    date_token: date | None = None
    starts: bool = False  # a date token forces an article boundary here
    _stems: list[str] | None = None

    @property
    def stems(self) -> list[str]:
        if self._stems is None:
            self._stems = segment.stems(self.text[:_UNIT_SAMPLE])
        return self._stems


@dataclass
class Draft:
    title: str
    line: int
    derived: bool = False
    units: list[Unit] = field(default_factory=list)
    token_date: date | None = None
    title_stems: list[str] = field(default_factory=list)


def _norm(line: str) -> str:
    return _SPACES.sub(" ", line).strip()


def heading_shaped(text: str) -> bool:
    """One short line that does not end like a sentence."""
    if not text or len(text) > MAX_HEADING_CHARS or not _LETTER.search(text):
        return False
    if len(text.split()) > MAX_HEADING_WORDS:
        return False
    core = text.rstrip(_CLOSERS).rstrip()
    if not core or core[-1] in _SENTENCE_END:
        return False
    first = next((c for c in text if c.isalnum()), "")
    return not first.isalpha() or first.isupper()


def _paragraphs(text: str) -> list[tuple[int, list[str]]]:
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not current:
                start = n
            current.append(line)
        elif current:
            out.append((start, current))
            current = []
    if current:
        out.append((start, current))
    return out


def _units_of(start: int, lines: list[str]) -> list[Unit]:
    """Split one paragraph into prose runs and item runs (lead-in + bullets share a paragraph)."""
    out: list[Unit] = []
    token: date | None = None
    found = detect.date_token(lines[0])
    if found is not None:
        token, rest = found
        lines = [rest, *lines[1:]] if rest.strip() else lines[1:]
        if not lines:
            return [Unit("prose", "", start, date_token=token, starts=True)]
    prose: list[str] = []
    items: list[str] = []
    raws: list[str] = []
    marker = ""
    item_line = prose_line = start

    def flush_prose() -> None:
        if prose:
            out.append(Unit("prose", " ".join(prose), prose_line))
            prose.clear()

    def flush_items() -> None:
        nonlocal marker
        if items:
            out.append(Unit("items", "\n".join(items), item_line, marker=marker,
                            raw=" ".join(raws)))
            items.clear()
            raws.clear()
        marker = ""

    for offset, raw in enumerate(lines):
        n = start + offset
        kind = body = ""
        for name, pattern in (("bullet", _BULLET), ("number", _NUMBER), ("dash", _DASH)):
            m = pattern.match(raw)
            if m:
                kind, body = name, _norm(m.group("t"))
                break
        if kind:
            flush_prose()
            if marker and kind != marker:
                flush_items()
            if not items:
                item_line = n
            marker = kind
            items.append(body)
            raws.append(_norm(raw))
        elif items and raw[:1].isspace():
            items[-1] = f"{items[-1]} {_norm(raw)}"  # a wrapped item
            raws.append(_norm(raw))
        else:
            flush_items()
            if not prose:
                prose_line = n
            prose.append(_norm(raw))
    flush_items()
    flush_prose()
    out = [u for u in out if u.text]
    if token is not None:
        if out:
            out[0].date_token, out[0].starts = token, True
        else:
            out = [Unit("prose", "", start, date_token=token, starts=True)]
    return out


def _is_candidate(u: Unit, single_line: bool) -> bool:
    return u.kind == "prose" and single_line and heading_shaped(u.text)


def units(text: str) -> list[Unit]:
    out: list[Unit] = []
    for start, lines in _paragraphs(text):
        parts = _units_of(start, lines)
        single = (len(parts) == 1 and len(lines) == 1) or (
            len(parts) == 1 and parts[0].starts and "\n" not in parts[0].text
            and len(lines) <= 2 and parts[0].kind == "prose"
        )
        for u in parts:
            if _is_candidate(u, single):
                u.kind = "heading"
        out.extend(parts)
    return out


def _baseline(us: list[Unit], idf: dict[str, float], k: int = 3, samples: int = 300) -> float:
    """Median cohesion across ordinary paragraph gaps of this file."""
    gaps = [i for i in range(1, len(us)) if us[i].kind != "heading" and us[i - 1].kind != "heading"]
    if len(gaps) > samples:
        step = len(gaps) / samples
        gaps = [gaps[int(j * step)] for j in range(samples)]
    sims = []
    for i in gaps:
        before = Counter(w for u in us[max(0, i - k):i] for w in u.stems)
        after = Counter(w for u in us[i:i + k] for w in u.stems)
        sims.append(segment.cosine(before, after, idf))
    positive = [s for s in sims if s > 0]
    return max(statistics.median(positive), 0.05) if positive else 0.15


@dataclass
class Signals:
    score: float
    cohesion: float
    covered: float
    event: float
    body: int
    echo: float


def _signals(
    us: list[Unit], i: int, draft: Draft, baseline: float, idf: dict[str, float], k: int = 4,
) -> Signals:
    body = [u for u in draft.units if u.kind != "heading"]
    before = Counter(w for u in draft.units[-k:] for w in u.stems)
    after_units: list[Unit] = []
    for u in us[i + 1:]:
        if u.kind == "heading" and after_units:
            break
        if u.starts and after_units:
            break
        after_units.append(u)
        if len(after_units) >= k:
            break
    after = Counter(w for u in after_units for w in u.stems)
    rel = segment.cosine(before, after, idf) / max(baseline, 0.1)
    seen: set[str] = set(draft.title_stems)
    for u in draft.units:
        seen.update(u.stems)
    # Unweighted on purpose: a subheading often reuses the article's most common words.
    covered = segment.coverage(us[i].stems, seen)
    nxt = next((u for u in us[i + 1:] if u.kind == "prose"), None)
    event = detect.event_signal(nxt.text) if nxt is not None else 0.0
    # A title is usually restated by the lead that follows it (weak: subheadings are too).
    lead = {w for u in after_units[:2] for w in u.stems}
    echo = segment.coverage([w for w in us[i].stems if w not in seen], lead)
    chars = sum(len(u.text) for u in body)
    # A lead that repeats none of the article's vocabulary tells a new story; a section goes on
    # talking about what the article already named (the meeting, the speaker, the clinic).
    fresh = 0.0
    if nxt is not None:
        lead_words = segment.stems(detect.first_sentence(nxt.text[:400]))
        fresh = max(0.0, 0.12 - segment.coverage(lead_words, seen, idf)) * LEAD_FRESH_WEIGHT
    score = 1.5 * (1.0 - min(rel, 1.5)) + 1.6 * (0.4 - covered) + event + 0.3 * echo + fresh
    if len(body) < 2:
        score -= 1.0
    elif chars < 300:
        score -= 0.3  # two short paragraphs are a whole news brief; no body at all is not
    if us[i].text.rstrip(_CLOSERS).endswith("?"):
        score -= 0.3
    if len(us[i].text.split()) >= 8:
        score += 0.4
    if _ATTRIBUTED_QUOTE.match(us[i].text) and len(us[i].text.split(":", 1)[0].split()) <= 4:
        score -= 0.9
    if i + 1 < len(us) and (us[i + 1].kind == "items" or us[i + 1].text.endswith(":")):
        score -= 0.8  # an article lead is not a one-line lead-in to a list
    opening = us[i + 1].raw or us[i + 1].text if i + 1 < len(us) else ""
    back = detect.continuation(nxt.text) if nxt is not None else 0.0
    if back >= 1.0:
        score -= 1.5  # "Alongside its ...", "Наряду с ...", "Бұл ...": no lead opens so
    elif nxt is not None and (back > 0 or opening[:1] in "—–-\"«“„"):
        score -= 0.8  # a pronoun early on, a quotation: the story goes on
    if nxt is not None and not event and not detect.names_something(
        detect.first_sentence(nxt.text[:400])
    ):
        score -= 0.4  # a lead names someone or something; a section's text need not
    if sum(u.kind == "prose" for u in after_units) < 2 and (
        len(after_units) == len(us) - i - 1 or us[i + 1 + len(after_units)].kind == "heading"
    ):
        score -= 0.5  # a one-paragraph "article" ending at the next heading: a section
    return Signals(score, rel, covered, event, len(body), echo)


def _derive_title(text: str, limit: int = 100) -> str:
    """A title for an article that has none: its first sentence, cut at a word with "…"."""
    sentence = detect.first_sentence(" ".join(text.split()))
    if len(sentence) <= limit:
        return sentence.rstrip(".").rstrip() or sentence
    cut = sentence[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;:—–- ") + "…"


def _blocks(units_: list[Unit]) -> list[Block]:
    out: list[Block] = []
    prev_text = ""
    for idx, u in enumerate(units_):
        if u.kind == "heading":
            out.append(Block("heading", u.text))
        elif u.kind == "items":
            lead_in = prev_text.endswith(":")
            continues = bool(out) and out[-1].kind == "list"
            count = u.text.count("\n") + 1
            nxt = units_[idx + 1] if idx + 1 < len(units_) else None
            followed = nxt is not None and nxt.kind == "items" and nxt.marker == u.marker
            if u.marker == "bullet" or lead_in or continues or count >= 2 or followed:
                if continues:
                    out[-1] = Block("list", f"{out[-1].text}\n{u.text}")
                else:
                    out.append(Block("list", u.text))
            else:
                # A lone "1. ..." or "— ..." line is prose (Russian direct speech starts so).
                out.append(Block("paragraph", u.raw or u.text))
        elif u.text:
            out.append(Block("paragraph", u.text))
        prev_text = u.text if u.kind != "items" else prev_text
    return out


def split(us: list[Unit], known: set[str] | None = None) -> list[Draft]:
    """Group units into article drafts, deciding for each heading: title or subheading."""
    known_keys = set(known or ())
    idf = segment.idf_weights(u.stems for u in us)
    baseline = _baseline(us, idf)
    drafts: list[Draft] = []
    current: Draft | None = None
    pending: date | None = None
    for i, u in enumerate(us):
        if u.starts:
            pending = u.date_token
            current = None
            if not u.text:
                continue
        is_title = False
        if u.kind == "heading":
            has_body = current is not None and any(x.kind != "heading" for x in current.units)
            is_title = (
                current is None
                or (has_body and normalise_key(u.text) in known_keys)
                or _starts_article(us, i, current, baseline, idf)
            )
        if is_title:
            current = Draft(title=u.text, line=u.line, token_date=pending,
                            title_stems=u.stems)
            known_keys.add(normalise_key(u.text))
            drafts.append(current)
            pending = None
            continue
        if current is None:
            current = Draft(title=_derive_title(u.raw or u.text),
                            line=u.line, derived=True, token_date=pending)
            drafts.append(current)
            pending = None
        current.units.append(u)
    return [d for d in drafts if d.units or not d.derived]


def _starts_article(
    us: list[Unit], i: int, current: Draft, baseline: float, idf: dict[str, float],
) -> bool:
    body = [u for u in current.units if u.kind != "heading"]
    if not body or i + 1 >= len(us):
        return False
    prev = current.units[-1]
    if prev.kind == "prose" and prev.text.endswith(":"):
        return False
    score = _signals(us, i, current, baseline, idf).score
    if score <= TITLE_THRESHOLD:
        return False
    # Two headings with less than two paragraphs between them are not both titles (an article
    # is several paragraphs): keep the one that looks more like a title, judging the later one
    # as if this one were a subheading of the current article.
    j = i + 1
    while j < len(us) and us[j].kind != "heading" and not us[j].starts:
        j += 1
    section = us[i + 1:j]
    if j + 1 < len(us) and us[j].kind == "heading" and not us[j].starts and (
        sum(u.kind == "prose" for u in section) < 2
    ):
        merged = Draft(title=current.title, line=current.line,
                       units=[*current.units, *us[i:j]], title_stems=current.title_stems)
        if _signals(us, j, merged, baseline, idf).score > score:
            return False
    return True


def parse(text: str, origin: str, known_titles: set[str] | None = None,
          derived: set[str] | None = None) -> list[ParsedArticle]:
    """Articles of one dump, in file order (repeats included: saving makes them one).

    The origins of articles whose title was taken from their first sentence go into
    `derived`, for the import report.
    """
    us = units(text)
    if not us:
        raise InputError(f"{origin}: empty file", "check the export")
    out: list[ParsedArticle] = []
    for d in split(us, known_titles):
        blocks = _blocks(d.units)
        if not blocks:
            continue
        lead = next((b.text for b in blocks if b.kind == "paragraph"), "")
        stated = d.token_date or detect.find_date(lead)
        sample = " ".join([d.title, *(b.text for b in blocks[:6])])
        out.append(
            ParsedArticle(
                title=d.title,
                blocks=blocks,
                lang=detect.language(sample),
                date=detect.at_noon(stated) if stated else None,
                origin=f"{origin}:{d.line}",
            )
        )
        if d.derived and derived is not None:
            derived.add(out[-1].origin)
    if not out:
        raise InputError(f"{origin}: no article found (a title line, a blank line, paragraphs)",
                         "check that paragraphs are separated by blank lines")
    return out


def body_blocks(text: str) -> list[Block]:
    """Blocks of a body given on its own (JSON Lines): every heading-shaped line is a heading."""
    return _blocks(units(text))
