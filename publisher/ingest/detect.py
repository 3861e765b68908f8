"""Language and publication-date detection for imported articles (kk / ru / en)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from itertools import islice

KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())



# Frequent function words: a Kazakh text written without its special letters (old keyboards,
# transliterated sources) still shows these, and Russian never does.
_KK_WORDS = words(
    "және мен бен пен үшін бойынша туралы жылы жылғы болып бұл осы деп да де та те "
    "екенін болды барлық арасында сондай ақ оның олар біз жаңа келеді атындағы "
    # the same words typed without Kazakh letters
    "жане ушин жылгы бул онын барлык арасында"
)
_RU_WORDS = words(
    "и в на с по для что это не как из от к за о об при также был была были года "
    "который которые его их он она они во со"
)


@cache
def _bmp_letters() -> str:
    """`[^\\W\\d_]` (a letter: a word character but a digit or "_") spelled out as ranges over
    the Basic Multilingual Plane, from the regex module itself, so the two always agree."""
    letter = re.compile(r"[^\W\d_]")
    ranges: list[tuple[int, int]] = []
    for c in range(0x10000):
        if letter.match(chr(c)):
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1] = (ranges[-1][0], c)
            else:
                ranges.append((c, c))
    return "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "")
                   for a, b in ranges)


# Lead bytes of UTF-8 sequences above U+FFFF; every other byte is deleted to look for them.
_BELOW_ASTRAL = bytes(range(0xF0))


def bmp_only(text: str) -> bool:
    """Whether `text` has no character above U+FFFF (nearly all text)."""
    return text.isascii() or not text.encode("utf-8", "surrogatepass").translate(
        None, _BELOW_ASTRAL)


class LetterRuns:
    """`re.compile(f"[^\\W\\d_]{quantifier}").findall`, 2-3x faster on text without
    characters above U+FFFF (nearly all text): a class of explicit ranges is a table lookup
    per character where a negated class of categories is three tests."""

    def __init__(self, quantifier: str) -> None:
        self._quantifier = quantifier
        self._slow = re.compile(rf"[^\W\d_]{quantifier}").findall
        self._fast: Callable[[str], list[str]] | None = None

    def __call__(self, text: str, bmp: bool = False) -> list[str]:
        """The runs of `text`; `bmp`: the caller has checked that it has no character above
        U+FFFF (once for a whole file instead of once for each of its paragraphs)."""
        if bmp or bmp_only(text):
            if self._fast is None:  # built on first use: 70 ms a command may not need
                self._fast = re.compile(f"[{_bmp_letters()}]{self._quantifier}").findall
            return self._fast(text)
        return self._slow(text)


_words = LetterRuns("+")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN = re.compile("[A-Za-z]")
_KAZAKH = re.compile("[" + "".join(sorted(KAZAKH_LETTERS)) + "]")


# Letter counts in C: in UTF-8 every letter of the Cyrillic block U+0400-U+04FF, and only
# those, starts with one of these bytes (continuation bytes are 0x80-0xBF).
_CYRILLIC_LEADS = (0xD0, 0xD1, 0xD2, 0xD3)
_NOT_CYRILLIC_LEAD = bytes(b for b in range(256) if b not in _CYRILLIC_LEADS)
_NOT_LATIN = bytes(b for b in range(256) if not (65 <= b <= 90 or 97 <= b <= 122))


def _cyrillic_latin(raw: bytes) -> tuple[int, int]:
    """The counts of _CYRILLIC and _LATIN matches in a text, from its UTF-8 bytes: one
    deleting pass in C each."""
    return len(raw.translate(None, _NOT_CYRILLIC_LEAD)), len(raw.translate(None, _NOT_LATIN))


def _letter_counts(sample: str) -> tuple[int, int, int]:
    """(Cyrillic, Latin, Kazakh-only) letters of `sample`: the counts of _CYRILLIC, _LATIN
    and _KAZAKH matches."""
    cyr, lat = _cyrillic_latin(sample.encode("utf-8", "surrogatepass"))
    # One scan with a character class: Russian text, which has none, costs the least.
    kk = len(_KAZAKH.findall(sample)) if cyr else 0
    return cyr, lat, kk


def language(text: str, default: str = "en") -> str:
    """kk, ru or en from letters and function words; `default` when the text has no letters."""
    sample = text[:20000]
    raw = sample.encode("utf-8", "surrogatepass")
    cyr, lat = _cyrillic_latin(raw)
    if cyr == 0 and lat == 0:
        return default
    if lat > cyr:
        return "en"
    # Russian has none of these letters; one in ~200 Cyrillic letters is already rare noise.
    # They are counted only as far as that answer needs: a Kazakh text has that many in its
    # first words, and below it the count is exact.
    need = max(2, -(-cyr // 200))
    kk_letters = sum(1 for _ in islice(_KAZAKH.finditer(sample), need))
    if kk_letters >= need:
        return "kk"
    # One casefold of the sample, not one per word: the same words, at half the cost.
    words = _words(sample.casefold(), not raw.translate(None, _BELOW_ASTRAL))
    kk = sum(map(_KK_WORDS.__contains__, words))
    ru = sum(map(_RU_WORDS.__contains__, words))
    if kk_letters and kk >= ru:
        return "kk"
    return "kk" if kk > 2 * ru and kk >= 3 else "ru"


_EN_WORDS = words(
    "the and of to in for with on at by from is are was were be has have that this as an a "
    "its their it which who"
)
# Share of Cyrillic letters that are Kazakh-only before a text counts as plainly Kazakh: about
# one in eight in Kazakh prose; a Russian text has them only in names (a few in a thousand).
_KK_SHARE = 40


def clear_language(text: str, min_letters: int = 40) -> str | None:
    """kk, ru or en when `text` has at least `min_letters` letters and its letters and
    function words agree; None when it is too short or mixed to tell (a title, a list of
    names, Russian prose with Kazakh names). For checks that reject input on a mismatch,
    where `language` (which must always answer) would be too quick."""
    sample = text[:20000]
    cyr, lat, kk_letters = _letter_counts(sample)
    if cyr + lat < min_letters:
        return None
    found = _words(sample.casefold())
    if lat >= 2 * cyr:
        return "en" if sum(w in _EN_WORDS for w in found) >= 2 else None
    if cyr < 2 * lat:
        return None
    kk = sum(w in _KK_WORDS for w in found)
    ru = sum(w in _RU_WORDS for w in found)
    if kk_letters * _KK_SHARE >= cyr and kk >= ru:
        return "kk"
    if kk_letters == 0 and kk > 2 * ru and kk >= 3:
        return "kk"  # typed without Kazakh letters, as language() also accepts
    if kk_letters * 200 < cyr and ru > kk:
        return "ru"
    if kk_letters == 0 and kk == 0 and cyr >= 2 * min_letters:
        return "ru"  # twice the letters without one sign of Kazakh: short Russian sentences
    return None


_EN_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")]
    )
    for m in names
}  # fmt: skip
# Stems: Russian genitive/nominative ("марта", "март"), Kazakh with case endings
# ("наурызда", "наурыздың", "қаңтардан").
_RU_MONTHS = {
    "январ": 1, "феврал": 2, "март": 3, "апрел": 4, "ма": 5, "июн": 6, "июл": 7,
    "август": 8, "сентябр": 9, "октябр": 10, "ноябр": 11, "декабр": 12,
}  # fmt: skip
_KK_MONTHS = {
    "қаңтар": 1, "ақпан": 2, "наурыз": 3, "сәуір": 4, "мамыр": 5, "маусым": 6, "шілде": 7,
    "тамыз": 8, "қыркүйек": 9, "қазан": 10, "қараша": 11, "желтоқсан": 12,
}  # fmt: skip

_EN_MONTH_RE = "|".join(sorted(_EN_MONTHS, key=len, reverse=True))
_RU_MONTH_RE = (
    r"январ[ья]|феврал[ья]|марта?|апрел[ья]|ма[йя]|июн[ья]|июл[ья]|августа?|"
    r"сентябр[ья]|октябр[ья]|ноябр[ья]|декабр[ья]"
)
_KK_MONTH_RE = "|".join(_KK_MONTHS)
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>(?:19|20)\d\d)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # April 7, 2025 / April 7th 2025
    ("en", re.compile(rf"\b(?P<m>{_EN_MONTH_RE})\.?\s+{_DAY},?\s+{_YEAR}\b", re.I)),
    # 7 April 2025 / the 30th of August, 2024
    ("en", re.compile(rf"\b{_DAY}\s+(?:of\s+)?(?P<m>{_EN_MONTH_RE})\.?,?\s+{_YEAR}\b", re.I)),
    # 14 марта 2025 года / 14 марта 2025 г.
    ("ru", re.compile(rf"\b{_DAY}\s+(?P<m>{_RU_MONTH_RE})\s+{_YEAR}\b", re.I)),
    # 2025 жылғы 14 наурызда / 2025 жылы 14 наурыз
    ("kk", re.compile(rf"\b{_YEAR}\s+жыл(?:ғы|ы)?\s+{_DAY}\s+(?P<m>{_KK_MONTH_RE})\w*", re.I)),
    # 14 наурыз 2025 жыл
    ("kk", re.compile(rf"\b{_DAY}\s+(?P<m>{_KK_MONTH_RE})\w*\s+{_YEAR}\b", re.I)),
    # 14.03.2025
    ("num", re.compile(r"\b(?P<d>[0-3]?\d)\.(?P<m>[01]?\d)\.(?P<y>(?:19|20)\d\d)\b")),
    # 2025-03-14
    ("iso", re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<m>[01]\d)-(?P<d>[0-3]\d)\b")),
]


def _month(kind: str, name: str) -> int | None:
    name = name.casefold().rstrip(".")
    if kind in ("num", "iso"):
        return int(name)
    if kind == "en":
        return _EN_MONTHS.get(name)
    if kind == "ru":
        for stem, n in sorted(_RU_MONTHS.items(), key=lambda kv: -len(kv[0])):
            if name.startswith(stem):
                return n
        return None
    for stem, n in _KK_MONTHS.items():
        if name.startswith(stem):
            return n
    return None


# "(No. 03324, dated January 23, 2025)", "приказ № 12 от 14 марта 2025 года",
# "2025 жылғы 14 наурыздағы № 12 бұйрық": the date of a document, not of the event.
_DOCUMENT_BEFORE = re.compile(r"(?:\bdated|\bот|№\s*[\w/-]+,?|\bNo\.\s*[\w/-]+,?)\s*$", re.I)
_DOCUMENT_AFTER = re.compile(r"^(?:ғы|гі|дағы|дегі|тағы|тегі)?\s*(?:№|No\.)", re.I)


def _is_document_date(text: str, m: re.Match[str]) -> bool:
    before = text[max(0, m.start() - 30):m.start()]
    return bool(_DOCUMENT_BEFORE.search(before) or _DOCUMENT_AFTER.match(text[m.end():m.end() + 12])
                or re.match(r"\s*(?:года?|г\.)?\s*№", text[m.end():m.end() + 12]))


# Every full-date pattern has a year in it: most paragraphs have none and need no more look.
_ANY_YEAR = re.compile(r"(?:19|20)\d\d")


@lru_cache(maxsize=4096)  # segmentation asks about the same paragraphs several times
def find_date(text: str) -> date | None:
    """The first full date (day, month and year) stated in `text`, in en, ru or kk.

    Dates of documents ("dated ...", "от ...", "№ ...") are skipped: they are not the event's.
    """
    if not _ANY_YEAR.search(text):
        return None
    best: tuple[int, date] | None = None
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if _is_document_date(text, m):
                continue
            month = _month(kind, m.group("m"))
            if month is None:
                continue
            try:
                found = date(int(m.group("y")), month, int(m.group("d")))
            except ValueError:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), found)
            break
    return best[1] if best else None


@dataclass(frozen=True)
class DayMonth:
    """A day and month stated without a year ("On August 30", "30 августа", "30 тамызда")."""

    day: int
    month: int
    text: str  # as written, for the import report


_DIGIT = re.compile(r"\d")
_NO_YEAR_AFTER = r"(?!\.?,?\s+(?:19|20)\d\d)"
# Case-sensitive: English capitalises month names, and "may 5" or "march 8 km" in running
# text are not dates.
_EN_MONTH_CAP = "|".join(sorted((m.capitalize() for m in _EN_MONTHS), key=len, reverse=True))
_DAY_MONTH: list[tuple[str, re.Pattern[str]]] = [
    # August 30 / Aug. 30th
    ("en", re.compile(rf"\b(?P<m>{_EN_MONTH_CAP})\.?\s+{_DAY}\b{_NO_YEAR_AFTER}")),
    # 30 August / the 30th of August
    ("en", re.compile(rf"\b{_DAY}\s+(?:of\s+)?(?P<m>{_EN_MONTH_CAP})\b{_NO_YEAR_AFTER}")),
    # 30 августа
    ("ru", re.compile(rf"\b{_DAY}\s+(?P<m>{_RU_MONTH_RE})\b{_NO_YEAR_AFTER}", re.I)),
    # 30 тамызда / 30 тамыз
    ("kk", re.compile(rf"\b{_DAY}\s+(?P<m>(?:{_KK_MONTH_RE})\w*){_NO_YEAR_AFTER}", re.I)),
]


def find_day_month(text: str) -> DayMonth | None:
    """The first day and month stated without a year in `text` (en, ru or kk); documents'
    dates are skipped as in find_date. Only call it when find_date found nothing."""
    if not _DIGIT.search(text):
        return None  # every pattern has a day in digits
    best: tuple[int, DayMonth] | None = None
    for kind, pattern in _DAY_MONTH:
        for m in pattern.finditer(text):
            if _is_document_date(text, m):
                continue
            month = _month(kind, m.group("m"))
            day = int(m.group("d"))
            # Any year will do to check the day exists; 2024 is a leap year (29 February).
            try:
                date(2024, month or 0, day)
            except ValueError:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), DayMonth(day, month or 0, m.group(0).strip()))
            break
    return best[1] if best else None


def at_noon(day: date) -> datetime:
    """A stated day without a time: 12:00 UTC is the same calendar day from UTC-11 to UTC+11."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


