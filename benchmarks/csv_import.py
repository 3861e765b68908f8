"""Subscriber CSV import: rows per second on a generated 300,000-row list, with peak memory.

    python benchmarks/csv_import.py [--rows 300000] [--postgres postgresql://user@host/db]

Prints one JSON document and a short table. The reference is the floor any importer pays:
read the same bytes, decode them and split them into rows with the csv module. The ratio
import/reference is what to compare across machines; absolute seconds are not a pass/fail
figure. The list is imported twice: the second run finds every address unchanged. The
store is SQLite in a temp dir, or with --postgres a scratch database created on that server
(and dropped afterwards; the database named in the URL is left untouched).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text

from publisher.core import config
from publisher.store.engine import open_store
from publisher.subscribers import csvfile

NAMES = {
    "kk": ["Әйгерім Нұрланова", "Ерлан Сәрсенов", "Гүлнар Жұмабаева", "Нұрсұлтан Әлиев"],
    "ru": ["Иван Петров", "Ольга Смирнова", "Анна Ли", "Борис Ёлкин"],
    "en": ["John Smith", "Mary Jones", "Dana Brown", "Alex Kim"],
}
LANGUAGE_SPELLINGS = {"kk": ["kk", "қазақша", "Kazakh"], "ru": ["ru", "русский"], "en": ["en"]}
ZONES = ["Asia/Almaty", "Asia/Aqtobe", "Asia/Oral", "Europe/Moscow", ""]


def generate(path: Path, rows: int, seed: int = 11) -> int:
    """A list as an office exports it: header, mixed languages and spellings, some zones."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\r\n")
        out.writerow(["email", "name", "language", "timezone"])
        for i in range(rows):
            lang = rng.choice(("kk", "ru", "en"))
            domain = rng.choice(("example.kz", "mail.example.org", "univer.example.edu"))
            out.writerow([
                f"user.{i}@{domain}", f"{rng.choice(NAMES[lang])} {i}",
                rng.choice(LANGUAGE_SPELLINGS[lang]), rng.choice(ZONES),
            ])
    return path.stat().st_size


def reference(path: Path) -> float:
    """Seconds to read, decode and split the file into rows with the csv module."""
    started = time.perf_counter()
    text = path.read_bytes().decode("utf-8")
    count = sum(1 for _ in csv.reader(io.StringIO(text, newline="")))
    assert count
    return time.perf_counter() - started


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """The URL of a new empty database on the server of `server_url`, dropped afterwards."""
    name = f"publisher_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(tmp: Path, rows: int, store_url: str) -> dict[str, Any]:
    """Generate the list in `tmp`, time the reference and two imports: the JSON document."""
    path = tmp / "subscribers.csv"
    size = generate(path, rows)
    ref = min(reference(path) for _ in range(3))
    env = {"PUBLISHER_DATA_DIR": str(tmp / "var")}
    if store_url:
        env["PUBLISHER_STORE__URL"] = store_url
    store = open_store(config.load(environ=env))
    try:
        rss_before = _max_rss_mb()
        started = time.perf_counter()
        report = csvfile.import_csv(store, path, "weekly", default_language="kk")
        elapsed = time.perf_counter() - started
        rss_import = _max_rss_mb()
        started = time.perf_counter()
        again = csvfile.import_csv(store, path, "weekly", default_language="kk")
        again_elapsed = time.perf_counter() - started
    finally:
        store.close()
    assert report.added == rows and again.unchanged == rows, (report, again)
    return {
        "rows": rows,
        "file_mb": round(size / 1048576, 1),
        "store": "postgresql" if store_url else "sqlite",
        "import_seconds": round(elapsed, 2),
        "import_rows_per_s": round(rows / elapsed),
        "reimport_seconds": round(again_elapsed, 2),
        "reference_seconds": round(ref, 3),
        "reference_rows_per_s": round(rows / ref),
        "ratio_import_to_reference": round(elapsed / ref, 1),
        # Peak resident memory of this process; the generator writes one row at a time.
        "max_rss_mb": round(_max_rss_mb(), 1),
        "max_rss_after_first_import_mb": round(rss_import, 1),
        "max_rss_before_import_mb": round(rss_before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000, help="rows (default 300000)")
    parser.add_argument("--postgres", default="", metavar="URL",
                        help="measure on a scratch database of this PostgreSQL server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            with scratch_database(args.postgres) as url:
                doc = measure(Path(tmp), args.rows, url)
        else:
            doc = measure(Path(tmp), args.rows, "")
    print(json.dumps(doc, indent=2))
    print()
    rows, ref = doc["rows"], doc["reference_seconds"]
    print(f"{'what':<36}{'seconds':>10}{'rows/s':>12}")
    for label, seconds in (("import (check + store)", doc["import_seconds"]),
                           ("re-import (all unchanged)", doc["reimport_seconds"]),
                           ("reference (read+decode+csv split)", ref)):
        print(f"{label:<36}{seconds:>10.3f}{rows / seconds:>12.0f}")
    print(f"ratio {doc['ratio_import_to_reference']}x; max RSS {doc['max_rss_mb']} MB "
          f"({doc['max_rss_before_import_mb']} MB before the import)")


if __name__ == "__main__":
    main()
