"""Signed tokens for links in emails: unsubscribe, confirm, preferences.

A token carries the subscriber's opaque `token_id` (never the address), the purpose is
bound through a per-purpose salt so an unsubscribe token cannot confirm or open preferences.
"""

from __future__ import annotations

import os
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from publisher.errors import PublisherError

PURPOSES = ("unsubscribe", "confirm", "preferences")
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
    cls = URLSafeTimedSerializer if timed else URLSafeSerializer
    return cls(key, salt=f"publisher.{purpose}")


def make(key: str, purpose: str, token_id: str, extra: str = "") -> str:
    """A URL-safe token for `purpose`; `extra` binds e.g. the list slug of an unsubscribe."""
    return str(_serializer(key, purpose, purpose == "confirm").dumps([token_id, extra]))


def read(key: str, purpose: str, token: str, max_age: float | None = None) -> tuple[str, str]:
    """(token_id, extra) of a valid token; TokenError otherwise."""
    timed = purpose == "confirm"
    try:
        if timed:
            value = _serializer(key, purpose, True).loads(token, max_age=max_age)
        else:
            value = _serializer(key, purpose, False).loads(token)
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
