"""VERP return paths: bounces+<tag>@domain, where the tag names one delivery, signed.

The tag is `<delivery id in base 36>-<13 characters of HMAC>`, lowercase letters and
digits only: some relays fold the case of local parts, and "+" and "-" pass every MTA
and URL unchanged. The HMAC stops anyone from forging bounces that suppress other readers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from publisher.subscribers.tokens import purpose_key

_TAG = re.compile(r"^([0-9a-z]{1,13})-([a-z2-7]{13})$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _ALPHABET[r] + out
        if not n:
            return out


def _mac(key: str, ident: str) -> str:
    # Its own purpose key: a VERP tag can never be replayed as a link token, nor the reverse.
    digest = hmac.new(purpose_key(key, "verp"), ident.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest[:8]).decode("ascii").rstrip("=").lower()


def tag(key: str, delivery_id: int) -> str:
    ident = _base36(delivery_id)
    return f"{ident}-{_mac(key, ident)}"


def read_tag(key: str, text: str) -> int | None:
    """The delivery id of a genuine tag, else None."""
    m = _TAG.match(text.strip().lower())
    if m is None or not hmac.compare_digest(m.group(2), _mac(key, m.group(1))):
        return None
    return int(m.group(1), 36)


def return_path(bounce_address: str, key: str, delivery_id: int) -> str:
    """bounces@example.kz -> bounces+<tag>@example.kz for this delivery."""
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{tag(key, delivery_id)}@{domain}"


def delivery_of(address: str, key: str) -> int | None:
    """The delivery id named by a VERP address (any base mailbox), else None."""
    local = address.strip().strip("<>").rpartition("@")[0]
    _, plus, suffix = local.rpartition("+")
    return read_tag(key, suffix) if plus else None