_DATE_TOKEN = re.compile(r"^[ \t]*date[ \t]+(\d{4})-(\d{2})-(\d{2})(?:[ \t]+|$)", re.I)


def date_token(line: str) -> tuple[date, str] | None:
    """A leading ` date YYYY-MM-DD ` token: the day and the rest of the line."""
    m = _DATE_TOKEN.match(line)
    if not m:
        return None
    try:
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return day, line[m.end():]


_EVENT_START = re.compile(
    r"^(?:(?i:on\s+(?:the\s+)?\d|on\s+(?:" + _EN_MONTH_RE + r")\b)|(?:In|At)\s+(?:the\s+)?[A-Z]|"
    r"(?i:today|yesterday|this\s+week|recently|last\s+week)\b|"
    r"\d{1,2}\s+(?i:" + _RU_MONTH_RE + r")|(?:19|20)\d\d\s+жыл|"
    r"(?:В|Во)\s+[А-ЯЁ]|(?:Сегодня|Вчера|На\s+днях|Недавно)\b|"
    r"[А-ЯӘҒҚҢӨҰҮҺІЁ][а-яәғқңөұүһіё]+(?:да|де|та|те)\s|(?:Бүгін|Кеше|Жуырда|Таяуда)\b)"
)
_INSTITUTION = re.compile(
    r"\b(?:[A-Z][\w.-]*\s+){1,6}(?:University|Institute|Ministry|Hospital|Center|Centre|"
    r"Clinic|Academy|Foundation|College|Agency)\b|"
    r"(?:Университет|Институт|Министерств|Академи|Больниц|Центр|Клиник|Фонд|Колледж)\w*"
    r"(?:\s+[\w.-]+){0,6}|"
    r"\b(?:[\w.-]+\s+){1,6}(?:университет|институт|министрлі|академия|аурухана|орталы|"
    r"клиника|қоры|колледж)\w*"
)


