"""A dump's lines as units: prose paragraphs, item runs, and heading candidates.

A candidate is anything that might be a title or a subheading: a one-line paragraph shaped
like a heading, a short line ending in one period ("Университет келісімге қол қойды."), the
first line of a paragraph when the body follows with no blank line, a lone numbered line
followed by prose ("2. Этапы программы"), and an interviewer's question on a dash line
("— Как начинался проект?"), which is always a subheading. `dumps` decides which candidates
start articles. An admin's markers decide for it: `# ` always opens an article, `## ` is
always a subheading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from publisher.ingest import detect, segment

_BULLET = re.compile(r"^\s*[•●▪◦·‣∙○■□►➢➤✓✔\u2043]\s*(?P<t>\S.*)$")
_DASH = re.compile(r"^\s*[-–—*]\s+(?P<t>\S.*)$")
_NUMBER = re.compile(r"^\s*(?:\d{1,2}|[IVX]{1,4})[.)]\s+(?P<t>\S.*)$")
_MARKER = re.compile(r"^(?P<m>#{1,2}) +(?P<t>\S.*)$")
_ITEM_PATTERNS = (("bullet", _BULLET), ("number", _NUMBER), ("dash", _DASH))
# First characters those patterns and the markers can start with (digits: str.isdigit).
_ITEM_HEADS = frozenset("#•●▪◦·‣∙○■□►➢➤✓✔\u2043-–—*IVX")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# A heading ends without sentence punctuation ('?' and '!' are allowed: "What is an Adjuvant?").
_SENTENCE_END = frozenset(".,;:…")
CLOSERS = "\"'»”’)]"
_LETTER = re.compile(r"[^\W\d_]")
_SECOND_SENTENCE = re.compile(r"[.!?…]\s+[^\W\d_]{3}")

MAX_HEADING_CHARS = 220
MAX_HEADING_WORDS = 32
# A title that ends with a period is a short clause; a longer line with one is a sentence.
MAX_PERIOD_WORDS = 14
# A paragraph's first line is a title of its own only when a real body follows it.
MIN_ATTACHED_BODY = 80
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
    # heading: "" | attached (its body on the next line) | numbered | asked ("— Вопрос?")
    shape: str = ""
    period: bool = False  # heading: closed by a period; a sentence unless it is a title
    forced: str = ""  # heading: "title" | "sub" from a `# ` / `## ` marker
    _stems: list[str] | None = field(default=None, repr=False)
    _lang: str = field(default="", repr=False)

    @property
    def stems(self) -> list[str]:
        return self._stems if self._stems is not None else self.stem()

    def stem(self, bmp: bool = False) -> list[str]:
        """The stems of the unit's opening, made once; `bmp`: the caller has checked that its
        text has no character above U+FFFF."""
        if self._stems is None:
            self._stems = segment.stems(self.text[:_UNIT_SAMPLE], bmp)
        return self._stems

    @property
    def lang(self) -> str:
        """The language of the unit's opening (kk, ru or en), detected once."""
        if not self._lang:
            self._lang = detect.language(self.text[:300])
        return self._lang


def stem(us: list[Unit], bmp: bool) -> None:
    """Every unit's stems, made now (the segmenter reads them all): `bmp`, the file has no
    character above U+FFFF, checked once for it instead of once for each unit."""
    for u in us:
        u.stem(bmp)


def norm(line: str) -> str:
    # Every character _SPACES matches but the plain space is unprintable to str.isprintable:
    # most lines have none of them and no double space, and need only the strip.
    if line.isprintable() and "  " not in line:
        return line.strip()
    return _SPACES.sub(" ", line).strip()


def heading_shaped(text: str) -> bool:
    """One short line that does not end like a sentence."""
    if not text or len(text) > MAX_HEADING_CHARS or not _LETTER.search(text):
        return False
    if len(text.split()) > MAX_HEADING_WORDS:
        return False
    core = text.rstrip(CLOSERS).rstrip()
    if not core or core[-1] in _SENTENCE_END:
        return False
    first = next((c for c in text if c.isalnum()), "")
    return not first.isalpha() or first.isupper()


def _period_title_shaped(text: str) -> bool:
    """A short line that is one clause closed by a single period."""
    core = text.rstrip(CLOSERS).rstrip()
    # Split no further than the limit: most lines asked about are paragraphs of prose.
    if (not core.endswith(".") or core.endswith("..")
            or len(text.split(None, MAX_PERIOD_WORDS)) > MAX_PERIOD_WORDS):
        return False
    inner = core[:-1]
    # "Dr. Smith" or "т.б." inside is fine; a second sentence is not.
    if _SECOND_SENTENCE.search(inner) or inner.endswith((" т", " г", " см")):
        return False
    return heading_shaped(inner)


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


