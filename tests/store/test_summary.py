"""Summaries derived from the lead paragraph."""

from __future__ import annotations

from publisher.store.articles import Block, derive_summary

LEAD = (
    "A meeting was held in the city of Akkol between the Minister of Science and Higher "
    "Education of the Republic of Kazakhstan and the Ambassador of India, Dr. Ramesh Kumar, "
    "together with Professor S.K. Abdrakhmanov. The delegation then visited the data centre "
    "and the space communication centre, where the parties discussed a supercomputer."
)


def test_summary_is_not_cut_after_a_title_or_an_initial() -> None:
    """'Dr.' and 'S.K.' do not end the summary; the first real sentence end does."""
    summary = derive_summary([Block("paragraph", LEAD)], limit=240)
    assert summary.endswith("Abdrakhmanov.")
    assert "Dr. Ramesh Kumar" in summary


def test_summary_without_a_sentence_end_is_cut_at_a_word() -> None:
    """A long lead with no sentence end is cut at a word boundary and marked with an ellipsis."""
    summary = derive_summary([Block("paragraph", "слово " * 100)], limit=50)
    assert summary.endswith("слово…")
    assert len(summary) <= 51


def test_russian_abbreviation_does_not_end_the_summary() -> None:
    """'им.' and 'г.' inside a Russian lead do not end the summary."""
    lead = (
        "В Казахском национальном медицинском университете им. С.Д. Асфендиярова 14 марта 2025 г. "
        "прошла конференция по неврологии. Участники обсудили новые методы лечения и реабилитации "
        "пациентов после инсульта, а также вопросы подготовки кадров."
    )
    summary = derive_summary([Block("paragraph", lead)], limit=150)
    assert summary.endswith("по неврологии.")
