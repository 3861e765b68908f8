"""Bytes to clean text: encodings seen in the wild, control characters, binary input.

Decisions are made on the first megabyte where possible, so a 1 GB binary or a file that is
one endless line is rejected without reading it all.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from publisher.core.errors import InputError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
HEAD_BYTES = 1024 * 1024
# A paragraph of a news article is a few thousand characters; beyond this a "line" is data.
MAX_LINE_CHARS = 100_000

_UTF8_BOM = b"\xef\xbb\xbf"
_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (DOCX/XLSX/ODT?)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (DOC/XLS)"),
)
# Well-formed multi-byte UTF-8 sequences: in a cp1251 file they are rare accidents, in a
# UTF-8 file with a few bad bytes they are nearly all of the non-ASCII bytes.
_UTF8_SEQ = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_HIGH = re.compile(rb"[\x80-\xff]")
# Bytes where KZ-1048 (Kazakh Windows) has Kazakh letters and cp1251 has Serbian/Ukrainian ones.
_KZ1048_BYTES = re.compile(rb"[\x8d\x8e\x9d\x9e\xa1\xa2\xa3\xa5\xaa\xaf\xb4\xba\xbc\xbd\xbe\xbf]")

# ESC sequences (CSI and two-byte) go whole, so no "[31m" debris is left behind.
_ESC_SEQ = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# C0 controls except TAB and LF, DEL, C1 controls, BOMs and bidi/zero-width format marks that
# only confuse titles and slugs.
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_BINARY_CONTROLS = bytes([*range(0, 9), 11, 14, 15, *range(16, 27), 28, 29, 30, 31])


def clean(text: str) -> str:
    """Normalise newlines, drop control characters, compose to NFC."""
    if "\r" in text:
        # Old Mac files use CR alone; elsewhere a CR outside CRLF is debris.
        text = text.replace("\r", "\n") if "\n" not in text else text.replace("\r\n", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    if "\x1b" in text:
        text = _ESC_SEQ.sub("", text)
    text = _CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", text)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _sniff(head: bytes, name: str, size: int) -> None:
    """Reject binary input and endless lines from the first chunk alone."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InputError(f"{name}: binary file ({what}), not text",
                             "export the articles as .txt, .jsonl or .md")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 with BOM: NULs are expected
    if not head:
        return
    nuls = head.count(b"\x00")
    controls = len(head) - len(head.translate(None, _BINARY_CONTROLS))
    if nuls > max(16, len(head) // 200) or controls > max(32, len(head) // 20):
        at = head.find(b"\x00") if nuls else 0
        raise InputError(f"{name}: binary file (control bytes from byte offset {at}), not text",
                         "import text dumps, JSON Lines or Markdown")
    if size > len(head) and b"\n" not in head and b"\r" not in head:
        raise InputError(
            f"{name}: no line break in the first {len(head) // 1024} KB: not an article dump",
            "articles are a title line, a blank line and paragraphs separated by blank lines",
        )


def _looks_cp1251(data: bytes) -> bool:
    """Not UTF-8 at all (hardly any valid sequences) and mostly Cyrillic letters as cp1251."""
    high = len(_HIGH.findall(data, 0, 4 * HEAD_BYTES))
    if high == 0:
        return False
    valid = sum(len(m) for m in _UTF8_SEQ.findall(data, 0, 4 * HEAD_BYTES))
    if valid * 5 > high:
        return False
    sample = data[: 4 * HEAD_BYTES].decode("cp1251", errors="replace")
    letters = cyrillic = 0
    for ch in sample:
        if ch.isalpha():
            letters += 1
            if "\u0400" <= ch <= "\u04ff":
                cyrillic += 1
    # One stray byte in an English file would decode to one "Cyrillic" letter: not enough.
    return cyrillic >= 20 and cyrillic * 4 >= letters


def decode(data: bytes, name: str, *, lenient: bool = False, warnings: list[str]) -> str:
    """UTF-8 (BOM or not), UTF-16 with BOM, or Windows-1251/KZ-1048 when clearly so."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: broken UTF-16 at byte offset {exc.start}",
                             "re-save the file as UTF-8") from None
    bom = data.startswith(_UTF8_BOM)
    if bom:
        data = data[len(_UTF8_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start + (len(_UTF8_BOM) if bom else 0)
        if not bom and _looks_cp1251(data):
            kz = len(_KZ1048_BYTES.findall(data, 0, 4 * HEAD_BYTES))
            return data.decode("kz1048" if kz >= 3 else "cp1251")
        if not lenient:
            line = _line_of(data, exc.start)
            raise InputError(
                f"{name}: not valid UTF-8 at byte offset {first_bad} (line {line})",
                "fix those bytes, save the file as UTF-8, or import with --lenient to replace them",
            ) from None
    text = data.decode("utf-8", errors="replace")
    lines = sorted({n + 1 for n, line in enumerate(text.split("\n")) if "\ufffd" in line})
    shown = ", ".join(str(n) for n in lines[:10])
    if len(lines) > 10:
        shown += f" and {len(lines) - 10} more"
    warnings.append(f"undecodable bytes replaced with U+FFFD on line {shown}")
    return text


def _check_lines(text: str, name: str) -> None:
    """InputError for a line over MAX_LINE_CHARS. A line that long holds a whole aligned block
    of half that size, so blocks with a line break in each clear the text in a few C calls;
    the line-by-line walk (50,000 lines in a 2 MB dump) runs only when one has none."""
    half = MAX_LINE_CHARS // 2
    if all(text.find("\n", s, s + half) >= 0 for s in range(0, len(text) - half + 1, half)):
        return
    start = 0
    line_no = 1
    while True:
        end = text.find("\n", start)
        stop = len(text) if end < 0 else end
        if stop - start > MAX_LINE_CHARS:
            raise InputError(
                f"{name}: line {line_no} is {stop - start:,} characters long: not an article dump",
                "articles are a title line, a blank line and paragraphs separated by blank lines",
            )
        if end < 0:
            break
        start, line_no = end + 1, line_no + 1


def read_text(
    path: Path, *, lenient: bool = False, warnings: list[str], max_bytes: int = DEFAULT_MAX_BYTES,
) -> str:
    """The clean text of one import file, or InputError naming the file and the reason."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"{path}: {size / 1048576:.1f} MB is over the import limit of "
                f"{max_bytes / 1048576:.0f} MB",
                "split the file or raise [import] max_file_mb",
            )
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
            _sniff(head, str(path), size)
            data = head + fh.read(max_bytes + 1 - len(head))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:  # grew while we read it
        raise InputError(f"{path}: over the import limit of {max_bytes / 1048576:.0f} MB",
                         "split the file or raise [import] max_file_mb")
    text = clean(decode(data, str(path), lenient=lenient, warnings=warnings))
    if not text.strip():
        raise InputError(f"{path}: empty file (nothing but whitespace)", "check the export")
    _check_lines(text, str(path))
    return text