@lru_cache(maxsize=4096)
def event_signal(paragraph: str) -> float:
    """How strongly a paragraph opens a new event: a date, a place or a full institution name.

    0 = none; up to 1.5 for a full date in the opening words.
    """
    head = paragraph[:400]
    score = 0.0
    first = first_sentence(head)
    found = find_date(first)
    if found is not None:
        score += 1.0 if find_date(head[:60]) else 0.6
    if _EVENT_START.match(head):
        score += 0.5
    named = _INSTITUTION.search(first[:250])
    # A full name carries a proper name ("Asfendiyarov", "Қазақ", "КазНМУ"); a bare
    # "the university's ..." / "университеттің ..." refers back to one already named.
    if named and sum(c.isupper() for c in first[named.start():named.end() + 30]) >= 2:
        score += 0.4
    return score


# Opening words that point back to something already introduced: the paragraph continues
# an article rather than starting one. A news lead never opens with a connective ("Moreover",
# "Наряду с", "Сонымен қатар") or a pronoun. Multi-word entries match as phrases only: "при",
# "тем" or Kazakh "ақ" ("white") alone open ordinary leads ("При поддержке ...", "Ақ халат ...").
_CONNECTIVES = (
    "alongside", "besides", "moreover", "furthermore", "additionally", "meanwhile", "however",
    "also", "further", "in addition", "as well", "at the same time", "in turn",
    "наряду", "кроме того", "помимо этого", "помимо того", "помимо", "также", "однако",
    "вместе с тем", "при этом", "в свою очередь", "кроме этого", "тем не менее", "более того",
    "сонымен қатар", "сонымен бірге", "сондай-ақ", "сондай ақ", "сондықтан", "алайда",
    "бұдан бөлек", "бұдан басқа", "оған қоса", "сонымен", "дегенмен", "әрі қарай",
    # closing and reporting frames: a paragraph that ends or attributes what was told
    "finally", "in conclusion", "in particular", "as a result", "according to him",
    "according to her", "according to them",
    "в завершение", "в заключение", "в итоге", "в частности", "по словам", "по его словам",
    "по её словам", "по ее словам", "по их словам", "по мнению", "напомним",
    "соңында", "қорытындысында", "қорытындылай келе", "нәтижесінде", "атап айтқанда",
    "оның айтуынша", "олардың айтуынша",
)
_ANAPHORA = words(
    "its it his her their they he she this these those such both another "
    "его её ее их он она они оно это этот эта эти этого этой данный данная данные "
    "оның олардың ол олар бұл осы осының бұның оған олардың"
)
_OPENING_WORD = re.compile(r"[\w-]+")


