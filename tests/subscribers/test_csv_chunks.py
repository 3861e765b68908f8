"""Large lists go in in chunks: same report as one transaction, nothing reactivated, progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from publisher.store.engine import Store
from publisher.store.models import MailingList, Subscriber, Subscription
from publisher.subscribers import csvfile
from publisher.subscribers import registry as subs


def _write(tmp_path: Path, rows: list[str], name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text("email,name,language\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


class Recorder:
    """A Progress that remembers each advance (the CLI's bar on a terminal gets the same)."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def advance(self, n: int = 1, note: str = "") -> None:
        self.steps.append(n)


def _import(
    store: Store, path: Path, chunk_size: int, progress: Recorder | None = None
) -> csvfile.CsvReport:
    report, rows = csvfile.read_csv(path, "weekly", default_language="kk")
    assert not report.rejected
    return csvfile.write_rows(store, report, rows, chunk_size=chunk_size, progress=progress)


def _counts(report: csvfile.CsvReport) -> tuple[int, int, int, int, int, int]:
    return (report.added, report.updated, report.unchanged, len(report.kept),
            len(report.skipped), len(report.merged))


def test_chunks_give_the_same_report_as_one_transaction(store: Store, tmp_path: Path) -> None:
    """Imported 3 rows at a time, a list is reported and stored as if imported at once."""
    rows = [f"p{i}@example.org,P{i},{'kk' if i % 2 else 'ru'}" for i in range(10)]
    rows += ["P3@Example.org,,en", "p4@example.org,Again,"]  # duplicates across chunks
    path = _write(tmp_path, rows)
    progress = Recorder()
    report = _import(store, path, 3, progress=progress)
    assert _counts(report) == (10, 0, 0, 0, 0, 2)
    assert [n.line for n in report.merged] == [12, 13]
    assert progress.steps == [3, 3, 3, 1]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 10
        assert s.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.status == "active")
        ) == 10
        p3 = subs.by_email(s, "p3@example.org")
        assert p3 is not None and (p3.name, p3.language) == ("P3", "kk")
    again = _import(store, path, 4)
    assert _counts(again) == (0, 0, 10, 0, 0, 2)


def test_no_chunk_reactivates_a_suppressed_or_departed_address(
    store: Store, tmp_path: Path
) -> None:
    """Bounced, complained, unsubscribed and list-leavers stay so, whichever chunk holds them."""
    path = _write(tmp_path, [f"s{i}@example.org,S{i},kk" for i in range(9)])
    _import(store, path, 9)
    with store.session() as s:
        for i, status in ((1, "bounced"), (4, "complained"), (7, "unsubscribed")):
            sub = subs.by_email(s, f"s{i}@example.org")
            assert sub is not None
            sub.status = status
        subs.remove(s, "s5@example.org", list_slug="weekly")
    renamed = _write(tmp_path, [f"s{i}@example.org,New {i},ru" for i in range(9)], "b.csv")
    report = _import(store, renamed, 2)
    assert [(n.line, n.reason) for n in report.skipped] == [
        (3, "address is bounced"),
        (6, "address is complained"),
        (7, "address is unsubscribed from weekly"),
        (9, "address is unsubscribed"),
    ]
    assert (report.updated, report.unchanged) == (5, 0)
    with store.session() as s:
        found = {
            email: (status, link)
            for email, status, link in s.execute(
                select(Subscriber.email, Subscriber.status, Subscription.status)
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            )
        }
    assert found["s1@example.org"] == ("bounced", "active")
    assert found["s4@example.org"] == ("complained", "active")
    assert found["s5@example.org"] == ("active", "unsubscribed")
    assert found["s7@example.org"] == ("unsubscribed", "active")


def test_a_bad_row_at_the_end_of_a_long_list_stores_nothing(store: Store, tmp_path: Path) -> None:
    """Rows are all checked before the first chunk is written: one bad row, nothing stored."""
    rows = [f"ok{i}@example.org,Ok,kk" for i in range(5000)] + ["broken@,B,kk"]
    report = subs.import_csv(store, _write(tmp_path, rows), "weekly", default_language="kk")
    assert [(n.line, n.email) for n in report.rejected] == [(5002, "broken@")]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert s.scalar(select(func.count()).select_from(MailingList)) == 0


def test_imported_addresses_get_distinct_opaque_ids(store: Store, tmp_path: Path) -> None:
    """Every imported subscriber gets its own 32-character id for links, unlike any other."""
    _import(store, _write(tmp_path, [f"t{i}@example.org,T,kk" for i in range(50)]), 7)
    with store.session() as s:
        ids = s.scalars(select(Subscriber.token_id)).all()
    assert len(set(ids)) == 50 and all(len(x) == 32 and int(x, 16) >= 0 for x in ids)


@pytest.mark.parametrize("chunk_size", [1, 1000])
def test_re_import_of_an_export_changes_nothing(
    store: Store, tmp_path: Path, chunk_size: int
) -> None:
    """What `export` writes imports again as all unchanged, in any chunk size."""
    path = _write(
        tmp_path, ["a@example.org,=1+2,kk", "b@example.org,-minus,ru", "c@example.org,C,en"]
    )
    _import(store, path, chunk_size)
    with store.session() as s:
        rows = csvfile.export_rows(s, "weekly")
    exported = tmp_path / "export.csv"
    exported.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    again = _import(store, exported, chunk_size)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
