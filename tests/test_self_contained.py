"""The repository needs nothing beside it: no test, benchmark or build file reads the brief."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Spelled in two parts so that this file does not match itself.
OUTSIDE = (".." + "/shared", '"shared' + '" /')


def test_nothing_names_the_folder_beside_the_checkout() -> None:
    """tests/, benchmarks/, the Makefile and .ci/ never name the brief's folder outside the repo."""
    places = [ROOT / "Makefile", *(ROOT / ".ci").iterdir()]
    for folder in ("tests", "benchmarks"):
        places += [
            p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    offenders = [
        str(p.relative_to(ROOT))
        for p in places
        if any(name in p.read_text(encoding="utf-8", errors="replace") for name in OUTSIDE)
    ]
    assert offenders == []
