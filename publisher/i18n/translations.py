"""Translation slots as PO catalogs: export what needs translating, import what came back.

One PO entry per article field. msgctxt names the article and the field
(`<article-id>:title`, `<article-id>:summary`, `<article-id>:block:3`, blocks counted
from 1), msgid is the current source text, and the notes for translators (`#.`) give the
article's date and link. On import a fuzzy entry makes the slot a draft, a translated one
(with every field translated) makes it ready; untranslated entries are ignored.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polib
from babel.messages.plurals import get_plural
from sqlalchemy.orm import Session

from publisher import LANGUAGES, __version__
from publisher.core.config import Config
from publisher.core.errors import InputError
from publisher.i18n import textlang
from publisher.ingest.provenance import custom_summary, made_from, with_sources
from publisher.store.articles import Block, all_articles, derive_summary
from publisher.store.engine import Store
from publisher.store.models import Article, ArticleText, utcnow

TEAMS = {"kk": "Kazakh", "ru": "Russian", "en": "English"}
STATES = ("source", "ready", "draft", "outdated", "missing")
_CONTEXT = re.compile(r"^(?P<id>[0-9a-f]{16}):(?P<field>title|summary|block:(?P<n>[1-9][0-9]*))$")


def slot_state(article: Article, lang: str) -> str:
    """source | ready | draft | outdated | missing: what `lang` has for this article."""
    slot = article.text(lang)
    if slot is None:
        return "missing"
    if slot.outdated:
        return "outdated"
    return slot.status


def _fields(src: ArticleText) -> list[tuple[str, str, str]]:
    """(field, kind, source text) in reading order; empty texts have nothing to translate."""
    out = [("title", "title", src.title)]
    if custom_summary(src):
        out.append(("summary", "summary", src.summary))
    for n, block in enumerate(src.blocks, start=1):
        out.append((f"block:{n}", block["kind"], block["text"]))
    return [f for f in out if f[2].strip()]


def _existing(slot: ArticleText | None, src: ArticleText, name: str) -> str:
    """The slot's current text for field `name` when it lines up with the source structure."""
    if slot is None:
        return ""
    if name == "title":
        return slot.title
    if name == "summary":
        return slot.summary
    n = int(name.split(":")[1]) - 1
    if n < len(slot.blocks) and slot.blocks[n].get("kind") == src.blocks[n]["kind"]:
        return str(slot.blocks[n].get("text", ""))
    return ""


def _header(lang: str, now: datetime, cfg: Config) -> dict[str, str]:
    stamp = now.strftime("%Y-%m-%d %H:%M+0000")
    return {
        "Project-Id-Version": f"publisher {__version__} articles",
        "Report-Msgid-Bugs-To": f"news@{cfg.mail.domain}",
        "POT-Creation-Date": stamp,
        "PO-Revision-Date": stamp,
        "Last-Translator": f"{cfg.site.author} <news@{cfg.mail.domain}>",
        "Language-Team": f"{TEAMS[lang]} <news@{cfg.mail.domain}>",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": get_plural(lang).plural_forms,
        "X-Generator": f"publisher {__version__}",
    }


def _notes(cfg: Config, art: Article, lang: str, state: str) -> list[str]:
    date = art.published_at.date().isoformat()
    return [
        f"Article date: {date}" if art.date_stated
        else f"Article date: not stated (imported {date})",
        f"Link: {cfg.site.base_url.rstrip('/')}/{lang}/{art.slug}/",
        f"Source language: {art.source_lang}; this translation: {state}",
    ]


def _field_note(kind: str, name: str, total: int) -> str | None:
    if name.startswith("block:"):
        note = f"Block {name.split(':')[1]} of {total}: {kind}"
        if kind == "list":
            note += " (one item per line; keep the line breaks)"
        return note
    return None


@dataclass
class ExportResult:
    lang: str
    po: polib.POFile
    articles: dict[str, int] = field(default_factory=dict)  # state -> article count

    @property
    def entries(self) -> int:
        return len(self.po)


def _public_origin(origin: str) -> tuple[str, str]:
    """(file name, line) of an article's origin: a PO goes to outside translators, and the
    server's folder layout is none of their business."""
    path, sep, line = origin.rpartition(":")
    if not sep or not line.isdigit():
        path, line = origin, ""
    return Path(path).name, line


