"""Plain-text news dumps -> articles.

A dump is a run of articles: a title line, a blank line, paragraphs separated by blank lines.
Inside bodies there are subheadings that look exactly like titles, lead-in lines ending in
':', bullet and numbered lines. `units` reads the lines and marks every heading *candidate*;
`signals` measures each candidate in its context and `model` weighs the signals with
coefficients fitted on annotated dumps. A dump splits by its own text alone, whatever was
imported before it: the same file always gives the same articles, and files parse
independently. The admin's `# ` / `## ` markers decide without the model, and merges and
splits made with `publisher articles` are replayed on every import (corrections.py).
A call close to the threshold is read both ways, and the calls after it decide which
reading is kept (`split`); the calls of that reading within the review margin (the
model's, or `import --margin`) are reported, so that an admin can check them. The costly
signals are computed only until the rest could no longer change a call (most candidates
are plainly one or the other): the calls are those of every signal computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from publisher.core.errors import InputError
from publisher.ingest import detect, model, segment, signals
from publisher.ingest.signals import Draft
from publisher.ingest.units import Unit, stem, units
from publisher.store.parsed import Block, ParsedArticle, lead_of

__all__ = ["Decision", "Unit", "body_blocks", "parse", "split", "units"]

THRESHOLD = 0.5
# Logit rounding room for a call settled before all signals are in (sums in another order).
_SLACK = 1e-9
_MAX_SETTLING_MARGIN = 0.49


@dataclass(frozen=True)
class Decision:
    """One title-or-subheading call of the model, for the admin to check."""

    line: int
    text: str
    score: float  # probability that the line starts an article
    verdict: str  # title | subheading | paragraph

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "text": self.text, "score": round(self.score, 3),
                "verdict": self.verdict}


# What a caller may watch: each candidate's signals and the verdict taken (for fitting: the
# oracle's verdict, or the model's own when it decodes on its own).
Observer = Callable[[Unit, list[float], bool], None]


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
    prev_text = carry = ""
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
        elif u.text and u.shape == "attached":
            carry = f"{u.text} "  # a first line that was no heading: its paragraph goes on
            continue
        elif u.text:
            out.append(Block("paragraph", carry + u.text))
        carry = ""
        prev_text = u.text if u.kind != "items" else prev_text
    return out


@dataclass
class _Judge:
    """Calls the model for the candidates of one file; with `oracle` (the true title lines of
    an annotated file) it follows the truth instead."""

    us: list[Unit]
    idf: dict[str, float]
    base: float
    weights: model.Model
    oracle: set[int] | None = None
    # Calls within this distance of the threshold get every signal and a probability (the
    # model's margin, or the caller's wider review margin).
    margin: float | None = None

    def __post_init__(self) -> None:
        # Logits past which a call is settled whatever the signals not computed yet: a title
        # that is no close call, or a subheading that is not one either. _low/_high[g]: the
        # least and most that the groups signals.STAGED[g:] can add to the logit.
        w = self.weights
        spans = [w.reach(group) for _, group in signals.STAGED]
        self._low = [sum(lo for lo, _ in spans[g:]) for g in range(len(spans))]
        self._high = [sum(hi for _, hi in spans[g:]) for g in range(len(spans))]
        # A negative margin settles at the verdict's own bound. Near 0.5 a probability is too
        # coarse for a bound on the logit: every call gets all signals.
        m = max(w.margin if self.margin is None else self.margin, 0.0)
        settles = m <= _MAX_SETTLING_MARGIN
        self._title = model.logit(THRESHOLD + m) + _SLACK if settles else math.inf
        self._sub = model.logit(THRESHOLD - m) - _SLACK if settles else -math.inf

    def _settled(self, x: list[float], group: int) -> bool | None:
        """The call on a candidate with the signals of STAGED[:group] in `x`, if those are
        enough: True (a title), False (not one), None (compute the next group)."""
        z = self.weights.logit(x)
        if z + self._low[group] > self._title:
            return True
        if z + self._high[group] < self._sub:
            return False
        return None

    def call(self, i: int, current: Draft, exact: bool,
             ) -> tuple[bool, float | None, list[float] | None]:
        """Whether candidate `i` opens a new article after `current`, with the model's
        probability and the signals when it was asked (the oracle's calls have no
        probability), or when `exact` or the call is close (a close call is never settled
        early). Not `exact`, a call is settled once the signals not computed yet could no
        longer change it."""
        us = self.us
        if not current.body or i + 1 >= len(us):
            return False, None, None
        prev = current.units[-1]
        if prev.kind == "prose" and prev.text.endswith(":"):
            return False, None, None
        if self.oracle is not None:
            x = signals.features(us, i, current, self.base, self.idf) if exact else None
            return us[i].line in self.oracle, None, x
        c = signals.Candidate(us, i, current, self.base, self.idf)
        for group in range(len(signals.STAGED)):
            settled = None if exact else self._settled(c.x, group)
            if settled is not None:
                return settled, None, None
            c.fill(group)
        p = self.weights.probability(c.x)
        return p > THRESHOLD, p, c.x


def _decision(u: Unit, p: float, verdict: bool) -> Decision:
    # A line closed by a period that is no title stays a sentence of its paragraph.
    kept = "paragraph" if u.period else "subheading"
    return Decision(u.line, u.text, p, "title" if verdict else kept)


@dataclass
class _Reading:
    """One way of reading the file so far: its articles (the last one still open, unless a
    date token closed it), and the log-likelihood the model gives its calls since it parted
    from the other readings (0 while it is the only one)."""

    logp: float
    drafts: list[Draft]
    current: Draft | None = None
    pending: date | None = None
    decisions: list[Decision] = field(default_factory=list)
    seen: list[tuple[Unit, list[float], bool]] = field(default_factory=list)

    def fork(self) -> _Reading:
        """A copy that goes on apart: its open article is a copy of this one's."""
        assert self.current is not None and self.drafts[-1] is self.current
        current = self.current.copy()
        return _Reading(self.logp, [*self.drafts[:-1], current], current, self.pending,
                        list(self.decisions), list(self.seen))

    def open(self, u: Unit) -> None:
        self.current = Draft(title=u.text, line=u.line, token_date=self.pending,
                             title_stems=u.stems)
        self.drafts.append(self.current)
        self.pending = None

    def add(self, u: Unit) -> None:
        if self.current is None:
            self.current = Draft(title=_derive_title(u.raw or u.text), line=u.line,
                                 derived=True, token_date=self.pending)
            self.drafts.append(self.current)
            self.pending = None
        self.current.add(u)

    def keep(self, u: Unit) -> None:
        """Heading `u` is no title: a subheading of the open article, or a sentence of it
        when closed by a period (a copy: another reading may take it for a title)."""
        self.add(replace(u, kind="prose") if u.period else u)

    def settle(self, into: _Reading) -> None:
        """Move what no other reading can change any more (the closed articles, the calls
        made) into `into`: a fork then copies only what came since, not the whole file."""
        n = len(self.drafts) - (self.current is not None)
        into.drafts.extend(self.drafts[:n])
        del self.drafts[:n]
        into.decisions.extend(self.decisions)
        self.decisions.clear()
        into.seen.extend(self.seen)
        self.seen.clear()


