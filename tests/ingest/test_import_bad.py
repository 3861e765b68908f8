"""Bad input: rejected with a one-line reason naming the file, nothing of it stored."""

from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.core.errors import InputError
from publisher.ingest import formats, textio
from tests.conftest import Cli

QUIET = [HealthCheck.function_scoped_fixture]
GOOD = "A title line\n\nThe first paragraph of the body says something long enough.\n"


def _reject(cli: Cli, path: Path, *more: str) -> str:
    result = cli("import", str(path), *more)
    assert result.exit_code == 2, result.output
    lines = [x for x in result.stderr.splitlines() if x.startswith("publisher: rejected")]
    assert len(lines) == 1 and str(path) in lines[0]
    return lines[0]


def test_binary_file_is_rejected(cli: Cli, tmp_path: Path) -> None:
    """A binary file is rejected as binary, and nothing is stored."""
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 50)
    assert "binary" in _reject(cli, path)
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"abc\x00\x01\x02\x03" * 5000)
    assert "binary" in _reject(cli, blob)
    assert json.loads(cli("articles", "list", "--json").output) == []


@pytest.mark.parametrize("content", [b"", b"   \n\n\t \r\n", b"\xef\xbb\xbf\n\n"])
def test_empty_or_whitespace_file_is_rejected(cli: Cli, tmp_path: Path, content: bytes) -> None:
    """Empty and whitespace-only files are rejected as empty."""
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    assert "empty" in _reject(cli, path)


def test_one_endless_line_is_rejected_quickly(cli: Cli, tmp_path: Path) -> None:
    """A 2,000,000-character single line is rejected, in time linear in its length."""
    path = tmp_path / "line.txt"
    path.write_text("word " * 400_000, encoding="utf-8")
    tenth = tmp_path / "tenth.txt"
    tenth.write_text("word " * 40_000, encoding="utf-8")

    def cost(dump: Path) -> float:
        best = float("inf")
        for _ in range(3):  # the best of three: load on the machine only ever adds
            started = time.perf_counter()
            message = _reject(cli, dump)
            best = min(best, time.perf_counter() - started)
        assert "not an article dump" in message
        return best

    # A ratio within one run, not a wall-clock limit: ten times the text may cost about ten
    # times as much; a scan that is quadratic in the line length would cost a hundred times.
    assert cost(path) < 40 * cost(tenth)


def test_oversized_file_is_rejected_before_reading(cli: Cli, tmp_path: Path) -> None:
    """A file over [import] max_file_mb is rejected with the limit in the message."""
    path = tmp_path / "big.txt"
    with path.open("wb") as fh:
        fh.truncate(3 * 1024 * 1024)  # sparse: no disk, no read
    cli.env["PUBLISHER_IMPORT__MAX_FILE_MB"] = "1"
    assert "over the import limit of 1 MB" in _reject(cli, path)


def test_utf8_with_bad_bytes_is_rejected_with_the_offset(cli: Cli, tmp_path: Path) -> None:
    """UTF-8 with a few bad bytes is never read as cp1251: the byte offset is named."""
    body = "Заголовок новости\n\nТекст статьи на русском языке, вполне достаточный.\n".encode()
    path = tmp_path / "broken.txt"
    at = body.index("Текст".encode())
    path.write_bytes(body[:at] + b"\xff" + body[at:])
    message = _reject(cli, path)
    assert f"not valid UTF-8 at byte offset {at} (line 3)" in message
    assert json.loads(cli("articles", "list", "--json").output) == []


def test_lenient_replaces_bad_bytes_with_a_warning_naming_the_line(
    cli: Cli, tmp_path: Path
) -> None:
    """--lenient imports the file and warns about the line with replaced bytes."""
    path = tmp_path / "broken.txt"
    path.write_bytes(b"A title\n\nFirst paragraph \xe9 of the body text here.\n")
    result = cli("import", str(path), "--lenient")
    assert result.exit_code == 0, result.output
    assert "line 3" in result.stderr and "replaced" in result.stderr
    doc = json.loads(cli("articles", "list", "--json").output)[0]
    assert "\ufffd" in doc["blocks"][0]["text"] and "é" not in doc["blocks"][0]["text"]


