"""Which reverse proxies to believe: the same uvicorn settings for `serve` and `run`."""

from __future__ import annotations

from typing import Any

from publisher.core.config import Config


def proxy_settings(cfg: Config) -> dict[str, Any]:
    """uvicorn's proxy options from [web] trusted_proxies.

    Without a trusted proxy no X-Forwarded-* header is read: anyone could otherwise claim
    any address (and escape the subscribe rate limit) or https. With one, uvicorn takes the
    visitor's address and scheme from the headers that proxy sets, and only from it.
    """
    trusted = [p.strip() for p in cfg.web.trusted_proxies if p.strip()]
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(trusted)}