def export(cfg: Config, store: Store, lang: str, *, now: datetime | None = None) -> ExportResult:
    """The missing, draft and outdated `lang` slots as a PO catalog (drafts and outdated
    translations are prefilled and marked fuzzy, the way msgmerge hands them back; an
    outdated one also gives the source text it was made from as `#| msgid`)."""
    if lang not in LANGUAGES:
        raise InputError(f"--lang {lang}: unknown language", f"use one of {', '.join(LANGUAGES)}")
    now = now or utcnow()
    # No wrapping: links in the notes stay whole, and a paragraph is one line in diffs.
    po = polib.POFile(wrapwidth=0)
    po.header = (f"KazNMU news articles to translate into {TEAMS[lang]} ({lang}).\n"
                 f"Exported by publisher {__version__}.")
    po.metadata = _header(lang, now, cfg)
    result = ExportResult(lang, po)
    with store.session() as s:
        for art in all_articles(s):
            state = slot_state(art, lang)
            if state in ("source", "ready"):
                continue
            result.articles[state] = result.articles.get(state, 0) + 1
            src, slot = art.source_text, art.text(lang)
            notes = _notes(cfg, art, lang, state)
            occurrence = [_public_origin(art.origin)] if art.origin else []
            for name, kind, text in _fields(src):
                extra = _field_note(kind, name, len(src.blocks))
                prefill = _existing(slot, src, name).strip()
                # Translators' tools show `#| msgid` beside msgid as "what changed"; kept
                # even when this field's text did not change, which tells them just that.
                previous = made_from(slot, src, name) if prefill and state == "outdated" else ""
                po.append(polib.POEntry(
                    msgctxt=f"{art.id}:{name}",
                    msgid=text,
                    msgstr=prefill,
                    comment="\n".join([*notes, extra] if extra else notes),
                    occurrences=occurrence,
                    flags=["fuzzy"] if prefill else [],
                    previous_msgctxt=f"{art.id}:{name}" if previous else None,
                    previous_msgid=previous or None,
                ))
    return result


