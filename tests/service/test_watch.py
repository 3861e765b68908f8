"""Watching the import folder: complete files are imported once, growing ones wait."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from publisher.service.watch import Debounce, FolderWatch, content_signature, import_stable
from publisher.store.engine import Store
from publisher.store.models import Article, ImportedFile
from tests.conftest import CORPUS

DUMPS = sorted(CORPUS.glob("*.txt"))


def articles(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Article)) or 0


def poll(store: Store, watch: FolderWatch) -> list[str]:
    return import_stable(store, watch, watch.stable_files()).imported


def test_file_is_imported_once_it_stops_growing(store: Store, tmp_path: Path) -> None:
    """A dump still being copied is left alone; after two unchanged polls it is imported."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = DUMPS[0].read_bytes()
    target = inbox / "dump.txt"
    target.write_bytes(data[: len(data) // 2])
    watch = FolderWatch([inbox])
    assert poll(store, watch) == []  # first sight
    with target.open("ab") as fh:
        fh.write(data[len(data) // 2:])
    assert poll(store, watch) == []  # it grew since the last poll
    assert articles(store) == 0
    assert poll(store, watch) == [str(target)]  # unchanged across two polls
    assert articles(store) > 0
    assert poll(store, watch) == []  # not offered again


def test_same_content_is_not_imported_again_after_restart(store: Store, tmp_path: Path) -> None:
    """Restarting, renaming or dropping a second copy of a dump imports nothing new."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(DUMPS[0], inbox / "a.txt")
    watch = FolderWatch([inbox])
    watch.stable_files()
    assert poll(store, watch) == [str(inbox / "a.txt")]
    before = articles(store)
    restarted = FolderWatch([inbox])  # a new process: nothing in memory
    shutil.copy(DUMPS[0], inbox / "copy.txt")
    restarted.stable_files()
    report = import_stable(store, restarted, restarted.stable_files())
    assert report.imported == []
    assert sorted(report.known) == [str(inbox / "a.txt"), str(inbox / "copy.txt")]
    assert articles(store) == before
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ImportedFile)) == 1


def test_changed_file_is_imported_again(store: Store, tmp_path: Path) -> None:
    """Editing a dump already imported brings the new articles in."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target = inbox / "dump.txt"
    shutil.copy(DUMPS[0], target)
    watch = FolderWatch([inbox])
    watch.stable_files()
    poll(store, watch)
    before = articles(store)
    with target.open("ab") as fh:
        fh.write(b"\n\n" + DUMPS[1].read_bytes())
    watch.stable_files()
    report = import_stable(store, watch, watch.stable_files())
    assert report.imported == [str(target)] and report.new > 0
    assert articles(store) > before


def test_rejected_file_is_reported_once_and_stores_nothing(store: Store, tmp_path: Path) -> None:
    """A binary file dropped in the folder is rejected with a reason, once, and not stored."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.txt").write_bytes(b"\x00\xff\x00\xfe" * 256)
    watch = FolderWatch([inbox])
    watch.stable_files()
    report = import_stable(store, watch, watch.stable_files())
    assert [r["path"] for r in report.rejected] == [str(inbox / "broken.txt")]
    assert "broken.txt" in report.rejected[0]["error"]
    assert articles(store) == 0
    assert watch.stable_files() == []  # not retried every poll


def test_hidden_and_unknown_files_are_ignored(store: Store, tmp_path: Path) -> None:
    """Editor temp files and other formats in the folder are not imported."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(DUMPS[0], inbox / ".dump.txt.swp")
    shutil.copy(DUMPS[0], inbox / "dump.pdf")
    watch = FolderWatch([inbox, tmp_path / "missing"])
    watch.stable_files()
    assert watch.stable_files() == []
    assert watch.missing() == [tmp_path / "missing"]


def test_store_signature_changes_with_an_import(store: Store, tmp_path: Path) -> None:
    """An import (by the watcher or any other process) is noticed, so the site is rebuilt."""
    before = content_signature(store)
    assert content_signature(store) == before
    from publisher.ingest.importer import import_paths

    import_paths(store, [DUMPS[0]])
    assert content_signature(store) != before


def test_debounce_waits_for_quiet_but_not_forever() -> None:
    """A burst of changes gives one rebuild after the burst; a steady trickle still gets one."""
    t0 = datetime(2026, 11, 16, 9, tzinfo=UTC)
    d = Debounce(2.0, longest=10.0)
    assert d.request(t0) == t0.replace(second=2)
    assert d.request(t0.replace(second=1)) == t0.replace(second=3)
    assert d.request(t0.replace(second=9)) == t0.replace(second=10)  # capped at first + 10 s
    d.done()
    assert d.request(t0.replace(second=30)) == t0.replace(second=32)
