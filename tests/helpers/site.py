"""Real kk/ru/en articles for the site and feed tests, saved with fixed times (goldens)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import rnc2rng
from lxml import etree

from publisher.store.articles import Block, ParsedArticle, TextInput, save
from publisher.store.engine import Store

IMPORTED = datetime(2025, 3, 10, 6, 30, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"

CENTRE_KK = "Университетте жаңа симуляциялық орталық ашылды"
CENTRE_RU = "В университете открылся новый симуляционный центр"
CENTRE_EN = "A new simulation centre opens at the university"
OLYMPIAD_RU = "Студенты КазНМУ победили на республиканской олимпиаде"
OLYMPIAD_KK = "ҚазҰМУ студенттері республикалық олимпиадада жеңіске жетті"
RECTOR_RU = "Ректор встретился с иностранными партнёрами"
PROGRAMME_KK = "Денсаулық сақтау саласындағы жаңа бағдарлама: өңірлердегі емханалар"


def _day(d: int) -> datetime:
    return datetime(2025, 3, d, 12, 0, tzinfo=UTC)


ARTICLES = [
    ParsedArticle(
        title=CENTRE_KK,
        lang="kk",
        date=_day(7),
        categories=["оқу"],
        blocks=[
            Block("paragraph", "Бүгін университетте дәрігерлерге арналған жаңа симуляциялық "
                  "орталық ашылды. Орталықта студенттер нақты науқаспен жұмыс істемес бұрын "
                  "дағдыларын жетілдіреді."),
            Block("heading", "Орталықтың мүмкіндіктері"),
            Block("list", "- жедел жәрдем манекендері\n- хирургиялық тренажерлар\n"
                  "- бейнебақылау жүйесі"),
            Block("paragraph", "Ректор орталықтың өңірдегі ең ірі орталық екенін атап өтті."),
        ],
        translations={
            "ru": TextInput(CENTRE_RU, [
                Block("paragraph", "Сегодня в университете открылся новый симуляционный центр "
                      "для врачей. Студенты отрабатывают навыки до работы с пациентами."),
                Block("heading", "Возможности центра"),
                Block("list", "- манекены скорой помощи\n- хирургические тренажёры"),
            ]),
            "en": TextInput(CENTRE_EN, [
                Block("paragraph", "A new simulation centre for doctors opened at the "
                      "university today."),
            ]),
        },
    ),
    ParsedArticle(
        title=OLYMPIAD_RU,
        lang="ru",
        date=_day(6),
        blocks=[Block("paragraph", "Команда университета заняла первое место на "
                      "республиканской олимпиаде по хирургии. Поздравляем победителей!")],
        translations={
            "kk": TextInput(OLYMPIAD_KK, [Block("paragraph", "Университет командасы хирургия "
                            "бойынша республикалық олимпиадада бірінші орын алды. "
                            "Жеңімпаздарды құттықтаймыз!")]),
        },
    ),
    ParsedArticle(
        title=HOSTILE,
        lang="en",
        date=_day(5),
        blocks=[Block("paragraph", "A title with <i>markup</i> & an ampersand must stay text; "
                      "see javascript:alert(1) which is not a link.")],
    ),
    ParsedArticle(
        title=RECTOR_RU,
        lang="ru",
        date=_day(4),
        blocks=[Block("paragraph", "Ректор университета провёл встречу с делегацией "
                      "зарубежных университетов-партнёров. Обсуждались программы обмена.")],
    ),
    ParsedArticle(
        title=PROGRAMME_KK,
        lang="kk",
        date=_day(3),
        blocks=[Block("paragraph", "Өңірлердегі емханаларға қолдау көрсететін жаңа "
                      "бағдарлама іске қосылды. Бағдарлама үш жылға есептелген.")],
    ),
]

# Newest first, as the index and the feeds list them.
ORDER = [CENTRE_KK, OLYMPIAD_RU, HOSTILE, RECTOR_RU, PROGRAMME_KK]


def populate(store: Store) -> None:
    with store.session() as s:
        for parsed in ARTICLES:
            save(s, parsed, now=IMPORTED)


# What a reader of each language sees, newest first: (title, real language of the text).
SHOWN = {
    "kk": [(CENTRE_KK, "kk"), (OLYMPIAD_KK, "kk"), (HOSTILE, "en"), (RECTOR_RU, "ru"),
           (PROGRAMME_KK, "kk")],
    "ru": [(CENTRE_RU, "ru"), (OLYMPIAD_RU, "ru"), (HOSTILE, "en"), (RECTOR_RU, "ru"),
           (PROGRAMME_KK, "kk")],
    "en": [(CENTRE_EN, "en"), (OLYMPIAD_RU, "ru"), (HOSTILE, "en"), (RECTOR_RU, "ru"),
           (PROGRAMME_KK, "kk")],
}


# RFC 4287, Appendix B: the normative schema, copied into the repository.
ATOM_RNC = Path(__file__).resolve().parents[1] / "fixtures" / "schemas" / "atom.rnc"


@lru_cache(maxsize=1)
def atom_schema() -> etree.RelaxNG:
    rng = rnc2rng.dumps(rnc2rng.load(str(ATOM_RNC)))
    # rnc2rng declares the empty "local" prefix, which XML 1.0 forbids; it is only used
    # through ns="" attributes, so the declaration can go.
    rng = rng.replace('xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(rng.encode("utf-8")))
