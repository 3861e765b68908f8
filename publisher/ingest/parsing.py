"""Parsing the files of an import run, in a process pool when the run has several files.

Parsing is most of an import's CPU time once storing is set-based, and files parse
independently but for one input: the articles already known (in the store, or stored
from earlier files of the run: title key and lead, `known_entry`), which make a dump's
heading that repeats one, with its lead, a title. A worker gets a file with the articles
stored so far and those of the file parsed just before it (stored while it parses, as
parsed unless an admin's correction rewrites them); the importer stores the results in
file order, and a file whose parse could differ from a serial run's (see `_stale`) is parsed
again with the full set, so results equal a serial run's.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.util
import os
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from publisher.core import collector
from publisher.core.errors import InputError
from publisher.ingest import dumps, formats
from publisher.store.parsed import ParsedArticle, known_entry, lead_of

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
    # Entries of candidates whose call a known article would change (the parse is then
    # stale), and of those whose close-call listing alone it would, with that listing.
    passed: set[str] = field(default_factory=set)
    relisted: dict[str, list[tuple[int, dict[str, object] | None]]] = field(
        default_factory=dict)
    # `known_entry` of each article, as a later file knows it once this one is stored.
    entries: list[str] = field(default_factory=list)


def parse_file(path: Path, options: Options, known: set[str] | frozenset[str]) -> Parsed:
    """Read and parse one file; a rejection is an answer, not an exception. The review of
    its dates waits for the store's corrections (importer.store_file)."""
    warnings: list[str] = []
    derived: set[str] = set()
    decisions: list[dumps.Decision] = []
    passed: set[str] = set()
    relisted: dumps.Relisted = {}
    try:
        with collector.paused() if options.pause_gc else nullcontext():
            parsed = formats.read(path, lenient=options.lenient, warnings=warnings,
                                  known_titles=known, max_bytes=options.max_bytes,
                                  derived=derived, decisions=decisions, passed=passed,
                                  relisted=relisted)
    except InputError as exc:
        return Parsed(path, None, warnings, str(exc))
    return Parsed(path, parsed, warnings, derived=derived,
                  uncertain=[d.as_dict() for d in decisions], passed=passed,
                  relisted={e: [(line, None if d is None else d.as_dict()) for line, d in listed]
                            for e, listed in relisted.items()},
                  entries=[known_entry(a.title, lead_of(a.blocks)) for a in parsed])


def _stale(result: Parsed, since: set[str], guessed: AbstractSet[str]) -> bool:
    """Whether the parse may differ from one that knew exactly the titles stored before it.

    `since`: titles stored since the file was sent that it was not sent; `guessed`: titles
    it was sent ahead of their storing (those of a file parsed but not yet stored) that were
    then not stored as parsed (an admin's merge or split rewrote that file's articles).

    A known article weighs only in the decision on a candidate with that very heading and
    lead (`known_entry`). The parse lists the entries of the candidates whose call that
    weight would change (`passed`); it is stale when one of those is a newer article's
    entry, or when it was told of an article the store does not have. (A candidate whose
    close-call listing alone would change is relisted, see `_relist`.)
    """
    if result.articles is None:
        return False
    return bool(guessed) or (bool(since) and not result.passed.isdisjoint(since))


def _relist(result: Parsed, since: set[str]) -> None:
    """The close calls as a parse that also knew `since` lists them: a known article moves
    the score of its candidates, in or out of the margin, without changing their calls."""
    changed = {line: listed for entry in since.intersection(result.relisted)
               for line, listed in result.relisted[entry]}
    if changed:
        kept = [d for d in result.uncertain if d["line"] not in changed]
        kept.extend(d for d in changed.values() if d is not None)
        result.uncertain = sorted(kept, key=lambda d: int(str(d["line"])))


@dataclass
class _Worker:
    """A worker's options, and the articles it knows: the run's first ones and those the
    importing process has written to the run's log of stored articles, up to `read` bytes."""

    options: Options
    start: frozenset[str]
    log: str
    known: set[str]
    read: int = 0

    def catch_up(self, upto: int) -> set[str]:
        """The articles known once the first `upto` bytes of the log are read."""
        if upto < self.read:  # a file sent before one this worker parsed: start again
            self.known, self.read = set(self.start), 0
        if upto > self.read:
            with open(self.log, "rb") as log:
                log.seek(self.read)
                # One entry per line (normalised keys have no line breaks), each closed.
                self.known.update(log.read(upto - self.read).decode("utf-8", "surrogatepass")
                                  .split("\n")[:-1])
            self.read = upto
        return self.known


