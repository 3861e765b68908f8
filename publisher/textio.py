"""Bytes to clean text: encodings seen in the wild, control characters, binary input."""

from __future__ import annotations

import re
from pathlib import Path

from publisher.errors import InputError

# C0 controls except TAB and LF, DEL, C1 controls; ESC sequences are removed whole.
_ESC_SEQ = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ESC_SEQ.sub("", text)
    return _CONTROLS.sub("", text)


def decode(data: bytes, name: str, *, lenient: bool = False, warnings: list[str]) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if lenient:
            line = data.count(b"\n", 0, exc.start) + 1
            warnings.append(f"line {line}: undecodable bytes replaced")
            return data.decode("utf-8", errors="replace")
        raise InputError(f"{name}: not UTF-8 at byte offset {exc.start}", "fix the file or import with --lenient") from None


def read_text(path: Path, *, lenient: bool = False, warnings: list[str]) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    return clean(decode(data, str(path), lenient=lenient, warnings=warnings))
