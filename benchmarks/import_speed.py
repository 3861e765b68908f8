"""Import speed: MB of text dumps per second on a generated 50 MB corpus, with peak memory.

    python benchmarks/import_speed.py [--mb 50] [--no-old]

Prints one JSON document and a short table. The reference is the floor any importer pays:
read the same bytes, decode them and split them into paragraphs; it is measured again right
before each import, so that each ratio import/reference compares two figures taken under the
same load. The ratios are what to compare across machines; absolute MB/s are not a pass/fail
figure.

Rows, each a fresh process into a fresh store (its peak RSS is its own): the old path (ORM,
one article at a time, parsing in this process), the bulk store with parsing in this
process, the bulk store with the parse pool (what `publisher import` does), and a re-import
of the same corpus into that store, then the command itself (`python -m publisher import
DIR --json` into a new store, timed from process start to exit: interpreter start, the
command's imports and the store's migrations included; its CPU and RSS are its own
process's, without the workers). Peak RSS is given for the importing process and for its
largest parse worker; CPU seconds (the run's process and its workers) and MB per CPU second,
with the load average, for a shared machine where other work stretches wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher.core import config
from publisher.ingest import importer
from publisher.store.engine import open_store

# The material of the generated corpus; the later segmentation sets (blind4_* to blind9_*)
# stay out, so the corpus is the one earlier figures were measured on.
SAMPLES = sorted((ROOT / "samples" / "import").glob("*.txt")) + sorted(
    p for p in (ROOT / "tests" / "fixtures" / "import").glob("*.txt")
    if not p.name.startswith(("blind4_", "blind5_", "blind6_", "blind7_", "blind8_", "blind9_"))
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


def _max_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def command(corpus: Path, data_dir: Path) -> None:
    """`publisher import DIR --json` as an admin runs it, timed from process start to exit
    (interpreter start, the command's imports, the new store's migrations, the report):
    prints its figures as one JSON line. CPU and peak RSS are the command's own process;
    its parse workers are children of the fork server, which it does not wait for."""
    env = {**os.environ, "PUBLISHER_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "publisher", "import", str(corpus), "--json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "seconds": elapsed, "cpu_seconds": own.ru_utime + own.ru_stime,
        "totals": json.loads(out)["totals"], "max_rss_mb": own.ru_maxrss / 1024,
        "max_rss_before_import_mb": 0.0, "max_rss_worker_mb": 0.0,
    }))


def child(corpus: Path, data_dir: Path, writer: str, workers: int | None) -> None:
    """One import run, in its own process: prints its figures as one JSON line."""
    cfg = config.load(environ={"PUBLISHER_DATA_DIR": str(data_dir)})
    store = open_store(cfg)
    rss_before = _max_rss_mb(resource.RUSAGE_SELF)
    started, cpu = time.perf_counter(), time.process_time()
    # pause_gc as `publisher import` asks for it.
    report = importer.import_paths(store, [corpus], writer=writer,  # type: ignore[arg-type]
                                   workers=workers, pause_gc=True)
    elapsed = time.perf_counter() - started
    store.close()
    # Parse workers fork from multiprocessing's fork server, a child of this process: their
    # CPU time and peak RSS reach RUSAGE_CHILDREN once it has reaped them and exited itself.
    server = getattr(forkserver, "_forkserver", None)  # private: absent, the figures omit them
    if server is not None and hasattr(server, "_stop"):
        server._stop()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu + kids.ru_utime + kids.ru_stime,
        "totals": report.totals(),
        "max_rss_mb": _max_rss_mb(resource.RUSAGE_SELF),
        "max_rss_before_import_mb": rss_before,
        "max_rss_worker_mb": _max_rss_mb(resource.RUSAGE_CHILDREN),
    }))


RUNS = [
    ("old: ORM, parse in-process", "orm", 1, "old"),
    ("new: bulk, parse in-process", "bulk", 1, "serial"),
    ("new: bulk, parse pool", "bulk", None, "pool"),
    ("new: re-import, same corpus", "bulk", None, "pool"),
    ("`publisher import`, end to end", "cli", None, "cli"),
]


def _run(corpus: Path, data_dir: Path, writer: str, workers: int | None) -> dict[str, Any]:
    # Started with -c, not as a script: a parse worker then runs no main script again, so
    # the fork server preloads the parser alone, as under `publisher import` (a script's
    # imports, the whole storing side, would cost it 0.3 s more before the first parse).
    start = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); " \
            "import import_speed; import_speed.main()"
    cmd = [sys.executable, "-c", start, "--child", str(corpus), str(data_dir), writer,
           str(workers or 0)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="corpus size in MB (default 50)")
    parser.add_argument("--no-old", action="store_true", help="skip the old (ORM) path")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        corpus, data_dir, writer, workers = args.child
        if writer == "cli":
            command(Path(corpus), Path(data_dir))
        else:
            child(Path(corpus), Path(data_dir), writer, int(workers) or None)
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        size = generate(corpus, args.mb)
        mb = size / 1048576
        for label, writer, workers, store_name in RUNS:
            if args.no_old and writer == "orm":
                continue
            ref = min(reference(corpus) for _ in range(2))
            got = _run(corpus, Path(tmp) / store_name, writer, workers)
            got.update(
                what=label, import_mb_per_s=mb / got["seconds"], reference_seconds=ref,
                reference_mb_per_s=mb / ref, ratio_import_to_reference=got["seconds"] / ref,
                # CPU time is what other work on the machine does not stretch; the load
                # average says how much of that there was.
                mb_per_cpu_s=mb / got["cpu_seconds"], load_average=os.getloadavg()[0],
            )
            rows.append(got)
    doc = {"corpus_mb": round(mb, 1), "files": rows[0]["totals"]["files"], "runs": [
        {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows
    ]}
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    print()
    print(f"{'what':<32}{'seconds':>8}{'MB/s':>7}{'ref MB/s':>9}{'ratio':>7}"
          f"{'CPU s':>7}{'MB/CPU s':>9}{'RSS MB':>7}{'worker':>7}{'load':>6}")
    for r in rows:
        print(f"{r['what']:<32}{r['seconds']:>8.1f}{r['import_mb_per_s']:>7.2f}"
              f"{r['reference_mb_per_s']:>9.0f}{r['ratio_import_to_reference']:>6.0f}x"
              f"{r['cpu_seconds']:>7.1f}{r['mb_per_cpu_s']:>9.2f}{r['max_rss_mb']:>7.0f}"
              f"{r['max_rss_worker_mb']:>7.0f}{r['load_average']:>6.1f}")


if __name__ == "__main__":
    main()
