"""Pausing Python's cyclic garbage collector around bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for the length of the block, then back as it was.

    Bulk work (parsing a file, storing it) allocates hundreds of thousands of small
    containers, and the collector would walk them again and again on the way: 10-15% of a
    parse. Whatever is freed by reference counting is freed as usual meanwhile; reference
    cycles made in the block (SQLAlchemy's, a few thousand objects per stored file) wait for
    the first collection after it. A parse makes none (tests/ingest/test_import_pool.py).
    The pause is process-wide: for a process that does nothing else meanwhile (a command,
    a parse worker), not for a service whose other threads go on.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
