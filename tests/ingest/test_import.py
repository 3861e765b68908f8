"""End-to-end import of the sample dumps and of kk / ru / mixed dumps, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import SAMPLES, Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"

SAMPLE_TITLES = {
    # 000: ten articles
    "KazNMU Sets the Pace for a Healthy Nation: Celebrating World Health Day with Unity, "
    "Movement, and Purpose",
    "The Role of Adjuvants in Pain Syndrome Therapy",
    "Corneas from deceased Kazakh donor transplanted to two patients",
    "Topical issues of physical medicine and rehabilitation",
    "A new chapter in Kazakhstan’s medical history: KazNMU celebrates its first pediatricians’ "
    "graduation",
    "XXV Anniversary scientific and practical conference held at Asfendiyarov Kazakh National "
    "Medical University",
    "Almaty police, emergency services officers complete first aid courses at the Asfendiyarov "
    "KazNMU Simulation Center",
    "KAZNMU Pharmacy Team Developed a Plant-based drug",
    "Republican scientific and practical conference with international participation at "
    "Children’s City Clinical Hospital",
    "Layered corneal transplant starts at KazNMU University Clinic",
    # 001: ten articles, of which three are repeats
    "Neurorehabilitation Development",
    "Spinal Muscular Atrophy",
    "Kazakhstan-India: High-Tech Partnership",
    "Pharmaceutical Technology Synergy",
    "Complement-Mediated Diseases",
    "SMA Diagnosis and Monitoring",
    "KazNMU students clinch victory at GxP-Fest",
    # 003: no title line; derived from the first sentence
    "Welcoming the guests, the Head of State emphasized that hosting such a prestigious forum in…",
}

SUBHEADINGS = {
    "The Role of Adjuvants in Pain Syndrome Therapy": ["What is an Adjuvant?"],
    "Spinal Muscular Atrophy": [
        "Understanding Spinal Muscular Atrophy (SMA)", "Seminar Highlights", "Participant Feedback",
    ],
    "Pharmaceutical Technology Synergy": [
        "A Synergy of Theory and Practice", "Applied Research and Innovation",
    ],
}


def _articles(cli: Cli, *extra: str) -> list[dict[str, Any]]:
    result = cli("articles", "list", "--json", *extra)
    assert result.exit_code == 0, result.output
    docs: list[dict[str, Any]] = json.loads(result.output)
    return docs


def _by_title(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["title"]: d for d in docs}


def test_sample_dumps_import_as_eighteen_articles_with_their_titles(cli: Cli) -> None:
    """The three sample dumps become the 18 distinct articles, each under its own title."""
    result = cli("import", str(SAMPLES / "import"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["totals"]["new"] == 18
    assert report["totals"]["rejected"] == 0
    docs = _articles(cli)
    assert {d["title"] for d in docs} == SAMPLE_TITLES
    assert all(d["lang"] == "en" for d in docs)


def test_sample_subheadings_stay_inside_their_articles(cli: Cli) -> None:
    """Subheadings that look like titles are headings of the article they belong to."""
    cli("import", str(SAMPLES / "import"))
    docs = _by_title(_articles(cli))
    for title, headings in SUBHEADINGS.items():
        found = [b["text"] for b in docs[title]["blocks"] if b["kind"] == "heading"]
        assert found == headings, title
    assert sum(b["kind"] == "heading" for d in docs.values() for b in d["blocks"]) == 6


def test_sample_lead_in_and_bullets_form_one_list(cli: Cli) -> None:
    """A lead-in line ending in ':' stays a paragraph; its bullet lines become one list."""
    cli("import", str(SAMPLES / "import"))
    docs = _by_title(_articles(cli))
    blocks = docs["The Role of Adjuvants in Pain Syndrome Therapy"]["blocks"]
    lead = next(i for i, b in enumerate(blocks) if b["text"] == "Key questions discussed included:")
    assert blocks[lead]["kind"] == "paragraph"
    assert blocks[lead + 1] == {
        "kind": "list",
        "text": "What groups of drugs are considered adjuvants, and how do they work?\n"
        "When and for whom should adjuvant therapy be prescribed?\n"
        "Current scientific data and clinical guidelines on the use of adjuvants.",
    }
    numbered = blocks[blocks.index({"kind": "heading", "text": "What is an Adjuvant?"}) + 2]
    assert numbered == {
        "kind": "list",
        "text": "Serving as assistance or support: auxiliary.\n"
        "Enhancing the effectiveness of medical treatment.",
    }
    pharmacy = docs["KAZNMU Pharmacy Team Developed a Plant-based drug"]
    sentence = "The genus Ziziphora L. of the Lamiaceae family includes about 30 plant species."
    assert {"kind": "paragraph", "text": sentence} in pharmacy["blocks"]


def test_sample_dates_come_from_the_token_or_the_lead(cli: Cli) -> None:
    """Dates stated in full in the lead (or the date token) are kept; a day and month without
    a year take the year of the nearest dated article of the same file."""
    cli("import", str(SAMPLES / "import"))
    docs = _by_title(_articles(cli))
    dates = {t: d["date"] for t, d in docs.items()}
    assert dates[next(t for t in SAMPLE_TITLES if t.startswith("KazNMU Sets"))] == "2025-04-07"
    assert dates["Corneas from deceased Kazakh donor transplanted to two patients"] == "2025-01-22"
    assert dates["Topical issues of physical medicine and rehabilitation"] == "2024-08-30"
    assert dates["SMA Diagnosis and Monitoring"] == "2025-06-17"
    welcoming = next(t for t in SAMPLE_TITLES if t.startswith("Welcoming"))
    assert dates[welcoming] == "2025-06-28"
    assert not docs[welcoming]["blocks"][0]["text"].lstrip().startswith("date")
    # "On February 20" has no year and is not in the lead; "dated January 23, 2025" is a
    # document's date.
    assert dates["The Role of Adjuvants in Pain Syndrome Therapy"] is None
    # "June 12–13" in the lead, beside "SMA Diagnosis and Monitoring" (2025-06-17).
    assert dates["Spinal Muscular Atrophy"] == "2025-06-12"
    # "On August 30": the nearest full date in its file is 2025-06-17.
    assert dates["Neurorehabilitation Development"] == "2025-08-30"
    assert docs[welcoming]["published"].startswith("2025-06-28T12:00:00")


def test_second_import_reports_nothing_new(cli: Cli) -> None:
    """Importing the same dumps again changes nothing."""
    first = json.loads(cli("import", str(SAMPLES / "import"), "--json").output)
    again = json.loads(cli("import", str(SAMPLES / "import"), "--json").output)
    assert first["totals"]["new"] == 18
    assert again["totals"] == {**again["totals"], "new": 0, "updated": 0, "unchanged": 21}
    assert len(_articles(cli)) == 18


def test_dry_run_stores_nothing(cli: Cli) -> None:
    """--dry-run parses and reports but leaves the store empty."""
    result = cli("import", str(SAMPLES / "import"), "--dry-run", "--json")
    assert json.loads(result.output)["totals"]["new"] == 18
    assert _articles(cli) == []


def test_kazakh_dump(cli: Cli) -> None:
    """A Kazakh dump: four kk articles, subheadings inside, list kept, Kazakh dates read."""
    assert cli("import", str(FIXTURES / "kk_news.txt")).exit_code == 0
    docs = _by_title(_articles(cli, "--lang", "kk"))
    assert set(docs) == {
        "ҚазҰМУ студенттері халықаралық олимпиадада жүлделі орын алды",
        "Университет клиникасында жаңа оңалту орталығы ашылды",
        "Жас ғалымдар конференциясы өтті",
        "Донорлық қан тапсыру акциясы",
    }
    first = docs["ҚазҰМУ студенттері халықаралық олимпиадада жүлделі орын алды"]
    assert first["date"] == "2025-03-14"
    assert {"kind": "heading", "text": "Олимпиада кезеңдері"} in first["blocks"]
    assert {"kind": "list", "text": "теориялық тест;\nклиникалық жағдаяттарды шешу;\n"
            "симуляциялық орталықтағы практикалық дағдылар."} in first["blocks"]
    assert docs["Донорлық қан тапсыру акциясы"]["date"] == "2025-04-02"
    clinic = docs["Университет клиникасында жаңа оңалту орталығы ашылды"]
    assert {"kind": "heading", "text": "Жабдықтар мен мүмкіндіктер"} in clinic["blocks"]
    assert clinic["date"] is None


def test_russian_cp1251_crlf_dump(cli: Cli) -> None:
    """A Windows-1251 file with CRLF line ends imports as Russian without mojibake."""
    raw = (FIXTURES / "ru_news_cp1251.txt").read_bytes()
    assert b"\r\n" in raw
    raw.decode("cp1251")  # the fixture really is cp1251
    assert cli("import", str(FIXTURES / "ru_news_cp1251.txt")).exit_code == 0
    docs = _by_title(_articles(cli, "--lang", "ru"))
    assert set(docs) == {
        "В КазНМУ прошла международная конференция по неврологии",
        "Студенты-фармацевты победили на фестивале GxP-Fest",
        "Открыт новый симуляционный центр",
        "Университет подписал меморандум с клиникой Сеула",
    }
    conf = docs["В КазНМУ прошла международная конференция по неврологии"]
    assert conf["date"] == "2025-03-14"
    assert {"kind": "heading", "text": "Основные темы"} in conf["blocks"]
    assert any(b["kind"] == "list" and b["text"].startswith("реабилитация после инсульта;")
               for b in conf["blocks"])
    fest = docs["Студенты-фармацевты победили на фестивале GxP-Fest"]
    assert fest["date"] == "2025-05-20"
    assert {"kind": "heading", "text": "Отзывы участников"} in fest["blocks"]
    # a lone dash line is direct speech, kept as a paragraph with its dash
    assert any(b["kind"] == "paragraph" and b["text"].startswith("— Мы готовились")
               for b in fest["blocks"])
    centre = docs["Открыт новый симуляционный центр"]
    assert {"kind": "list", "text": "базовую сердечно-лёгочную реанимацию;\n"
            "остановку кровотечений;\nпомощь при травмах."} in centre["blocks"]
    text = json.dumps(list(docs.values()), ensure_ascii=False)
    assert "\r" not in text and "Р°" not in text


def test_mixed_language_dump_detects_language_per_article(cli: Cli) -> None:
    """One file with en, kk and ru articles: each gets its own language and date."""
    assert cli("import", str(FIXTURES / "mixed.txt")).exit_code == 0
    docs = _by_title(_articles(cli))
    assert {t: (d["lang"], d["date"]) for t, d in docs.items()} == {
        "University opens a genomics laboratory": ("en", "2025-05-05"),
        "Медициналық колледж түлектеріне дипломдар табысталды": ("kk", "2025-06-28"),
        "Вакцинация студентов против гриппа": ("ru", "2024-10-01"),
    }
    lab = docs["University opens a genomics laboratory"]["blocks"]
    assert {"kind": "heading", "text": "Research Priorities"} in lab
    assert {"kind": "list",
            "text": "hereditary neuromuscular diseases\ncancer genetics\nnewborn screening"} in lab


def test_changed_body_updates_the_article(cli: Cli, tmp_path: Path) -> None:
    """A changed body under the same title updates the article and moves its updated time."""
    dump = tmp_path / "news.txt"
    shutil.copy(FIXTURES / "mixed.txt", dump)
    cli("import", str(dump))
    before = _by_title(_articles(cli))["Вакцинация студентов против гриппа"]
    dump.write_text(dump.read_text(encoding="utf-8").replace("более 500", "более 700"),
                    encoding="utf-8")
    report = json.loads(cli("import", str(dump), "--json").output)
    assert report["totals"]["new"] == 0 and report["totals"]["updated"] == 1
    after = _by_title(_articles(cli))["Вакцинация студентов против гриппа"]
    assert after["id"] == before["id"]
    assert "более 700" in after["blocks"][-1]["text"]
    assert after["updated"] > before["updated"]
    assert len(_articles(cli)) == 3


def test_repeated_title_in_another_file_starts_an_article(cli: Cli, tmp_path: Path) -> None:
    """A title already in the store starts a new article even where cohesion would not say so."""
    cli("import", str(SAMPLES / "import" / "000_906ffaf896e0a369.txt"))
    shutil.copy(SAMPLES / "import" / "001_008e267426ca3dbb.txt", tmp_path / "001.txt")
    report = json.loads(cli("import", str(tmp_path / "001.txt"), "--json").output)
    assert report["totals"]["unchanged"] == 3
    assert len(_articles(cli)) == 17


def test_same_title_on_another_stated_day_is_another_article(cli: Any, tmp_path: Path) -> None:
    """One title on two stated dates keeps both articles; importing them again is a no-op."""
    march = tmp_path / "march.txt"
    march.write_text(
        " date 2025-03-01 Announcement\n\nThe library is closed on Saturday for inventory work.\n",
        encoding="utf-8",
    )
    april = tmp_path / "april.txt"
    april.write_text(
        " date 2025-04-01 Announcement\n\nThe spring career fair opens in the main hall.\n",
        encoding="utf-8",
    )
    assert cli("import", str(march), str(april)).exit_code == 0
    docs = json.loads(cli("articles", "list", "--json").stdout)
    assert sorted(d["date"] for d in docs) == ["2025-03-01", "2025-04-01"]
    again = json.loads(cli("import", str(march), str(april), "--json").stdout)
    assert again["totals"]["new"] == 0 and again["totals"]["updated"] == 0