def write_po(po: polib.POFile, path: Path) -> None:
    """Write atomically: a translator's tool never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(str(po) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass
class ImportReport:
    path: str
    lang: str
    ready: int = 0
    draft: int = 0
    unchanged: int = 0
    skipped: int = 0  # articles in the file with no translated entry
    fuzzy_entries: int = 0
    untranslated_entries: int = 0
    stale_entries: int = 0  # made from another source text than the current one
    articles: dict[str, str] = field(default_factory=dict)  # article id -> outcome
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load(path: Path) -> polib.POFile:
    if not path.is_file():
        raise InputError(f"{path}: no such file",
                         "give the PO file written by `translations export`")
    try:
        return polib.pofile(path.read_text(encoding="utf-8"), wrapwidth=0)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 at byte {exc.start}",
                         "save the PO file as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: not a PO file: {exc}",
                         "check it with `msgfmt --check`") from None


def _language(path: Path, po: polib.POFile, wanted: str | None) -> str:
    raw = po.metadata.get("Language", "").strip()
    lang = re.split(r"[_\-@.]", raw, maxsplit=1)[0].lower()
    if lang not in LANGUAGES:
        shown = f"Language: {raw}" if raw else "no Language header"
        raise InputError(f"{path}: {shown}",
                         f"the header must say Language: one of {', '.join(LANGUAGES)}")
    if wanted is not None and wanted != lang:
        raise InputError(f"{path}: header says Language: {lang}, not {wanted}",
                         "check the file or --lang")
    named = path.stem.lower()
    if named in LANGUAGES and named != lang:
        raise InputError(
            f"{path}: the file is named for {named} but its header says Language: {lang}",
            "a translator may have sent the wrong file; rename it only if the header is right",
        )
    return lang


@dataclass
class _Field:
    value: str
    fuzzy: bool
    stale: bool
    msgid: str  # the source text it was translated from


def _collect(path: Path, po: polib.POFile, lang: str, s: Session, report: ImportReport
             ) -> dict[str, dict[str, _Field]]:
    """Validate every entry (nothing is written before all of them passed)."""
    found: dict[str, dict[str, _Field]] = {}
    seen: set[str] = set()
    for entry in po:
        if entry.obsolete:
            continue
        where = f"{path}:{entry.linenum}"
        match = _CONTEXT.match(entry.msgctxt or "")
        if match is None:
            raise InputError(
                f"{where}: msgctxt {entry.msgctxt!r} is not <article-id>:title|summary|block:N",
                "only PO files written by `publisher translations export` can be imported",
            )
        aid, name = match["id"], match["field"]
        art = s.get(Article, aid)
        if art is None:
            raise InputError(
                f"{where}: unknown article {aid} (msgctxt {entry.msgctxt})",
                "export a fresh PO from this store; article ids come from the source titles",
            )
        if art.source_lang == lang:
            raise InputError(
                f"{where}: article {aid} is written in {lang}; its {lang} text is the source",
                "this PO is for another language than its header says",
            )
        seen.add(aid)
        if not entry.msgstr.strip():
            report.untranslated_entries += 1
            continue
        current = dict((n, t) for n, _k, t in _fields(art.source_text))
        stale = current.get(name) != entry.msgid
        if name.startswith("block:") and int(name.split(":")[1]) > len(art.source_text.blocks):
            report.stale_entries += 1  # the block is gone from the source
            continue
        report.stale_entries += stale
        report.fuzzy_entries += entry.fuzzy
        found.setdefault(aid, {})[name] = _Field(entry.msgstr.strip(), entry.fuzzy, stale,
                                                 entry.msgid)
    report.skipped = len(seen - set(found))
    return found


def _content(title: str, summary: str, blocks: list[dict[str, Any]], status: str,
             fingerprint: str) -> tuple[Any, ...]:
    """A slot as readers and digests see it: without the record of its source text."""
    return title, summary, with_sources(blocks, {}), status, fingerprint


def _apply(art: Article, lang: str, fields: dict[str, _Field], now: datetime) -> str:
    """Write one slot from its translated fields; returns ready | draft | unchanged."""
    src, slot = art.source_text, art.text(lang)
    names = [n for n, _k, _t in _fields(src)]
    # Fields the file leaves out keep the slot's text, unless that text was made from an
    # older source: then they stay empty and the slot cannot become ready by accident.
    base = None if slot is not None and slot.outdated else slot
    value = {n: fields[n].value if n in fields else _existing(base, src, n).strip()
             for n in names}
    # What each field was translated from: the file's msgid, else (a field kept from a slot
    # that is not outdated) the current source text.
    current = {n: t for n, _k, t in _fields(src)}
    sources = {n: fields[n].msgid if n in fields else (current[n] if value[n] else "")
               for n in names}
    blocks = with_sources([
        {"kind": b["kind"], "text": value.get(f"block:{i}", "")}
        for i, b in enumerate(src.blocks, start=1)
    ], sources)
    if "summary" in value:
        summary = value["summary"]
    else:
        summary = derive_summary([Block(b["kind"], b["text"]) for b in blocks])
    stale = any(f.stale for f in fields.values())
    complete = all(value[n] for n in names)
    fuzzy = any(f.fuzzy for f in fields.values())
    status = "ready" if complete and not stale and not fuzzy else "draft"
    # A translation of another source text stays marked outdated until redone.
    fingerprint = art.fingerprint
    if stale:
        fingerprint = slot.source_fingerprint if slot is not None else ""
    new = (value.get("title", ""), summary, blocks, status, fingerprint)
    if slot is not None and _content(slot.title, slot.summary, slot.blocks, slot.status,
                                     slot.source_fingerprint) == _content(*new):
        # The same translation: at most its record of the source text is new (a slot from
        # before that was kept), which is no change a reader or a digest would notice.
        if slot.blocks != blocks:
            slot.blocks = blocks
        return "unchanged"
    if slot is None:
        slot = ArticleText(lang=lang)
        art.texts.append(slot)
    was_ready = slot.status == "ready" and slot.ready_at is not None
    slot.title, slot.summary, slot.blocks, slot.status, slot.source_fingerprint = new
    # ready_at is when the article became readable in `lang`; digests send from it, so a
    # corrected ready translation keeps its first ready_at and is not mailed twice.
    slot.ready_at = (slot.ready_at if was_ready else now) if status == "ready" else None
    slot.updated_at = now
    return status


def _check_language(path: Path, po: polib.POFile, lang: str, force: bool,
                    report: ImportReport) -> None:
    """Refuse a file whose translations plainly read as another language; with `force`,
    only note it in the report."""
    mismatch = textlang.first_mismatch(po, lang)
    if mismatch is None:
        return
    if not force:
        raise InputError(
            f"{path}:{mismatch.line}: {mismatch.describe()}",
            "the translator may have sent another language's file or pasted the source; "
            "--force imports it anyway",
        )
    report.warnings.append(f"line {mismatch.line}: {mismatch.describe()}; imported (--force)")


def import_po(store: Store, path: Path, *, lang: str | None = None,
              now: datetime | None = None, force: bool = False) -> ImportReport:
    """Fill the slots of `path` in one transaction; a rejected file changes nothing.

    Translations plainly in another language than the header's reject the file, unless
    `force`."""
    po = _load(path)
    code = _language(path, po, lang)
    now = now or utcnow()
    report = ImportReport(str(path), code)
    with store.session() as s:
        found = _collect(path, po, code, s, report)
        # After the structural checks, whose errors say more about a wrong file.
        _check_language(path, po, code, force, report)
        for aid in sorted(found):
            art = s.get(Article, aid)
            assert art is not None  # checked by _collect
            outcome = _apply(art, code, found[aid], now)
            report.articles[aid] = outcome
            setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def status(store: Store) -> dict[str, Any]:
    """Per language: how many articles are source, ready, draft, outdated, missing."""
    counts = {lang: dict.fromkeys(STATES, 0) for lang in LANGUAGES}
    with store.session() as s:
        arts = all_articles(s)
        for art in arts:
            for lang in LANGUAGES:
                counts[lang][slot_state(art, lang)] += 1
    return {"articles": len(arts), "languages": counts}


def print_status(doc: dict[str, Any]) -> None:
    """The status document as a table: one row per language."""
    from publisher.core.console import table

    rows = [(lang, *(c[state] for state in STATES)) for lang, c in doc["languages"].items()]
    table(f"Translations of {doc['articles']} article(s)", ["lang", *STATES], rows)