_CONNECTIVE_SET = frozenset(_CONNECTIVES)
_CONNECTIVE_HEADS = tuple(c + " " for c in _CONNECTIVES)


@lru_cache(maxsize=4096)
def points_back(paragraph: str, words: int = 5) -> bool:
    """Whether a paragraph opens by pointing back: a leading connective or pronoun
    ("Alongside its ...", "Наряду с ...", "Бұл ...") among its first `words` words."""
    opening = [w.casefold() for w in _OPENING_WORD.findall(paragraph[:160])[:words]]
    if not opening:
        return False
    head = " ".join(opening)
    return (head in _CONNECTIVE_SET or head.startswith(_CONNECTIVE_HEADS)
            or opening[0] in _ANAPHORA)


# A lead names who, where or when: a capitalised word inside the sentence, an acronym, a
# quoted name or a number. Subheadings are followed by text about what is already named.
_NAMED = re.compile(
    r"(?<=[\s(«“\"'])(?:[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w’'-]*)|[«“„\"]\w|\b\d"
)


def names_something(sentence: str) -> bool:
    """Whether a sentence names an entity, a quoted title or a number beyond its first word."""
    body = sentence.lstrip("\"'«“„(")
    first = _OPENING_WORD.match(body)
    rest = body[first.end():] if first else body
    return bool(_NAMED.search(rest))


_ABBREV = re.compile(
    r"(?:^|[\s(.])(?:\w|Dr|Prof|Mr|Mrs|Ms|St|Jr|No|Assoc|им|г|гг|т|ул|проф|акад|обл|т\.е)\.$",
    re.I,
)


@lru_cache(maxsize=4096)
def first_sentence(text: str) -> str:
    """Up to the first full stop that is not an initial or an abbreviation ("S.D.", "Dr.")."""
    for m in re.finditer(r"[.!?…][\"'»”’)]?\s+(?=[\"«“(]?[^\W\d_])", text):
        if _ABBREV.search(text[: m.start() + 1]):
            continue
        nxt = text[m.end():m.end() + 2].lstrip("\"«“(")[:1]
        if nxt.isalpha() and not nxt.isupper():
            continue
        return text[: m.end()].strip()
    return text.strip()