# Readings kept at once. A close call (within the model's margin) is read both ways, and the
# calls after it decide: the reading the model finds more likely as a whole wins. A title
# missed or made up by one call changes the article the calls after it see, so they are
# confident and wrong; read both ways, the wrong reading runs into calls it finds unlikely.
# Two readings that open the same article have the same future, so the less likely one goes
# (in practice the readings part for an article or two; a date token closes every reading's
# article, so they become one). Leave-one-file-out over 85 annotated dumps, a second reading
# took boundary F1 from 0.915 to 0.925 and subheadings from 0.802 to 0.830 (with the
# quotation signal, from 0.925 / 0.837 to 0.928 / 0.842); three, four or eight gave what
# two give (benchmarks/README.md).
BEAM = 2


def split(us: list[Unit], *, decisions: list[Decision] | None = None,
          oracle: set[int] | None = None, observe: Observer | None = None,
          weights: model.Model | None = None, beam: int = BEAM,
          review: float | None = None) -> list[Draft]:
    """Group units into article drafts, deciding for each heading: title or subheading.

    Decisions within `review` of the threshold (default: the model's margin) go into
    `decisions`, and every call of the reading kept, with its signals, to `observe`.
    `weights` replaces the fitted model (cross-validation fits one per held-out file).
    `review` only changes what is listed: a call is read both ways within the model's own
    margin, whatever is listed.
    """
    idf = segment.idf_weights(u.stems for u in us)
    weights = weights or model.load()
    margin = weights.margin
    review = margin if review is None else review
    # A call is worked out in full only where it may fork or be listed.
    judge = _Judge(us, idf, signals.baseline(us, idf), weights, oracle,
                   max(margin, review) if decisions is not None else margin)
    settled = _Reading(0.0, [])  # the part of the file every reading shares
    readings = [_Reading(0.0, [])]
    for i, u in enumerate(us):
        if u.starts:
            # A date token closes every reading's article: they have the same future now.
            readings = _kept(readings, 1)
            readings[0].pending, readings[0].current = u.date_token, None
            if not u.text:
                continue
        if u.kind != "heading":
            for r in readings:
                r.add(u)
            continue
        # Readings are told apart by every call they make, so each is made in full.
        several = len(readings) > 1
        if not several:
            readings[0].settle(settled)
        exact = observe is not None or several
        after: list[_Reading] = []
        for r in readings:
            if r.current is None or u.forced or u.shape == "asked":
                if r.current is None or u.forced == "title":
                    r.open(u)
                else:
                    r.keep(u)
                after.append(r)
                continue
            verdict, p, x = judge.call(i, r.current, exact)
            if x is not None and observe is not None:
                r.seen.append((u, x, verdict))
            listed = False
            if p is not None and decisions is not None and abs(p - THRESHOLD) < review:
                listed = True
                r.decisions.append(_decision(u, p, verdict))
            if p is None or not abs(p - THRESHOLD) < margin:
                if p is not None and several:
                    r.logp += _log(p if verdict else 1.0 - p)
                r.open(u) if verdict else r.keep(u)
                after.append(r)
                continue
            # A close call: read both ways.
            both = [(r, verdict)]
            if beam > 1:
                other = r.fork()
                if x is not None and observe is not None:
                    other.seen[-1] = (u, x, not verdict)
                if listed:
                    other.decisions[-1] = _decision(u, p, not verdict)
                both.append((other, not verdict))
            for one, take in both:
                one.logp += _log(p if take else 1.0 - p)
                one.open(u) if take else one.keep(u)
                after.append(one)
        readings = _kept(after, beam)
    best = readings[0]
    best.current = None
    best.settle(settled)
    if decisions is not None:
        decisions.extend(settled.decisions)
    if observe is not None:
        for u, x, verdict in settled.seen:
            observe(u, x, verdict)
    return [d for d in settled.drafts if d.units or not d.derived]


