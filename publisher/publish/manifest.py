"""What each page of the last site build was made from, so an unchanged page is not rendered.

Every page and feed gets a fingerprint of its inputs: the article texts and statuses it
shows, its neighbours on an index page, and the global inputs every page shares (templates,
catalogs, the [site] and [i18n] configuration, the code's version). A rebuild renders only
pages whose fingerprint changed or whose file is gone, and deletes the pages of articles
that are no longer there. The manifest lives in data_dir/cache/, outside the published site.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from publisher import LANGUAGES, __version__
from publisher.core.atomic import write_text
from publisher.core.config import Config
from publisher.i18n.locale import LOCALES_DIR, TEMPLATES_DIR
from publisher.store.models import Article

FORMAT = 1


def _digest(*parts: Any) -> str:
    data = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.blake2b(data.encode("utf-8"), digest_size=16).hexdigest()


def _tree(root: Path, patterns: Iterable[str]) -> list[tuple[str, str]]:
    found = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                found.append((str(path.relative_to(root)),
                              hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()))
    return found


def global_inputs(cfg: Config) -> str:
    """What every page depends on besides its articles."""
    override = _tree(Path(cfg.template_dir), ["site/**/*"]) if cfg.template_dir else []
    return _digest(
        FORMAT, __version__, LANGUAGES, asdict(cfg.site), asdict(cfg.i18n),
        _tree(TEMPLATES_DIR, ["site/**/*"]), override, cfg.template_dir,
        _tree(LOCALES_DIR, ["*/LC_MESSAGES/*.po"]),
    )


def article_inputs(art: Article) -> str:
    """Everything of an article that any page or feed entry may show."""
    return _digest(
        art.id, art.slug, art.source_lang, art.published_at, art.date_stated, art.updated_at,
        art.categories, art.fingerprint,
        sorted((t.lang, t.title, t.summary, t.blocks, t.status, t.ready_at,
                t.source_fingerprint == art.fingerprint) for t in art.texts),
    )


class Manifest:
    """Fingerprints of the previous build (`old`) and of this one (`new`)."""

    def __init__(self, cfg: Config) -> None:
        self.path = cfg.data_dir / "cache" / "site-build.json"
        self.site_dir = cfg.site_dir
        self.old: dict[str, str] = {}
        self.new: dict[str, str] = {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        # Another site_dir (or an older format) shares nothing with this one.
        if doc.get("site_dir") == str(cfg.site_dir.resolve()) and doc.get("format") == FORMAT:
            self.old = dict(doc.get("pages", {}))

    def fresh(self, rel: str, fingerprint: str) -> bool:
        """Record the page's fingerprint; True when the file on disk already matches it."""
        self.new[rel] = fingerprint
        return self.old.get(rel) == fingerprint and (self.site_dir / rel).is_file()

    def stale(self) -> list[str]:
        """Pages of the previous build that this one did not produce (deleted articles)."""
        return sorted(set(self.old) - set(self.new))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "site_dir": str(self.site_dir.resolve()), "pages": self.new}
        write_text(self.path, json.dumps(doc, sort_keys=True), fsync=False)
