"""Saving one file's articles with set-based lookups and bulk Core statements.

`articles.save` goes through the ORM one article at a time; at import sizes the unit of
work, the identity map and one slug query per article were most of the import time. This
module makes the same decisions (same outcomes, same rows, same ids, in the same order) on
plain dicts: it reads what the batch needs in a few IN queries, applies the articles in file
order in memory, then writes new rows with one executemany per table and changed rows with
one UPDATE executemany per table. tests/store/test_bulk_equivalence.py holds it to the ORM
path row for row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Insert, Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from publisher import LANGUAGES
from publisher.store.articles import (
    Outcome,
    ParsedArticle,
    _blocks_json,
    article_id,
    derive_summary,
    fingerprint,
    normalise_key,
    slugify,
)
from publisher.store.engine import RawJSON
from publisher.store.models import Article, ArticleText, UTCDateTime, utcnow
from publisher.store.parsed import blocks_text

ARTICLES: Table = Article.__table__  # type: ignore[assignment]
TEXTS: Table = ArticleText.__table__  # type: ignore[assignment]
_CHUNK = 500  # ids per IN (...): far below every backend's bound-parameter limit
_ART_COLUMNS = [c.name for c in ARTICLES.columns]
_TEXT_COLUMNS = [c.name for c in TEXTS.columns]

# Numbered slugs asked for at once when a base is taken (exact matches use the unique index
# on every backend, where LIKE 'base-%' scans the table on SQLite).
_SLUG_WINDOW = 16

Row = dict[str, Any]
# Called with an article's row and its slots' rows when its source text is about to be
# replaced while it has translations; it may replace a slot's "blocks", which is written back.
BeforeReplace = Callable[[Row, list[Row]], None]


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@dataclass
class Overlay:
    """A dry run's decisions so far, in place of the writes it does not make: later files
    read them as if the earlier ones had been stored. (Writing and rolling back would hold
    the store's write lock for the whole run.)"""

    articles: dict[str, Row] = field(default_factory=dict)
    texts: dict[str, list[Row]] = field(default_factory=dict)
    slugs: dict[str, str] = field(default_factory=dict)  # of the articles new in the run

    def keep(self, b: _Batch) -> None:
        self.articles.update(b.work)
        self.texts.update((aid, b.texts[aid]) for aid in b.work if aid in b.texts)
        self.slugs.update(b.pending_slugs)


class _Batch:
    """What one file's save knows: the store's rows it touches, and what it has decided."""

    def __init__(self, session: Session, batch: list[ParsedArticle],
                 overlay: Overlay | None = None, numbers: dict[str, int] | None = None,
                 keys: list[str] | None = None) -> None:
        self.session = session
        self.overlay = overlay or Overlay()
        self.blocks = [_blocks_json(p.blocks) for p in batch]
        # The blocks' JSON text, made once for the fingerprint and for the row (by identity
        # of the list, which a slot keeps until something replaces it).
        self.blocks_json: dict[int, tuple[list[dict[str, str]], str]] = {
            id(blocks): (blocks, blocks_text(p.blocks))
            for p, blocks in zip(batch, self.blocks, strict=True)
        }
        self.fps = [fingerprint(p, self.blocks_json[id(blocks)][1])
                    for p, blocks in zip(batch, self.blocks, strict=True)]
        self.keys = keys if keys is not None else [normalise_key(p.title) for p in batch]
        self._ids: dict[str, str] = {}
        ids: set[str] = set()
        for p, key in zip(batch, self.keys, strict=True):
            ids.add(self.id_of(key))
            if p.date is not None:
                ids.add(self.id_of(f"{key} {p.date.date().isoformat()}"))
        # Articles in the store when the file starts; decisions read these, never the
        # rows written for earlier articles of the same file (those live in `work`).
        self.stored: dict[str, Row] = {}
        for chunk in _chunks(sorted(ids)):
            for r in session.execute(select(ARTICLES).where(ARTICLES.c.id.in_(chunk))):
                self.stored[r.id] = dict(r._mapping)
        self.stored.update((aid, dict(self.overlay.articles[aid])) for aid in ids
                           if aid in self.overlay.articles)
        self.work: dict[str, Row] = {}  # articles created or changed by this file, by id
        self.texts: dict[str, list[Row]] = {}  # their translation slots
        self.new_articles: list[Row] = []
        self.new_texts: list[Row] = []  # in creation order: the ORM's order, so the same ids
        self.dirty_articles: dict[str, Row] = {}
        self.dirty_texts: dict[int, Row] = {}
        self.pending_slugs: dict[str, str] = {}
        self._slug_owner: dict[str, str | None] = {}
        self._slug_next = numbers if numbers is not None else {}
        self._prefetch_texts(batch)

    def id_of(self, key: str) -> str:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = article_id(key)
        return found

    def _prefetch_texts(self, batch: list[ParsedArticle]) -> None:
        """Slots of the stored articles this file may change (a fingerprint differs), in
        one query; unchanged re-imports read none."""
        wanted: set[str] = set()
        for p, key, fp in zip(batch, self.keys, self.fps, strict=True):
            aids = [self.id_of(key)]
            if p.date is not None:
                aids.append(self.id_of(f"{key} {p.date.date().isoformat()}"))
            wanted.update(a for a in aids
                          if a in self.stored and self.stored[a]["fingerprint"] != fp)
        for chunk in _chunks(sorted(wanted)):
            self._load_texts(chunk)

    def _load_texts(self, aids: list[str]) -> None:
        for aid in aids:
            kept = self.overlay.texts.get(aid)
            self.texts[aid] = [dict(t) for t in kept] if kept is not None else []
        aids = [aid for aid in aids if aid not in self.overlay.texts]
        if not aids:
            return
        stmt = select(TEXTS).where(TEXTS.c.article_id.in_(aids)).order_by(TEXTS.c.id)
        for r in self.session.execute(stmt):
            self.texts[r.article_id].append(dict(r._mapping))

    def slots(self, aid: str) -> list[Row]:
        if aid not in self.texts:
            self._load_texts([aid])
        return self.texts[aid]

    def lookup(self, key: str) -> tuple[str, Row | None]:
        aid = self.id_of(key)
        art = self.work.get(aid)
        if art is None and aid in self.stored:
            art = self.work[aid] = dict(self.stored[aid])
        return aid, art

    # Slugs: the same answers as articles._unique_slug, from set-based exact lookups
    # (_unique_slug only tests the "base-N" strings of its LIKE answer, case-sensitively).
    def prefetch_slugs(self, bases: set[str]) -> None:
        todo = sorted(b for b in bases if b not in self._slug_owner)
        for chunk in _chunks(todo):
            for b in chunk:
                self._slug_owner[b] = None
            stmt = select(ARTICLES.c.slug, ARTICLES.c.id).where(ARTICLES.c.slug.in_(chunk))
            for slug, aid in self.session.execute(stmt):
                self._slug_owner[slug] = aid
            self._slug_owner.update((b, self.overlay.slugs[b]) for b in chunk
                                    if b in self.overlay.slugs)

    def slug_taken(self, base: str) -> bool:
        return self._slug_owner.get(base) is not None

    def unique_slug(self, base: str, own_id: str) -> str:
        if self.pending_slugs.get(base, own_id) == own_id:
            if base not in self._slug_owner:
                self.prefetch_slugs({base})
            owner = self._slug_owner[base]
            if owner is None or owner == own_id:
                return base
        # Only new articles get a slug, and what is taken only grows while a file is saved
        # (and while an import runs: it deletes nothing): numbers below the last one handed
        # out for this base stay taken, so each article resumes there (probing from 2 each
        # time was quadratic in articles per base).
        n = self._slug_next.get(base, 2)
        while True:
            slug = f"{base}-{n}"
            if slug not in self._slug_owner:
                # Windows grow with n: a base with many numbered variants costs a few queries.
                width = max(_SLUG_WINDOW, n)
                self.prefetch_slugs({f"{base}-{k}" for k in range(n, n + width)})
            if (self._slug_owner[slug] or own_id) == own_id and (
                self.pending_slugs.get(slug, own_id) == own_id
            ):
                self._slug_next[base] = n
                return slug
            n += 1


def _text(slots: list[Row], lang: str) -> Row | None:
    return next((t for t in slots if t["lang"] == lang), None)


def _touch_text(b: _Batch, slot: Row) -> None:
    if slot.get("id") is not None:
        b.dirty_texts[slot["id"]] = slot


def _new_slot(b: _Batch, aid: str, lang: str, now: datetime) -> Row:
    slot: Row = {"id": None, "article_id": aid, "lang": lang, "updated_at": now}
    b.texts.setdefault(aid, []).append(slot)
    b.new_texts.append(slot)
    return slot


def _keep_sources(b: _Batch, key: str, fp: str, before_replace: BeforeReplace) -> None:
    """What importer._keep_sources does on the ORM path, on this batch's rows."""
    aid = b.id_of(key)
    if aid not in b.stored:
        return  # new to the store (the ORM path skips those too, new in this file or not)
    art = b.work.get(aid) or b.stored[aid]
    if art["fingerprint"] == fp:
        return
    slots = b.slots(aid)
    if len(slots) <= 1:
        return
    before = [t["blocks"] for t in slots]
    before_replace(art, slots)
    for slot, blocks in zip(slots, before, strict=True):
        if slot["blocks"] is not blocks:
            _touch_text(b, slot)


def _apply(b: _Batch, parsed: ParsedArticle, key: str, fp: str, blocks: list[dict[str, str]],
           base: str, now: datetime) -> Outcome:
    """articles.save, decision for decision, on the batch's rows."""
    aid, art = b.lookup(key)
    if (
        art is not None and art["date_stated"] and parsed.date is not None
        and art["published_at"].date() != parsed.date.date()
    ):
        key = f"{key} {parsed.date.date().isoformat()}"
        aid, art = b.lookup(key)
    summary = parsed.summary or derive_summary(parsed.blocks)
    if art is not None and art["fingerprint"] == fp:
        return "unchanged"
    outcome: Outcome
    if art is None:
        slug = b.unique_slug(base, aid)
        art = {
            "id": aid, "key": key, "slug": slug, "source_lang": parsed.lang,
            "published_at": parsed.date or now, "date_stated": parsed.date is not None,
            "created_at": now, "updated_at": parsed.date or now,
            "categories": list(parsed.categories), "fingerprint": fp, "origin": parsed.origin,
            "hidden": False,
        }
        b.work[aid] = art
        b.texts[aid] = []
        b.new_articles.append(art)
        b.pending_slugs[slug] = aid
        outcome = "new"
    else:
        outcome = "updated"
        slots = b.slots(aid)
        if art["source_lang"] != parsed.lang:
            old = _text(slots, art["source_lang"])
            if old is not None:
                old["status"], old["source_fingerprint"] = "ready", ""
                _touch_text(b, old)
        art["source_lang"] = parsed.lang
        if parsed.date is not None:
            art["published_at"], art["date_stated"] = parsed.date, True
        art["updated_at"] = max(now, art["published_at"])
        art["categories"] = list(parsed.categories)
        art["fingerprint"] = fp
        art["origin"] = parsed.origin or art["origin"]
        if aid in b.stored:
            b.dirty_articles[aid] = art
    slots = b.texts[aid]
    src = _text(slots, parsed.lang) or _new_slot(b, aid, parsed.lang, now)
    src.update(title=parsed.title, summary=summary, blocks=blocks,
               status="source", ready_at=art["published_at"], source_fingerprint=fp,
               updated_at=now)
    _touch_text(b, src)
    for lang, tr in parsed.translations.items():
        if lang == parsed.lang or lang not in LANGUAGES:
            continue
        slot = _text(slots, lang) or _new_slot(b, aid, lang, now)
        status = "ready" if tr.status == "ready" else "draft"
        slot.update(title=tr.title, blocks=_blocks_json(tr.blocks),
                    summary=tr.summary or derive_summary(tr.blocks), status=status,
                    ready_at=now if status == "ready" else None, source_fingerprint=fp,
                    updated_at=now)
        _touch_text(b, slot)
    return outcome


def _memo(process: Callable[[Any], Any] | None, memo: bool) -> Callable[[Any], Any] | None:
    """`process` remembering its answers: a file's rows share a few timestamps (the import
    time, the dates of its articles), each converted once instead of per row and column."""
    if process is None or not memo:
        return process
    seen: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        # fold: two times of one zone an hour apart at a DST change compare equal.
        key = (value, value.fold) if isinstance(value, datetime) else value
        try:
            return seen[key]
        except KeyError:
            out = seen[key] = process(value)
            return out

    return cached


def _executemany(conn: Connection, stmt: Insert | Update, rows: list[Row]) -> None:
    """`conn.execute(stmt, rows)` for many rows, at a fraction of its CPU.

    SQLAlchemy builds and type-processes a parameter set per row through several layers,
    which cost three times what the database spends on the rows. This compiles the statement
    once for the connection's dialect, runs each value through the same bind processor
    SQLAlchemy would (so the stored values are the same: UTC datetimes, JSON, booleans) and
    hands the rows to the driver's executemany.
    """
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.escaped_bind_names:
        # Defaults computed in Python, or names the dialect escapes: SQLAlchemy's own way.
        conn.execute(stmt, rows)
        return
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    procs = [(i, p) for i, n in enumerate(names)
             if (p := _memo(compiled.binds[n].type._cached_bind_processor(dialect),
                            isinstance(compiled.binds[n].type, UTCDateTime))) is not None]
    # The row's values in C (itemgetter), then only the columns that have a processor.
    values = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    params: list[Any] = []
    for row in rows:
        got = list(values(row))
        for i, p in procs:
            got[i] = p(got[i])
        params.append(tuple(got) if compiled.positional else dict(zip(names, got, strict=True)))
    conn.exec_driver_sql(compiled.string, params)


def _as_written(b: _Batch, slot: Row) -> Row:
    """A text row with its blocks as the JSON text already made for its fingerprint."""
    made = b.blocks_json.get(id(slot["blocks"]))
    if made is None or made[0] is not slot["blocks"]:
        return slot
    return {**slot, "blocks": RawJSON(made[1])}


def _write(b: _Batch) -> None:
    conn = b.session.connection()
    if b.new_articles:
        _executemany(conn, insert(ARTICLES),
                     [{c: a[c] for c in _ART_COLUMNS} for a in b.new_articles])
    if b.dirty_articles:
        cols = [c for c in _ART_COLUMNS if c != "id"]
        stmt = (update(ARTICLES).where(ARTICLES.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in cols}))
        _executemany(conn, stmt, [{f"b_{c}": a[c] for c in _ART_COLUMNS}
                                  for a in b.dirty_articles.values()])
    if b.new_texts:
        cols = [c for c in _TEXT_COLUMNS if c != "id"]
        _executemany(conn, insert(TEXTS),
                     [{c: t[c] for c in cols} for t in map(partial(_as_written, b), b.new_texts)])
    if b.dirty_texts:
        cols = [c for c in _TEXT_COLUMNS if c not in ("id", "article_id")]
        stmt = (update(TEXTS).where(TEXTS.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in cols}))
        _executemany(conn, stmt, [{"b_id": t["id"], **{f"b_{c}": t[c] for c in cols}}
                                  for t in map(partial(_as_written, b), b.dirty_texts.values())])