_worker: _Worker | None = None


def _init_worker(options: Options, known: frozenset[str], log: str) -> None:
    global _worker
    # A worker does nothing but parse.
    _worker = _Worker(replace(options, pause_gc=True), known, log, set(known))
    # What the worker inherited from the fork server lives as long as it does: left out of
    # every later collection (and its pages stay shared with the server).
    gc.freeze()


def _parse_in_worker(path: Path, upto: int, ahead: frozenset[str]) -> Parsed:
    """Parse `path` knowing the run's first articles, those stored since then (the first
    `upto` bytes of the run's log) and `ahead`. Each worker keeps what it has read of the log
    and reads only what is new: sending every file all the articles stored so far (40,000
    in a 50 MB run) cost more to pickle, send and read back than the log costs to write."""
    assert _worker is not None, "initializer not run"
    known = _worker.catch_up(upto)
    return parse_file(path, _worker.options, known | ahead if ahead else known)


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


def in_order(files: list[Path], options: Options, known: set[str],
             workers: int | None = None) -> Iterator[Parsed]:
    """Each file parsed, in the order given. `known` is read as it stands when each file is
    due: the caller adds a file's titles to it once the file is stored."""
    size = pool_size(files, workers)
    if size <= 1:
        for path in files:
            yield parse_file(path, options, known)
        return
    start = frozenset(known)
    # The articles stored during the run, one `known_entry` a line, for the workers to read:
    # in the folder multiprocessing keeps for the fork server's socket (so no new place has
    # to be writable), which it removes when this process exits.
    fd, log_name = tempfile.mkstemp(prefix="known-", dir=multiprocessing.util.get_temp_dir())
    log = os.fdopen(fd, "wb")
    pool: ProcessPoolExecutor | None = None
    try:
        pool = ProcessPoolExecutor(size, mp_context=_context(), initializer=_init_worker,
                                   initargs=(options, start, log_name))
        # A few files ahead keep the workers busy while this process stores; more would
        # only hold parsed files in memory. Each file is sent with the titles stored since
        # the start and those of the file just parsed, so only those of the files still in
        # flight can make it stale. The pool starts with one file per worker; the files
        # ahead go out when the first is parsed, with its titles.
        todo = iter(files)
        seen = set(start)
        added: list[str] = []  # the titles stored since the start
        # Each file sent: its future, how many of `added` it got, and the titles it got of
        # a file parsed but not stored yet.
        running: deque[tuple[Future[Parsed], int, frozenset[str]]] = deque()

        def submit(path: Path, ahead: frozenset[str] = frozenset()) -> None:
            running.append((pool.submit(_parse_in_worker, path, log.tell(), ahead),
                            len(added), ahead))

        for path in islice(todo, size):
            submit(path)
        while running:
            future, sent, ahead = running.popleft()
            result = future.result()
            again: Future[Parsed] | None = None
            guess: frozenset[str] = frozenset()
            since = set(added[sent:]) - ahead
            if _stale(result, since, ahead - known):
                # Parsed again by a worker: it has pymorphy3's dictionaries loaded, which
                # this process would otherwise load for one file (20-30 MB of memory).
                # Queued before the next file, which would otherwise delay it by a parse.
                again = pool.submit(_parse_in_worker, result.path, log.tell(), frozenset())
            else:
                # The files sent now are parsed while this one is stored: they get its
                # titles as parsed, which is what the caller stores unless an admin's
                # correction rewrites an article (_stale checks that on their turn). A file
                # parsed without the titles of the one just before it is more often stale.
                guess = frozenset(result.entries) - seen
                _relist(result, since)
            for nxt in islice(todo, size + AHEAD - len(running)):
                submit(nxt, guess)
            yield result if again is None else again.result()
            fresh = known - seen  # what the caller stored of this file
            seen |= fresh
            added.extend(fresh)
            if fresh:
                # surrogatepass: what a title holds, the log gives back as it was.
                log.write("".join(f"{entry}\n" for entry in fresh)
                          .encode("utf-8", "surrogatepass"))
                log.flush()  # read by the workers as soon as a file is sent
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        log.close()
        os.unlink(log_name)
