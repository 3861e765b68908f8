"""Import speed: MB of text dumps per second on a generated 50 MB corpus, with peak memory.

    python benchmarks/import_speed.py [--mb 50]

Prints one JSON document and a short table. The reference is the floor any importer pays:
read the same bytes, decode them and split them into paragraphs. The ratio importer/reference
is what to compare across machines; absolute MB/s are not a pass/fail figure.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher.core import config
from publisher.ingest import importer
from publisher.store.engine import open_store

SAMPLES = sorted((ROOT / "samples" / "import").glob("*.txt")) + sorted(
    (ROOT / "tests" / "fixtures" / "import").glob("*.txt")
)


def _articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) taken from the sample dumps, as material to recombine."""
    out: list[tuple[str, list[str]]] = []
    for path in SAMPLES:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1251")
        paras = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
        for i, p in enumerate(paras):
            if "\n" not in p and len(p) < 120 and not p.endswith(".") and i + 1 < len(paras):
                out.append((p, []))
            elif out:
                out[-1][1].append(p)
    return [a for a in out if len(a[1]) >= 2]


def generate(folder: Path, megabytes: float, seed: int = 7) -> int:
    """Files of ~2 MB, each a run of distinct articles (numbered titles, shuffled bodies)."""
    rng = random.Random(seed)
    pool = _articles()
    target = int(megabytes * 1024 * 1024)
    written = n = 0
    file_no = 0
    while written < target:
        chunks: list[str] = []
        size = 0
        while size < 2 * 1024 * 1024 and written + size < target:
            title, paras = rng.choice(pool)
            body = rng.sample(paras, k=len(paras))
            n += 1
            chunk = f"{title} ({n})\n\n" + "\n\n".join(body) + "\n\n"
            chunks.append(chunk)
            size += len(chunk.encode("utf-8"))
        data = "".join(chunks).encode("utf-8")
        (folder / f"dump_{file_no:03}.txt").write_bytes(data)
        written += len(data)
        file_no += 1
    return written


def reference(folder: Path) -> float:
    """Seconds to read, decode and split every file into paragraphs."""
    started = time.perf_counter()
    count = 0
    for path in sorted(folder.glob("*.txt")):
        text = path.read_bytes().decode("utf-8")
        count += len([p for p in text.split("\n\n") if p.strip()])
    assert count
    return time.perf_counter() - started


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="corpus size in MB (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        size = generate(corpus, args.mb)
        mb = size / 1048576
        ref = min(reference(corpus) for _ in range(2))
        cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(Path(tmp) / "var")})
        store = open_store(cfg)
        rss_before = _max_rss_mb()
        started = time.perf_counter()
        report = importer.import_paths(store, [corpus])
        elapsed = time.perf_counter() - started
        store.close()
    totals = report.totals()
    doc = {
        "corpus_mb": round(mb, 1),
        "files": totals["files"],
        "articles": totals["articles"],
        "new": totals["new"],
        "rejected": totals["rejected"],
        "import_seconds": round(elapsed, 2),
        "import_mb_per_s": round(mb / elapsed, 2),
        "reference_seconds": round(ref, 3),
        "reference_mb_per_s": round(mb / ref, 1),
        "ratio_import_to_reference": round(elapsed / ref),
        # Peak resident memory of this process (tracemalloc would slow the import several
        # times over); the corpus generator holds one 2 MB file at a time.
        "max_rss_mb": round(_max_rss_mb(), 1),
        "max_rss_before_import_mb": round(rss_before, 1),
    }
    print(json.dumps(doc, indent=2))
    print()
    print(f"{'what':<34}{'seconds':>10}{'MB/s':>10}")
    print(f"{'import (parse + store, SQLite)':<34}{elapsed:>10.2f}{mb / elapsed:>10.2f}")
    print(f"{'reference (read+decode+split)':<34}{ref:>10.3f}{mb / ref:>10.1f}")
    print(f"ratio {elapsed / ref:.0f}x; max RSS {doc['max_rss_mb']} MB "
          f"({doc['max_rss_before_import_mb']} MB before the import)")


if __name__ == "__main__":
    main()