def save_all(
    session: Session, batch: list[ParsedArticle], *, now: datetime | None = None,
    before_replace: BeforeReplace | None = None, dry_run: Overlay | None = None,
    slug_numbers: dict[str, int] | None = None, keys: list[str] | None = None,
) -> list[Outcome]:
    """Insert or update a file's articles inside the caller's transaction, in file order,
    with the outcome of each: what `articles.save` per article would store and answer.

    `before_replace` plays the importer's part before each save on the ORM path (recording
    the source text that translations were made from). With `dry_run`, nothing is written:
    the decisions go into that overlay, which the run's next files read. `slug_numbers`
    carries the numbered slugs handed out (the last number per base) from one file of a
    run to the next, which would otherwise probe a long title's numbers from 2 again.
    `keys`: `normalise_key` of each article's title, when the caller has them already.
    """
    now = now or utcnow()
    b = _Batch(session, batch, dry_run, slug_numbers, keys)
    # Slug bases of the articles that may be new (their undated id is not stored).
    bases = {i: p.slug or slugify(p.title) for i, (p, key) in enumerate(zip(batch, b.keys,
             strict=True)) if b.id_of(key) not in b.stored}
    b.prefetch_slugs(set(bases.values()))
    # Bases already taken, or wanted twice by this file, need numbered variants: their first
    # window in the same few queries.
    wanted = Counter(bases.values())
    numbered = {base for base, n in wanted.items() if n > 1 or b.slug_taken(base)}
    b.prefetch_slugs({f"{base}-{k}" for base in numbered for k in range(2, 2 + _SLUG_WINDOW)})
    outcomes: list[Outcome] = []
    for i, (parsed, key, fp) in enumerate(zip(batch, b.keys, b.fps, strict=True)):
        if parsed.lang not in LANGUAGES:
            raise ValueError(f"unknown language {parsed.lang!r}")
        if before_replace is not None:
            _keep_sources(b, key, fp, before_replace)
        base = bases.get(i) or parsed.slug or slugify(parsed.title)
        outcomes.append(_apply(b, parsed, key, fp, b.blocks[i], base, now))
    if dry_run is not None:
        dry_run.keep(b)
    else:
        _write(b)
    return outcomes
