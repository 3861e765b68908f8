"""Parsing the files of an import run, in a process pool when the run has several files.

Parsing is most of an import's CPU time once storing is set-based, and a file's parse
depends on nothing but its own text (no article stored before it changes a call), so
files parse independently: workers parse a few files ahead while the importing process
stores the earlier ones, in file order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from publisher.core import collector
from publisher.core.errors import InputError
from publisher.ingest import dumps, formats
from publisher.store.parsed import ParsedArticle, normalise_key

# Below this many bytes in a run (about 2 s of parsing), starting the fork server (a fresh
# interpreter that imports the package, ~0.5 s of CPU) and its workers gains too little.
POOL_MIN_BYTES = 8 * 1024 * 1024
AHEAD = 1  # files in flight beyond one per worker


@dataclass(frozen=True)
class Options:
    lenient: bool
    max_bytes: int
    # Pause the cyclic garbage collector while a file is parsed (core/collector.py): for a
    # process that does nothing else meanwhile (a command, a parse worker), not a service.
    pause_gc: bool = False
    # List the segmenter's calls within this distance of its threshold (None: the model's
    # margin); what is listed only, never the split.
    review: float | None = None


@dataclass
class Parsed:
    """One file parsed (or rejected), as a worker sends it back."""

    path: Path
    articles: list[ParsedArticle] | None  # None: rejected, with `error`
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    derived: set[str] = field(default_factory=set)  # origins of titles made from a sentence
    # The segmenter's close calls, as the import report lists them.
    uncertain: list[dict[str, object]] = field(default_factory=list)
    # `normalise_key` of each article's title, made where the file was parsed: normalising
    # 40,000 titles would cost the storing process 0.15 s of a run.
    keys: list[str] = field(default_factory=list)


def parse_file(path: Path, options: Options) -> Parsed:
    """Read and parse one file; a rejection is an answer, not an exception. The review of
    its dates waits for the store's corrections (importer.store_file)."""
    warnings: list[str] = []
    derived: set[str] = set()
    decisions: list[dumps.Decision] = []
    try:
        with collector.paused() if options.pause_gc else nullcontext():
            parsed = formats.read(path, lenient=options.lenient, warnings=warnings,
                                  max_bytes=options.max_bytes, derived=derived,
                                  decisions=decisions, review=options.review)
    except InputError as exc:
        return Parsed(path, None, warnings, str(exc))
    return Parsed(path, parsed, warnings, derived=derived,
                  uncertain=[d.as_dict() for d in decisions],
                  keys=[normalise_key(a.title) for a in parsed])


_options: Options | None = None


def _init_worker(options: Options) -> None:
    global _options
    # A worker does nothing but parse.
    _options = replace(options, pause_gc=True)
    # What the worker inherited from the fork server lives as long as it does: left out of
    # every later collection (and its pages stay shared with the server).
    gc.freeze()


def _parse_in_worker(path: Path) -> Parsed:
    assert _options is not None, "initializer not run"
    return parse_file(path, _options)


def preload(loaded: list[str], reruns: bool = True) -> list[str]:
    """The modules the fork server imports before it forks a worker.

    A forked worker runs the caller's main script once more (Python 3.11 and 3.12 ignore a
    "__main__" preload) when `reruns` (see `_reruns_main`), so what that script imports has
    to be loaded by then. Under the command line that is the command group, whose commands
    load lazily: the parser and the group are enough, and the server starts in a quarter of
    the time it takes to import the storing side (SQLAlchemy) it would not use. Under a main
    that workers do not run again (a package's `__main__`, `python -c`) the parser alone. Under
    another script (a program that embeds the importer), every module of the package that
    this process has.
    """
    if "publisher.cli.main" in loaded:
        return ["publisher.cli.main", __name__]
    if not reruns:
        return [__name__]
    return sorted(m for m in loaded if m == "publisher" or m.startswith("publisher."))


def _reruns_main() -> bool:
    """Whether a worker runs this process's main module again, by multiprocessing's own rule
    (spawn.get_preparation_data): a script given by its path or a module run with -m does;
    a package's __main__ and `python -c` do not."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return not (name == "__main__" or name.endswith(".__main__"))
    return getattr(main, "__file__", None) is not None


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from multiprocessing's fork server, preloaded with what they need.

    A plain fork would copy the importer's store connections and progress thread into the
    workers. Spawn starts each worker as a new interpreter that imports the package again,
    most of a worker's start-up CPU. The server stays until this process exits.
    """
    context = multiprocessing.get_context("forkserver")
    # Takes effect when this process starts its fork server, that is on its first pool.
    # list() first: another thread (the service's web server) may import meanwhile.
    context.set_forkserver_preload(preload(list(sys.modules), _reruns_main()))
    return context


def pool_size(files: list[Path], workers: int | None) -> int:
    """Worker processes for a run: `workers` as asked, else one per CPU for a run of
    several files worth it, else none (parse in this process)."""
    if workers is not None:
        return workers if len(files) > 1 else 1
    if len(files) < 2:
        return 1
    size = 0
    for path in files:
        try:
            size += path.stat().st_size
        except OSError:
            continue  # reported as rejected when it is read
    return min(os.cpu_count() or 1, len(files)) if size >= POOL_MIN_BYTES else 1


def in_order(files: list[Path], options: Options, workers: int | None = None,
             ) -> Iterator[Parsed]:
    """Each file parsed, in the order given."""
    size = pool_size(files, workers)
    if size <= 1:
        for path in files:
            yield parse_file(path, options)
        return
    pool: ProcessPoolExecutor | None = None
    try:
        pool = ProcessPoolExecutor(size, mp_context=_context(), initializer=_init_worker,
                                   initargs=(options,))
        # A few files ahead keep the workers busy while this process stores; more would
        # only hold parsed files in memory.
        todo = iter(files)
        running: deque[Future[Parsed]] = deque(
            pool.submit(_parse_in_worker, path) for path in islice(todo, size + AHEAD))
        while running:
            result = running.popleft().result()
            for path in islice(todo, 1):
                running.append(pool.submit(_parse_in_worker, path))
            yield result
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