def _log(q: float) -> float:
    # A margin past 0.5 makes a certain call close too: its other reading is impossible.
    return math.log(q) if q > 0.0 else -math.inf


def _kept(readings: list[_Reading], beam: int) -> list[_Reading]:
    """The `beam` most likely readings, one of those that have the same article open. On a
    tie the earlier reading stays: the one that took the model's own verdict."""
    if len(readings) == 1:
        readings[0].logp = 0.0  # only differences count
        return readings
    best: dict[int | None, _Reading] = {}
    for r in readings:
        key = None if r.current is None else r.current.line
        if key not in best or r.logp > best[key].logp:
            best[key] = r
    kept = sorted(best.values(), key=lambda r: -r.logp)[:beam]
    if len(kept) == 1:
        kept[0].logp = 0.0  # only differences count
    return kept


def parse(text: str, origin: str, derived: set[str] | None = None,
          decisions: list[Decision] | None = None,
          review: float | None = None) -> list[ParsedArticle]:
    """Articles of one dump, in file order (repeats included: saving makes them one).

    The origins of articles whose title was taken from their first sentence go into
    `derived`, and the model's close calls (within `review` of the threshold, default the
    model's margin) into `decisions`, for the import report.
    """
    us = units(text)
    if not us:
        raise InputError(f"{origin}: empty file", "check the export")
    stem(us, detect.bmp_only(text))
    out: list[ParsedArticle] = []
    for d in split(us, decisions=decisions, review=review):
        blocks = _blocks(d.units)
        if not blocks:
            continue
        lead = lead_of(blocks)
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
    """Blocks of a body given on its own (JSON Lines): every heading-shaped line is a heading;
    a short line closed by a period is a sentence there (no title can hide in a body)."""
    us = units(text)
    for u in us:
        if u.period:
            u.kind = "prose"
    return _blocks(us)