def test_rejected_file_does_not_stop_the_others(cli: Cli, tmp_path: Path) -> None:
    """One bad file: exit status 2, yet the good files in the same command are imported."""
    (tmp_path / "a_bad.txt").write_bytes(b"\x00" * 1000)
    (tmp_path / "b_good.txt").write_text(GOOD, encoding="utf-8")
    result = cli("import", str(tmp_path), "--json")
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert [f["status"] for f in report["files"]] == ["rejected", "imported"]
    assert [d["title"] for d in json.loads(cli("articles", "list", "--json").output)] == [
        "A title line"
    ]


def test_control_characters_are_removed(cli: Cli, tmp_path: Path) -> None:
    """NUL, VT, ESC sequences, DEL, C1 and stray CR never reach the store."""
    path = tmp_path / "dirty.txt"
    path.write_bytes(
        b"\x1b[31mRed\x1b[0m title\x7f\r\n\r\n"
        b"Body \x00with\x0b controls\xc2\x85 and a\r stray CR.\n"
    )
    assert cli("import", str(path)).exit_code == 0
    doc = json.loads(cli("articles", "list", "--json").output)[0]
    assert doc["title"] == "Red title"
    assert doc["blocks"] == [{"kind": "paragraph", "text": "Body with controls and a stray CR."}]


def _no_controls(text: str) -> bool:
    return not any(unicodedata.category(c) == "Cc" and c != "\n" for c in text)


def _check(path: Path) -> None:
    try:
        parsed = formats.read(path, lenient=True)
    except InputError:
        return
    for art in parsed:
        assert art.title.strip() and _no_controls(art.title) and "\n" not in art.title
        assert art.lang in ("kk", "ru", "en")
        for block in art.blocks:
            assert block.kind in ("paragraph", "heading", "list")
            assert block.text.strip() and _no_controls(block.text)


@settings(max_examples=150, deadline=None, suppress_health_check=QUIET)
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400))
def test_random_text_never_crashes(tmp_path: Path, text: str) -> None:
    """Random text: parsed or rejected with InputError, never a crash or a control character."""
    path = tmp_path / "random.txt"
    path.write_text(text, encoding="utf-8")
    _check(path)


_PIECES = st.sampled_from([
    "\n", "\n\n", "Title Line", "Заголовок", "Жаңалық тақырыбы", "• item", "1. step", "— said",
    "A sentence that ends.", " date 2025-06-28 ", "Key points:", "\r", "\x00", "\x1b[1m", "?",
])


@settings(max_examples=150, deadline=None, suppress_health_check=QUIET)
@given(parts=st.lists(_PIECES, max_size=40))
def test_random_dump_shapes_never_crash(tmp_path: Path, parts: list[str]) -> None:
    """Random arrangements of titles, bullets, tokens and controls never crash the importer."""
    path = tmp_path / "shapes.txt"
    path.write_text("".join(parts), encoding="utf-8")
    _check(path)


@settings(max_examples=150, deadline=None, suppress_health_check=QUIET)
@given(data=st.binary(max_size=600))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    """Random bytes in every supported format: InputError or clean articles, nothing else."""
    for suffix in (".txt", ".jsonl", ".md"):
        path = tmp_path / f"random{suffix}"
        path.write_bytes(data)
        _check(path)


@pytest.mark.parametrize("shift", [0, 1, 49_999, 50_000, 50_001, 99_999])
@pytest.mark.parametrize("extra", [0, 1])
def test_a_line_over_the_limit_is_found_wherever_it_starts(
    tmp_path: Path, shift: int, extra: int,
) -> None:
    """A line one character over MAX_LINE_CHARS is rejected naming its line, at any offset
    in the file; a line of exactly MAX_LINE_CHARS is read."""
    lead = "Title\n\n" + "x" * shift + "\n\n"
    long = "y" * (textio.MAX_LINE_CHARS + extra)
    path = tmp_path / "long.txt"
    path.write_text(f"{lead}{long}\n\nLast paragraph.\n", encoding="utf-8")
    if extra:
        with pytest.raises(InputError, match=r"line 5 is 100,001 characters long"):
            textio.read_text(path, warnings=[])
    else:
        assert long in textio.read_text(path, warnings=[])
