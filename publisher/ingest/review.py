"""What an import should tell the operator about one file's articles, after parsing.

Readers only parse; this pass sees the whole file, which a year left out of a date needs:
"On August 30" / "30 августа" / "30 тамызда" takes its year from the nearest article in the
same file whose date is stated in full (a dump is usually one period of news), else from
the import date. Each such date, each article without a stated date (it takes the time of
its first import) and each title made up from a first sentence is reported, because all
three are guesses the operator may want to correct in the source.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime

from publisher.ingest import detect
from publisher.store.parsed import ParsedArticle, lead_of

_SHOWN_TITLE = 60


@dataclass(frozen=True)
class _Reference:
    day: date
    where: str  # "the nearest dated article (line 12, 2025-03-14)", "the import date (...)"


def _line_no(art: ParsedArticle) -> str:
    _path, sep, line = art.origin.rpartition(":")
    return line if sep and line.isdigit() else ""


def _line(art: ParsedArticle) -> str:
    line = _line_no(art)
    return f"line {line}: " if line else ""


def _short(title: str) -> str:
    return title if len(title) <= _SHOWN_TITLE else title[: _SHOWN_TITLE - 1].rstrip() + "…"


def _closest(found: detect.DayMonth, ref: date) -> date | None:
    """The day-month in the year that puts it nearest `ref` ("30 December" read beside a
    2 January date is the December before)."""
    options = []
    for year in (ref.year - 1, ref.year, ref.year + 1):
        try:
            options.append(date(year, found.month, found.day))
        except ValueError:  # 29 February outside a leap year
            continue
    return min(options, key=lambda d: abs((d - ref).days), default=None)


def _reference(parsed: list[ParsedArticle], dated: list[int], i: int,
               now: datetime) -> _Reference:
    """The stated date nearest article `i` in file order (the earlier one on a tie), else
    the import date. `dated` lists the indexes of articles with a stated date, ascending."""
    k = bisect.bisect_left(dated, i)
    near = dated[max(0, k - 1):k + 1]
    if not near:
        return _Reference(now.date(), f"the import date ({now.date().isoformat()})")
    j = min(near, key=lambda j: (abs(j - i), j > i))
    found = parsed[j].date
    assert found is not None
    line = _line_no(parsed[j])
    shown = f"line {line}, {found.date().isoformat()}" if line else found.date().isoformat()
    return _Reference(found.date(), f"the nearest dated article ({shown})")


def _infer(parsed: list[ParsedArticle], dated: list[int], i: int, now: datetime
           ) -> tuple[detect.DayMonth, _Reference, date] | None:
    """(what the lead says, the reference, the day) for an article dated without a year."""
    found = detect.find_day_month(lead_of(parsed[i].blocks))
    if found is None:
        return None
    ref = _reference(parsed, dated, i, now)
    day = _closest(found, ref.day)
    return (found, ref, day) if day is not None else None


def review(parsed: list[ParsedArticle], derived: set[str], now: datetime) -> list[str]:
    """Date the articles whose lead gives a day and month without a year, and return one
    warning per guess, in file order. `derived` holds the origins of articles whose title
    was taken from their first sentence."""
    # Only dates the file states count as references: a guess never props up another guess.
    dated = [i for i, art in enumerate(parsed) if art.date is not None]
    stated = set(dated)
    warnings: list[str] = []
    for i, art in enumerate(parsed):
        where = _line(art)
        if art.origin in derived:
            cut = ", cut short" if art.title.endswith("…") else ""
            warnings.append(f"{where}no title line; the title is made from the first "
                            f"sentence{cut}: \"{art.title}\"")
        if i in stated:
            continue
        guess = _infer(parsed, dated, i, now)
        if guess is not None:
            found, ref, day = guess
            art.date = detect.at_noon(day)
            warnings.append(f"{where}\"{_short(art.title)}\": \"{found.text}\" gives no year; "
                            f"dated {day.isoformat()}, the year taken from {ref.where}")
        else:
            warnings.append(f"{where}\"{_short(art.title)}\": no date stated; "
                            "dated with the time it was first imported")
    return warnings
