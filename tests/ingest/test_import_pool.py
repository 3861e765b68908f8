"""Parsing in a process pool gives what parsing one file after another gives."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from publisher.core import config
from publisher.ingest import detect, importer, parsing, regroup
from publisher.store.engine import Store, open_store
from publisher.store.models import ArticleText
from publisher.store.parsed import known_entry
from tests.conftest import CORPUS
from tests.ingest.test_import_bulk import _rows

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
# A subheading the segmenter keeps, though not by far: a known title tips it.
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "import" / "blind2_ru_date_start.txt"
# Scored 0.40 alone: a known article with its lead (+0.83 to the logit) makes it 0.60, so
# neither side of the threshold is a hair's breadth away.
KNOWN = "Как начинался путь в хирургию?"
# The paragraph under it in SAMPLE: an earlier file that has the section as an article of
# its own, with the same lead, makes the heading that article again.
LEAD = ("Кайрат Жумабеков вспоминает, что решение стать врачом принял ещё в школе, когда "
        "увидел работу сельского фельдшера. После окончания института он десять лет работал "
        "в районной больнице Жамбылской области.")
# `# ` makes it a title whatever the weights: the setup is the known article, not a call.
EARLIER = f"""# {KNOWN}

{LEAD}

Интервью с профессором полностью опубликовано на сайте университета.
"""

def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    # a_ states KNOWN as a title; b_ has it as a subheading, which a serial run turns into
    # a title because a_ was stored first.
    (folder / "a_first.txt").write_text(EARLIER, "utf-8")
    shutil.copy(SAMPLE, folder / "b_sample.txt")
    (folder / "c_binary.txt").write_bytes(b"\x00\x01 not text \xff" * 50)
    for src in sorted(CORPUS.glob("*.txt")):
        shutil.copy(src, folder / f"d_{src.name}")
    return folder


def test_known_title_from_an_earlier_file_changes_the_parse() -> None:
    """The case the pool must get right exists: an article stored from an earlier file (the
    same heading, the same lead) turns a later file's subheading into a title."""
    options = parsing.Options(lenient=False, max_bytes=10**8)
    alone = parsing.parse_file(SAMPLE, options, set())
    after = parsing.parse_file(SAMPLE, options, {known_entry(KNOWN, LEAD)})
    assert alone.articles is not None and after.articles is not None
    assert len(after.articles) == len(alone.articles) + 1


def test_a_known_title_over_another_story_changes_nothing() -> None:
    """The same line stored as the title of another story (another lead) leaves the
    subheading a subheading: a re-import, which knows every stored title from the start,
    splits a dump as its first import did."""
    options = parsing.Options(lenient=False, max_bytes=10**8)
    alone = parsing.parse_file(SAMPLE, options, set())
    other = parsing.parse_file(SAMPLE, options, {
        known_entry(KNOWN, "Студенты спросили хирургов, как начинался их путь в профессию, "
                           "на встрече в анатомическом музее."),
    })
    assert alone.articles is not None and other.articles is not None
    assert [a.title for a in other.articles] == [a.title for a in alone.articles]


def test_pool_stores_what_a_serial_run_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers and a file made stale by an earlier one give the same report and the same
    rows as parsing in this process; the stale file, and only it, is parsed again."""
    with _both_runs(tmp_path, monkeypatch, _folder(tmp_path)) as (_pooled, report, again):
        assert again == ["b_sample.txt"]
        assert report.totals()["rejected"] == 1


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the pool parses a second time."""
    again: list[str] = []
    original = parsing._stale

    def counted(result: parsing.Parsed, since: set[str], guessed: set[str]) -> bool:
        stale = original(result, since, guessed)
        if stale:
            again.append(result.path.name)
        return stale

    monkeypatch.setattr(parsing, "_stale", counted)
    return again


@contextmanager
def _both_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: Path,
    prepare: Callable[[Store], None] = lambda store: None,
) -> Iterator[tuple[Store, importer.ImportReport, list[str]]]:
    """`folder` imported by parsing in this process and with two workers, each into a store
    of its own (`prepare`d first), which must report and store the same: the pooled store,
    its report and the files it parsed twice."""
    stores: list[Store] = []
    try:
        for name in ("v1", "v2"):
            stores.append(open_store(config.load(
                environ={"PUBLISHER_DATA_DIR": str(tmp_path / name)})))
            prepare(stores[-1])
        serial, pooled = stores
        a = importer.import_paths(serial, [folder], now=NOW, workers=1)
        again = _counting(monkeypatch)
        b = importer.import_paths(pooled, [folder], now=NOW, workers=2)
        assert b.as_dict() == a.as_dict()
        assert _rows(pooled) == _rows(serial)
        yield pooled, b, again
    finally:
        for store in stores:
            store.close()


def _run_folder(tmp_path: Path, head: str) -> Path:
    """a_first (`head`, then the KNOWN article), a_second (a sample dump), b_sample (KNOWN
    as a subheading): b_sample is sent to a worker once a_first is parsed, not stored."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "a_first.txt").write_text(head + EARLIER, "utf-8")
    shutil.copy(sorted(CORPUS.glob("*.txt"))[0], folder / "a_second.txt")
    shutil.copy(SAMPLE, folder / "b_sample.txt")
    return folder


HEAD = ("Почётный профессор встретился со студентами\n\nХирург Кайрат Жумабеков рассказал "
        "студентам о пятидесяти годах работы в операционной.\n\n")


def test_a_file_gets_the_titles_of_the_file_parsed_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file that repeats an article of the file two places before it (parsed, not yet
    stored, when the file goes to a worker) is parsed once and stores what a serial run
    stores."""
    with _both_runs(tmp_path, monkeypatch, _run_folder(tmp_path, HEAD)) as (pooled, _, again):
        assert again == []
        with pooled.session() as s:
            titles = [t for (t,) in s.execute(select(ArticleText.title))]
        assert titles.count(KNOWN) == 1  # b_sample's subheading is a_first's article again


