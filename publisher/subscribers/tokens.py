"""Signed tokens for links in emails: unsubscribe, confirm, preferences.

A token carries the subscriber's opaque `token_id` (never the address), the purpose is
bound through a per-purpose salt so an unsubscribe token cannot confirm or open preferences.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from publisher.core.errors import PublisherError

PURPOSES = ("unsubscribe", "confirm", "preferences", "verp")
# Only the demo and the tests may run without a configured key; they pass it explicitly.
DEMO_KEY = "publisher-demo-key-not-secret"


class TokenError(Exception):
    """The token is forged, expired or made for another purpose.

    An expired token was genuinely signed by us, so its `extra` is kept: the page that says
    "expired" can then speak the language the person chose.
    """

    def __init__(self, reason: str, extra: str = "") -> None:
        super().__init__(reason)
        self.extra = extra


def secret_key(configured: str | None, *, demo: bool = False) -> str:
    key = configured or os.environ.get("PUBLISHER_SECRET_KEY")
    if key:
        return key
    if demo:
        return DEMO_KEY
    raise PublisherError(
        "no signing key: PUBLISHER_SECRET_KEY is not set",
        "export PUBLISHER_SECRET_KEY=<32+ random characters> (keep it: old links depend on it)",
    )


def _serializer(key: str, purpose: str, timed: bool) -> Any:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return URLSafeTimedSerializer(key, salt=f"publisher.{purpose}")


@lru_cache(maxsize=64)
def purpose_key(key: str, purpose: str) -> bytes:
    """Per-purpose key: a token signed for one purpose never verifies for another (links,
    VERP return paths)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return hmac.new(key.encode("utf-8"), f"publisher.{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make(key: str, purpose: str, token_id: str, extra: str = "") -> str:
    """A URL-safe token for `purpose`; `extra` binds e.g. the list slug of an unsubscribe.

    Unsubscribe and preferences links are made for every recipient of every digest, so
    they are a bare HMAC over "token_id LF extra" (no JSON, no compression); confirmation
    links also carry their creation time and expire.
    """
    if purpose == "confirm":
        return str(_serializer(key, purpose, True).dumps([token_id, extra]))
    body = _b64(f"{token_id}\n{extra}".encode())
    mac = hmac.new(purpose_key(key, purpose), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac[:18])}"


def _read_plain(key: str, purpose: str, token: str) -> tuple[str, str]:
    body, _, sig = token.rpartition(".")
    try:
        mac = _unb64(sig)
        raw = _unb64(body).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise TokenError("invalid") from None
    good = hmac.new(purpose_key(key, purpose), body.encode("ascii"), hashlib.sha256).digest()
    if not body or not hmac.compare_digest(mac, good[:18]):
        raise TokenError("invalid")
    token_id, sep, extra = raw.partition("\n")
    if not sep:
        raise TokenError("invalid")
    return token_id, extra


def read(key: str, purpose: str, token: str, max_age: float | None = None) -> tuple[str, str]:
    """(token_id, extra) of a valid token; TokenError otherwise."""
    if purpose != "confirm":
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        if not token.isascii():
            raise TokenError("invalid")
        return _read_plain(key, purpose, token)
    try:
        value = _serializer(key, purpose, True).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        try:
            value = _serializer(key, purpose, True).load_payload(exc.payload)
        except BadSignature:
            value = None
        extra = value[1] if isinstance(value, list) and len(value) == 2 else ""
        raise TokenError("expired", extra if isinstance(extra, str) else "") from None
    except BadSignature:
        raise TokenError("invalid") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise TokenError("invalid")
    return value[0], value[1]
