"""Precision / recall of article boundaries, titles and subheadings on the annotated dumps.

    .venv/bin/python benchmarks/segmentation.py [--isolated] [--verbose] [--only PREFIX]

Ground truth: samples/import (titles from tests/ingest/test_import.py's SAMPLE_TITLES), the older
kk / ru / mixed fixtures (titles named below), and every tests/fixtures/import/*.txt with a
.truth.json beside it (heldout_*, blind2_*). A boundary is the line an article starts on.
By default files are parsed in one run the way `publisher import` does (titles of earlier
files are known); --isolated parses every file on its own. --only PREFIX counts only the
files whose name starts with PREFIX (all files are still parsed, in order).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher.ingest import dumps, textio
from publisher.store.articles import normalise_key
from tests.ingest.test_import import SAMPLE_TITLES, SUBHEADINGS

FIXTURES = ROOT / "tests" / "fixtures" / "import"
OLD_FIXTURES: dict[str, tuple[set[str], dict[str, list[str]]]] = {
    "kk_news.txt": ({
        "ҚазҰМУ студенттері халықаралық олимпиадада жүлделі орын алды",
        "Университет клиникасында жаңа оңалту орталығы ашылды",
        "Жас ғалымдар конференциясы өтті",
        "Донорлық қан тапсыру акциясы",
    }, {
        "ҚазҰМУ студенттері халықаралық олимпиадада жүлделі орын алды": ["Олимпиада кезеңдері"],
        "Университет клиникасында жаңа оңалту орталығы ашылды": ["Жабдықтар мен мүмкіндіктер"],
    }),
    "ru_news_cp1251.txt": ({
        "В КазНМУ прошла международная конференция по неврологии",
        "Студенты-фармацевты победили на фестивале GxP-Fest",
        "Открыт новый симуляционный центр",
        "Университет подписал меморандум с клиникой Сеула",
    }, {
        "В КазНМУ прошла международная конференция по неврологии": ["Основные темы"],
        "Студенты-фармацевты победили на фестивале GxP-Fest": ["Отзывы участников"],
    }),
    "mixed.txt": ({
        "University opens a genomics laboratory",
        "Медициналық колледж түлектеріне дипломдар табысталды",
        "Вакцинация студентов против гриппа",
    }, {"University opens a genomics laboratory": ["Research Priorities"]}),
}


def _truth(path: Path, text: str) -> tuple[set[int], set[tuple[int, str]]]:
    """Expected boundary lines and (article start line, subheading) pairs."""
    lines = text.split("\n")
    subs: dict[str, list[str]]
    if path.with_suffix(".truth.json").exists():
        doc = json.loads(path.with_suffix(".truth.json").read_text("utf-8"))
        titles = {a["title"] for a in doc["articles"] if a["title"]}
        subs = {a["title"]: a["subheadings"] for a in doc["articles"] if a["title"]}
        untitled = any(a["title"] is None for a in doc["articles"])
    elif path.name in OLD_FIXTURES:
        titles, subs = OLD_FIXTURES[path.name]
        untitled = False
    else:
        titles, subs = set(SAMPLE_TITLES), SUBHEADINGS
        untitled = not any(line in titles for line in lines)
    starts = {n for n, line in enumerate(lines, 1) if line.strip() in titles}
    if untitled:
        starts.add(1)
    pairs: set[tuple[int, str]] = set()
    ordered = sorted(starts)
    for n in ordered:
        title = lines[n - 1].strip()
        end = next((m for m in ordered if m > n), len(lines) + 1)
        for sub in subs.get(title, []):
            if any(lines[k - 1].strip() == sub for k in range(n + 1, end)):
                pairs.add((n, sub))
    return starts, pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--isolated", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--only", default="", help="count only files whose name starts with this")
    args = ap.parse_args()
    files = sorted((ROOT / "samples" / "import").glob("*.txt")) + sorted(
        p for p in FIXTURES.glob("*.txt")
        if p.name in OLD_FIXTURES or p.with_suffix(".truth.json").exists()
    )
    known: set[str] = set()
    tp = fp = fn = htp = hfp = hfn = counted = 0
    for path in files:
        text = textio.read_text(path, warnings=[])
        want, want_subs = _truth(path, text)
        parsed = dumps.parse(text, str(path), set() if args.isolated else set(known))
        got = {int(a.origin.rsplit(":", 1)[1]) for a in parsed}
        got_subs = {
            (int(a.origin.rsplit(":", 1)[1]), b.text) for a in parsed for b in a.blocks
            if b.kind == "heading"
        }
        known.update(normalise_key(a.title) for a in parsed)
        if not path.name.startswith(args.only):
            continue
        counted += 1
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        htp += len(got_subs & want_subs)
        hfp += len(got_subs - want_subs)
        hfn += len(want_subs - got_subs)
        if args.verbose and (got != want or got_subs != want_subs):
            lines = text.split("\n")
            for n in sorted(got - want):
                print(f"{path.name}:{n}: false title  {lines[n - 1][:70]!r}")
            for n in sorted(want - got):
                print(f"{path.name}:{n}: missed title {lines[n - 1][:70]!r}")
            for n, sub in sorted(want_subs - got_subs):
                print(f"{path.name}:{n}: missed subheading {sub[:60]!r}")
            for n, sub in sorted(got_subs - want_subs):
                print(f"{path.name}:{n}: extra subheading {sub[:60]!r}")

    def pr(t: int, f_p: int, f_n: int) -> str:
        p = t / (t + f_p) if t + f_p else 1.0
        r = t / (t + f_n) if t + f_n else 1.0
        return f"precision {p:.3f} recall {r:.3f} (tp {t}, fp {f_p}, fn {f_n})"

    print(f"files {counted}  ({'isolated' if args.isolated else 'one run'})")
    print("boundaries  ", pr(tp, fp, fn))
    print("subheadings ", pr(htp, hfp, hfn))


if __name__ == "__main__":
    main()