def test_a_file_told_of_an_article_a_correction_removed_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When an admin has merged a_first's KNOWN article into the one before it, the store
    never gets KNOWN as a title although the parse of a_first had it: b_sample, sent with
    it, is parsed again without it and keeps KNOWN a subheading, as a serial run does."""
    folder = _run_folder(tmp_path, HEAD)

    def merged(store: Store) -> None:
        importer.import_paths(store, [folder / "a_first.txt"], now=NOW, workers=1)
        with store.session() as s:
            ids = {t: a for a, t in s.execute(select(ArticleText.article_id, ArticleText.title))}
        regroup.merge(store, ids[HEAD.split("\n")[0]], ids[KNOWN], now=NOW)

    with _both_runs(tmp_path, monkeypatch, folder, merged) as (pooled, _, again):
        assert again == ["b_sample.txt"]
        with pooled.session() as s:
            assert KNOWN not in {t for (t,) in s.execute(select(ArticleText.title))}


NEWS = ROOT / "tests" / "fixtures" / "import" / "blind2_ru_news.txt"
# A title in NEWS that the segmenter calls right but not by far (a close call), unless the
# article is known: then it is far from the threshold and no close call.
CENTRE = "Открытие центра ментального здоровья студентов"
CENTRE_LEAD = ("В главном учебном корпусе начал работу центр психологической поддержки "
               "студентов. Консультации проводят психологи и психотерапевты университетской "
               "клиники.")


def test_a_close_call_is_listed_as_a_serial_run_lists_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file parsed while an earlier file with one of its articles was still in flight
    lists its close calls as a serial run does (that article known, its title is no close
    call), without being parsed again."""
    folder = tmp_path / "run"
    folder.mkdir()
    samples = sorted(CORPUS.glob("*.txt"))
    shutil.copy(samples[0], folder / "a_sample.txt")
    (folder / "b_centre.txt").write_text(
        f"{CENTRE}\n\n{CENTRE_LEAD}\n\nЦентр работает ежедневно с девяти утра.\n", "utf-8")
    shutil.copy(samples[1], folder / "c_sample.txt")
    shutil.copy(NEWS, folder / "d_news.txt")
    alone = parsing.parse_file(NEWS, parsing.Options(lenient=False, max_bytes=10**8), set())
    assert CENTRE in [d["text"] for d in alone.uncertain]  # the case exists
    with _both_runs(tmp_path, monkeypatch, folder) as (_pooled, report, again):
        news = next(f for f in report.files if f.path.endswith("d_news.txt"))
        assert CENTRE not in [d["text"] for d in news.uncertain]
        assert again == []


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
    parsing.parse_file(SAMPLE, options, set())  # loads what is loaded once (dictionaries)
    fixtures = SAMPLE.parent
    gc.collect()
    gc.disable()
    try:
        for path in [SAMPLE, *sorted(CORPUS.glob("*.txt")), fixtures / "cms_export.jsonl",
                     fixtures / "article.md"]:
            result = parsing.parse_file(path, options, set())
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


def test_a_worker_reads_the_stored_articles_log_as_far_as_each_file_was_sent(
        tmp_path: Path) -> None:
    """A worker knows the run's first articles and the log's first `upto` bytes, reading
    only what is new; a file sent before one it parsed (no run does that) reads again."""
    log = tmp_path / "known"
    log.write_bytes("Ә|1\nБ|2\n".encode() + b"C|3\n")
    worker = parsing._Worker(parsing.Options(lenient=False, max_bytes=100), frozenset({"0|0"}),
                             str(log), {"0|0"})
    assert worker.catch_up(0) == {"0|0"}
    upto = len("Ә|1\nБ|2\n".encode())
    assert worker.catch_up(upto) == {"0|0", "Ә|1", "Б|2"}
    assert worker.catch_up(log.stat().st_size) == {"0|0", "Ә|1", "Б|2", "C|3"}
    assert worker.catch_up(upto) == {"0|0", "Ә|1", "Б|2"}


def test_the_stored_articles_log_is_gone_when_a_run_stops(tmp_path: Path) -> None:
    """The log the workers read is removed when the run ends, and when its reader stops
    early (an error while storing a file closes the run)."""
    import multiprocessing.util

    folder = _folder(tmp_path)
    files = sorted(folder.glob("*.txt"))
    options = parsing.Options(lenient=False, max_bytes=10**8)
    logs = Path(multiprocessing.util.get_temp_dir())
    run = parsing.in_order(files, options, set(), workers=2)
    assert next(run).path == files[0]
    assert list(logs.glob("known-*"))  # the run keeps it while it lasts
    run.close()
    assert list(logs.glob("known-*")) == []
    assert [r.path for r in parsing.in_order(files, options, set(), workers=2)] == files
    assert list(logs.glob("known-*")) == []
