"""Parsing in a process pool gives what parsing one file after another gives."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from publisher.core import config
from publisher.ingest import detect, importer, parsing
from publisher.store.engine import Store, open_store
from publisher.store.models import ArticleText
from tests.conftest import CORPUS
from tests.ingest.test_import_bulk import _rows

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "import" / "blind2_ru_date_start.txt"
# A subheading of SAMPLE: the first question of an interview.
SECTION = "Как начинался путь в хирургию?"
# The paragraph under it in SAMPLE.
LEAD = ("Кайрат Жумабеков вспоминает, что решение стать врачом принял ещё в школе, когда "
        "увидел работу сельского фельдшера. После окончания института он десять лет работал "
        "в районной больнице Жамбылской области.")
# An earlier file with that section as an article of its own (`# ` makes it a title
# whatever the weights), with the same lead.
EARLIER = f"""# {SECTION}

{LEAD}

Интервью с профессором полностью опубликовано на сайте университета.
"""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "a_first.txt").write_text(EARLIER, "utf-8")
    shutil.copy(SAMPLE, folder / "b_sample.txt")
    # An interview with close calls, for the reports to compare.
    shutil.copy(SAMPLE.parent / "blind3_ru_interview.txt", folder / "b_interview.txt")
    (folder / "c_binary.txt").write_bytes(b"\x00\x01 not text \xff" * 50)
    for src in sorted(CORPUS.glob("*.txt")):
        shutil.copy(src, folder / f"d_{src.name}")
    return folder


def _store(tmp_path: Path, name: str) -> Store:
    return open_store(config.load(environ={"PUBLISHER_DATA_DIR": str(tmp_path / name)}))


def test_pool_stores_what_a_serial_run_stores(tmp_path: Path) -> None:
    """Two workers give the same report (articles, warnings, close calls, the rejected
    file) and the same rows as parsing one file after another in this process."""
    folder = _folder(tmp_path)
    serial, pooled = _store(tmp_path, "v1"), _store(tmp_path, "v2")
    try:
        a = importer.import_paths(serial, [folder], now=NOW, workers=1)
        b = importer.import_paths(pooled, [folder], now=NOW, workers=2)
        assert b.as_dict() == a.as_dict()
        assert _rows(pooled) == _rows(serial)
        assert b.totals()["rejected"] == 1
        assert any(f.uncertain for f in b.files)  # close calls are compared too
    finally:
        serial.close()
        pooled.close()


def test_a_dump_splits_the_same_whatever_was_imported_before_it(tmp_path: Path) -> None:
    """A dump's articles come from its own text: an earlier file that has one of its
    sections as an article (the same heading, the same lead) does not turn that section
    into a title, so a dump imports the same whatever the store holds, and the earlier
    file's article keeps its own text."""
    alone, after = _store(tmp_path, "alone"), _store(tmp_path, "after")
    try:
        first = importer.import_paths(alone, [SAMPLE], now=NOW, workers=1)
        earlier = tmp_path / "earlier.txt"
        earlier.write_text(EARLIER, "utf-8")
        importer.import_paths(after, [earlier], now=NOW, workers=1)
        report = importer.import_paths(after, [SAMPLE], now=NOW, workers=1)

        def texts(store: Store) -> dict[str, list[Any]]:
            with store.session() as s:
                return {t: b for t, b in s.execute(select(ArticleText.title,
                                                          ArticleText.blocks))}

        want, got = texts(alone), texts(after)
        assert SECTION not in want  # a section of its article, alone
        assert {"kind": "heading", "text": SECTION} in [
            b for blocks in want.values() for b in blocks]
        assert report.files[0].articles == first.files[0].articles
        assert report.totals()["new"] == first.totals()["new"]
        assert {t: b for t, b in got.items() if t != SECTION} == want
        assert [b["text"] for b in got[SECTION]] == [
            LEAD, "Интервью с профессором полностью опубликовано на сайте университета."]
    finally:
        alone.close()
        after.close()


def test_small_runs_parse_in_process(tmp_path: Path) -> None:
    """A single file, or a run below POOL_MIN_BYTES, starts no worker processes."""
    files = sorted(CORPUS.glob("*.txt"))
    assert parsing.pool_size(files[:1], None) == 1
    assert parsing.pool_size(files, None) == 1
    assert parsing.pool_size(files, 2) == 2


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_letter_counts_match_the_regexes(text: str) -> None:
    """Counting letters on UTF-8 bytes gives the counts the letter regexes give."""
    assert detect._letter_counts(text) == (
        len(detect._CYRILLIC.findall(text)), len(detect._LATIN.findall(text)),
        len(detect._KAZAKH.findall(text)),
    )


def test_a_parse_leaves_no_reference_cycles() -> None:
    """Parsing frees everything it allocates by reference counting, which is what makes it
    safe to pause the cyclic collector while a file is parsed."""
    options = parsing.Options(lenient=True, max_bytes=10**8)
    parsing.parse_file(SAMPLE, options)  # loads what is loaded once (dictionaries)
    fixtures = SAMPLE.parent
    gc.collect()
    gc.disable()
    try:
        for path in [SAMPLE, *sorted(CORPUS.glob("*.txt")), fixtures / "cms_export.jsonl",
                     fixtures / "article.md"]:
            result = parsing.parse_file(path, options)
            assert result.articles
            del result
            assert gc.collect() == 0, path.name
    finally:
        gc.enable()


def test_the_fork_server_preloads_only_what_a_worker_runs() -> None:
    """Under the command line the fork server imports the command group (which a worker runs
    again, and whose commands load lazily) and the parser, not the storing side; under a
    main that workers do not run again, the parser; under any other main script, every
    module of the package that the caller has."""
    loaded = ["publisher", "publisher.cli.main", "publisher.store.bulk", "sqlalchemy"]
    assert parsing.preload(loaded) == ["publisher.cli.main", "publisher.ingest.parsing"]
    others = ["sqlalchemy", "publisher.store.bulk", "publisher"]
    assert parsing.preload(others) == ["publisher", "publisher.store.bulk"]
    assert parsing.preload(others, reruns=False) == ["publisher.ingest.parsing"]


def test_workers_run_a_script_again_but_not_python_c(tmp_path: Path) -> None:
    """multiprocessing runs a main script given by its path again in each worker, and
    `python -c` or a package's __main__ not: `_reruns_main` says which, in a real child."""
    script = tmp_path / "embed.py"
    script.write_text("from publisher.ingest import parsing\nprint(parsing._reruns_main())\n")
    run = [sys.executable]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    by_path = subprocess.run([*run, str(script)], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
    by_c = subprocess.run([*run, "-c", script.read_text()], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert (by_path, by_c) == ("True", "False")


def test_a_run_yields_files_in_order_and_stops_early(tmp_path: Path) -> None:
    """Files come back in the order given whatever worker finishes first, and a reader that
    stops after the first file (an error while storing it) can close the run there: the
    pool shuts down without an error and the next run starts afresh."""
    folder = _folder(tmp_path)
    files = sorted(folder.glob("*.txt"))
    options = parsing.Options(lenient=False, max_bytes=10**8)
    run = parsing.in_order(files, options, workers=2)
    assert next(run).path == files[0]
    run.close()
    assert [r.path for r in parsing.in_order(files, options, workers=2)] == files
