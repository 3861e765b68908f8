"""The predicate signal: a heading that says something happened, in kk, ru and en."""

from __future__ import annotations

import pytest

from publisher.ingest.predicate import has_predicate

CLAUSES = [
    ("kk", "Мейірбикелерге арналған оқыту семинары өтті"),
    ("kk", "Университет клиникасында жаңа оңалту орталығы ашылды"),
    ("kk", "Университет қан орталығымен келісімге қол қойды"),
    ("kk", "Жазғы мектеп маусымда басталады"),
    ("kk", "Студенттер халықаралық жобаға қатысуда"),
    ("kk", "Жаңа зертхана ашылмақ"),
    ("ru", "Студенты стали призерами олимпиады"),
    ("ru", "В КазНМУ прошла международная конференция"),
    ("ru", "Открыт новый симуляционный центр"),
    ("ru", "Трансплантация лёгких проведена впервые"),
    ("en", "University Launches Biobank for Cardiovascular Research"),
    ("en", "Memorandum Signed with Seoul Clinic"),
    ("en", "Students won the national olympiad"),
    ("en", "The clinic is open on Saturdays"),
]
PHRASES = [
    ("kk", "Алдағы жоспарлар"),
    ("kk", "Қорытынды және алдағы жоспарлар"),
    ("kk", "Қорытынды"),
    ("kk", "Әдістің артықшылықтары"),
    ("kk", "Олимпиада кезеңдері"),
    ("kk", "Донорлық қан тапсыру акциясы"),
    ("ru", "Планы на будущее"),
    ("ru", "Программа визита"),
    ("ru", "Итоги"),
    ("ru", "Вакцинация студентов против гриппа"),
    ("en", "Next Steps"),
    ("en", "Key findings"),
    ("en", "Research Priorities"),
    ("en", "Results of the Study"),
    ("en", "Advanced Course in Cardiology"),
]


@pytest.mark.parametrize(("lang", "text"), CLAUSES)
def test_a_news_title_with_a_verb_has_a_predicate(lang: str, text: str) -> None:
    """Past, present-future and intention forms (kk), finite verbs and short participles (ru)
    and headline verbs (en) make a heading a clause."""
    assert has_predicate(text, lang)


@pytest.mark.parametrize(("lang", "text"), PHRASES)
def test_a_noun_phrase_heading_has_none(lang: str, text: str) -> None:
    """Section names, including nouns that end like Kazakh verbs ("қорытынды"), and English
    plural nouns and "-ed" adjectives are noun phrases."""
    assert not has_predicate(text, lang)


def test_no_words_is_no_predicate() -> None:
    """A heading of digits and signs is not a clause."""
    assert not has_predicate("2025 — 2026", "kk")