def _may_list(line: str) -> bool:
    """Whether the line's first character could open a marker, a bullet, a number or a dash:
    only such lines go through those patterns (\\s and str.lstrip agree on what a space is)."""
    head = line.lstrip()[:1]
    return head in _ITEM_HEADS or head.isdigit()


def _units_of(start: int, lines: list[str]) -> list[Unit]:
    """Split one paragraph into prose runs and item runs (lead-in + bullets share a paragraph)."""
    out: list[Unit] = []
    token: date | None = None
    found = detect.date_token(lines[0])
    if found is not None:
        token, rest = found
        if rest.strip():
            lines = [rest, *lines[1:]]
        else:
            lines, start = lines[1:], start + 1  # the text begins on the next line
        if not lines:
            return [Unit("prose", "", start - 1, date_token=token, starts=True)]
    elif len(lines) == 1 and not _may_list(lines[0]):
        # Most paragraphs: one line of prose, what the loop below makes of it, made directly.
        return [Unit("prose", norm(lines[0]), start)]
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
        listed = _may_list(raw)
        marked = _MARKER.match(raw) if listed else None
        if marked:
            flush_items()
            flush_prose()
            out.append(Unit("heading", norm(marked.group("t")), n,
                            forced="title" if marked.group("m") == "#" else "sub"))
            continue
        for name, pattern in _ITEM_PATTERNS if listed else ():
            m = pattern.match(raw)
            if m:
                kind, body = name, norm(m.group("t"))
                break
        if kind:
            flush_prose()
            if marker and kind != marker:
                flush_items()
            if not items:
                item_line = n
            marker = kind
            items.append(body)
            raws.append(norm(raw))
        elif items and raw[:1].isspace():
            items[-1] = f"{items[-1]} {norm(raw)}"  # a wrapped item
            raws.append(norm(raw))
        else:
            flush_items()
            if not prose:
                prose_line = n
            prose.append(norm(raw))
    flush_items()
    flush_prose()
    out = [u for u in out if u.text]
    if token is not None:
        if out:
            out[0].date_token, out[0].starts = token, True
        else:
            out = [Unit("prose", "", start, date_token=token, starts=True)]
    return out


def _attached(lines: list[str], parts: list[Unit]) -> bool:
    """A heading line with its body on the very next line: "Title\\nThe body begins ..."."""
    return (
        len(lines) >= 2 and len(parts) == 1 and parts[0].kind == "prose" and not parts[0].starts
        and not parts[0].forced
        and (heading_shaped(norm(lines[0])) or _period_title_shaped(norm(lines[0])))
        and not detect.date_token(lines[0])
        and sum(len(x) for x in lines[1:]) >= MIN_ATTACHED_BODY
        and not norm(lines[1])[:1].islower()
    )


def units(text: str) -> list[Unit]:
    out: list[Unit] = []
    for start, lines in _paragraphs(text):
        parts = _units_of(start, lines)
        single = (len(parts) == 1 and len(lines) == 1) or (
            len(parts) == 1 and parts[0].starts and "\n" not in parts[0].text
            and len(lines) <= 2 and parts[0].kind == "prose"
        )
        if _attached(lines, parts):
            head = norm(lines[0])
            body = " ".join(norm(x) for x in lines[1:])
            out.append(Unit("heading", head, start, shape="attached",
                            period=not heading_shaped(head)))
            out.append(Unit("prose", body, start + 1))
            continue
        for u in parts:
            if u.kind == "prose" and single and not u.forced:
                if heading_shaped(u.text):
                    u.kind = "heading"
                elif _period_title_shaped(u.text):
                    u.kind, u.period = "heading", True
            elif (u.kind == "items" and u.marker == "dash" and len(lines) == 1
                  and u.text.rstrip(CLOSERS).endswith("?") and heading_shaped(u.text)):
                # "— Как начинался проект?": an interviewer's question, the answer follows.
                u.kind, u.shape, u.text, u._stems = "heading", "asked", u.raw, None
            elif (u.kind == "items" and u.marker == "number" and len(lines) == 1
                  and heading_shaped(u.text) and len(u.text.split()) <= 10):
                u.kind, u.shape, u.text, u._stems = "heading", "numbered", u.raw, None
        out.extend(parts)
    # A lone numbered line is a section heading only when prose follows it; in a run of them
    # ("1. ...", blank, "2. ...") each is an item of one list.
    for i, u in enumerate(out):
        if u.shape == "numbered" and not (
            i + 1 < len(out) and (out[i + 1].kind == "prose" or out[i + 1].period)
        ):
            u.kind, u.shape, u.text = "items", "", _NUMBER.sub(r"\g<t>", u.raw)
            u._stems = None
    return out
