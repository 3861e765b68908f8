"""The signals the importer's model weighs for one heading candidate, on real text."""

from __future__ import annotations

from publisher.ingest import segment, signals
from publisher.ingest.signals import Draft
from publisher.ingest.units import Unit, units

LEAD = ("В главном учебном корпусе начал работу центр психологической поддержки студентов. "
        "Консультации проводят психологи и психотерапевты университетской клиники.")
MORE = ("Записаться на приём можно через личный кабинет студента или по телефону, "
        "консультации бесплатные и анонимные.")
FACTS = ("Исследования показывают, что уровень тревожности у студентов медицинских вузов "
         "выше, чем у их сверстников из других специальностей.")


def _signal(text: str, line: int, name: str) -> float:
    """The signal `name` of the candidate on `line`, the units before it being its article."""
    us = units(text)
    idf = segment.idf_weights(u.stems for u in us)
    i = next(n for n, u in enumerate(us) if u.line == line)
    first: Unit = us[0]
    draft = Draft(title=first.text, line=first.line, title_stems=first.stems)
    for u in us[1:i]:
        draft.add(u)
    x = signals.features(us, i, draft, signals.baseline(us, idf), idf)
    return x[signals.NAMES.index(name)]


def test_section_prose_counts_the_paragraphs_before_the_next_heading() -> None:
    """A heading followed by three paragraphs and then a subheading has a section of 3 (of at
    most 6); one followed by a single paragraph and a heading has 1; a date token ends it."""
    text = (f"Приём иностранных студентов\n\n{FACTS}\n\n{MORE}\n\n"
            f"Открытие центра ментального здоровья\n\n{LEAD}\n\n{MORE}\n\n{FACTS}\n\n"
            f"Где получить консультацию\n\n{MORE}\n\n"
            f"Почему студентам нужна поддержка\n\n{FACTS}\n\n"
            f" date 2025-04-07 {LEAD}\n\n{MORE}\n")
    assert _signal(text, 7, "section_prose") == 3 / 6
    assert _signal(text, 15, "section_prose") == 1 / 6
    assert _signal(text, 19, "section_prose") == 1 / 6
