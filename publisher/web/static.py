"""The built site as static files: content-hash ETags, Last-Modified, 304, feed media types."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

# Feed and page types by suffix; mimetypes lacks some and guesses application/json for
# JSON Feed. HTML, XML and JSON are UTF-8 throughout the site.
MEDIA_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".eml": "message/rfc822",
}


def media_type(path: str) -> str | None:
    name = os.path.basename(path)
    if name == "feed.json" or name.endswith(".feed.json"):
        return "application/feed+json; charset=utf-8"
    if name.endswith(".json"):
        return "application/json; charset=utf-8"
    return MEDIA_TYPES.get(os.path.splitext(name)[1])


class SiteFiles(StaticFiles):
    """StaticFiles with ETags from content, so a rebuild that rewrote a file with the same
    bytes (new mtime) still answers 304 to a feed reader's conditional GET."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self._etags: dict[str, tuple[int, int, str]] = {}

    async def check_config(self) -> None:
        # The site may not be built yet: answer 404 until it is, instead of failing.
        return None

    def _etag(self, path: str, stat: os.stat_result) -> str:
        cached = self._etags.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        digest = hashlib.blake2b(digest_size=12)
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                digest.update(chunk)
        etag = f'"{digest.hexdigest()}"'
        if len(self._etags) > 50_000:
            self._etags.clear()
        self._etags[path] = (stat.st_mtime_ns, stat.st_size, etag)
        return etag

    def file_response(
        self, full_path: Any, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        path = str(full_path)
        response = FileResponse(
            path, status_code=status_code, stat_result=stat_result, media_type=media_type(path),
            headers={
                "etag": self._etag(path, stat_result),
                # Revalidate every time: cheap with 304, and new articles show up at once.
                "cache-control": "no-cache",
            },
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response
