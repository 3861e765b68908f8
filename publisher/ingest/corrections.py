"""An admin's merges and splits, replayed on every import so a re-import keeps them.

`publisher articles merge A B` and `split A --at HEADING` (ingest/regroup.py) fix a title
the importer took for a subheading, or the other way round, and store the fix as a rule in
`corrections`. The importer hands each file's parsed articles to `apply` before saving
them: the rules run in the order they were made, so the store always holds what the rules
make of the dump, and an unchanged dump saves as "unchanged".

That last part rests on fingerprints. A joined or cut article's fingerprint is derived from
the fingerprints of its inputs and the seam (`joined_fingerprint`, `cut_fingerprint`), not
from its text: the commands know the inputs' fingerprints (an edit of a title or date keeps
them), but not the dump's exact text of an edited article, so a text fingerprint could not
be matched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.ingest import detect
from publisher.store.articles import Block, ParsedArticle, fingerprint, normalise_key
from publisher.store.engine import Store
from publisher.store.models import Correction
from publisher.store.parsed import lead_of

MERGE, SPLIT = "merge", "split"
_SHOWN = 60


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def joined_fingerprint(first: str, second: str) -> str:
    """The fingerprint of article `first` with article `second` appended."""
    return _digest(MERGE, first, second)


def cut_fingerprint(whole: str, seam: str, part: str) -> str:
    """The fingerprint of `part` (head | tail) of an article cut at the heading `seam` (key)."""
    return _digest(SPLIT, whole, seam, part)


def short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1].rstrip() + "…"


def seam_index(blocks: Sequence[Block], seam: str) -> int | None:
    """Index of the first heading whose key is `seam` that leaves blocks on both sides."""
    for i in range(1, len(blocks) - 1):
        if blocks[i].kind == "heading" and normalise_key(blocks[i].text) == seam:
            return i
    return None


def stated_date(blocks: Sequence[Block]) -> date | None:
    """The full date the lead paragraph states, as the dump reader dates an article (a day
    and month without a year is left to the article it was cut from)."""
    lead = lead_of(blocks)
    return detect.find_date(lead)


def join(first: ParsedArticle, second: ParsedArticle) -> ParsedArticle:
    """`second` appended to `first` under its title as a heading. Translations supplied with
    either do not cover the joined text, so none are kept: the stored ones become outdated."""
    return ParsedArticle(
        title=first.title,
        blocks=[*first.blocks, Block("heading", second.title), *second.blocks],
        lang=first.lang, date=first.date, origin=first.origin, summary=first.summary,
        categories=list(first.categories), slug=first.slug,
        derived_fingerprint=joined_fingerprint(fingerprint(first), fingerprint(second)),
    )


def cut(whole: ParsedArticle, at: int) -> tuple[ParsedArticle, ParsedArticle]:
    """(head, tail) of `whole` cut at the heading `whole.blocks[at]`, which titles the tail.

    The tail has the language of the whole and its date unless its own lead states one.
    """
    heading = whole.blocks[at].text
    seam, fp = normalise_key(heading), fingerprint(whole)
    head = ParsedArticle(
        title=whole.title, blocks=whole.blocks[:at], lang=whole.lang, date=whole.date,
        origin=whole.origin, summary=whole.summary, categories=list(whole.categories),
        slug=whole.slug, derived_fingerprint=cut_fingerprint(fp, seam, "head"),
    )
    body = whole.blocks[at + 1:]
    day = stated_date(body)
    tail = ParsedArticle(
        title=heading, blocks=body, lang=whole.lang,
        date=detect.at_noon(day) if day else whole.date, origin=whole.origin,
        categories=list(whole.categories), derived_fingerprint=cut_fingerprint(fp, seam, "tail"),
    )
    return head, tail


def _rejoin(head: ParsedArticle, tail: ParsedArticle) -> ParsedArticle:
    """The article a dump reader cut in two at `tail`'s title, as one: the text it had when
    the admin split it, whose own fingerprint the cut ones derive from."""
    return ParsedArticle(
        title=head.title, blocks=[*head.blocks, Block("heading", tail.title), *tail.blocks],
        lang=head.lang, date=head.date, origin=head.origin, summary=head.summary,
        categories=list(head.categories), translations=dict(head.translations), slug=head.slug,
    )


def _is(parsed: ParsedArticle, key: str) -> bool:
    """Whether `parsed` saves under `key` (a title repeated on another stated day is keyed
    with its date, see store.articles.save)."""
    own = normalise_key(parsed.title)
    if own == key:
        return True
    return parsed.date is not None and f"{own} {parsed.date.date().isoformat()}" == key


def rules(session: Session) -> list[Correction]:
    return list(session.scalars(select(Correction).order_by(Correction.id)))


def apply(store: Store, parsed: list[ParsedArticle], warnings: list[str]
          ) -> list[ParsedArticle]:
    """The articles of one file as the stored corrections make them, in file order (before
    the import's review, so that its warnings are about the articles it stores).

    A rule whose articles are not all in the file leaves the stored result alone: the file's
    part of it is not saved and a warning says so (a merge of articles from two files, or a
    dump whose text changed under the rule).
    """
    # Rules are only written by the commands, which commit: a short read of its own sees
    # them, also from inside a dry run's session.
    with store.session() as s:
        found = rules(s)
    for rule in found:
        if rule.kind == MERGE:
            parsed = _merge(rule, parsed, warnings)
        elif rule.kind == SPLIT:
            parsed = _split(rule, parsed, warnings)
    return parsed


def _where(art: ParsedArticle) -> str:
    _path, sep, line = art.origin.rpartition(":")
    return f"line {line}: " if sep and line.isdigit() else ""


def _hint(rule: Correction) -> str:
    if rule.kind == MERGE:
        return f"`publisher articles split ID --at \"{short(rule.heading)}\"` undoes it"
    return "`publisher articles merge ID NEW-ID` undoes it"


def _merge(rule: Correction, parsed: list[ParsedArticle], warnings: list[str]
           ) -> list[ParsedArticle]:
    firsts = {i for i, p in enumerate(parsed) if _is(p, rule.key)}
    seconds = sorted(i for i, p in enumerate(parsed) if _is(p, rule.other))
    if not firsts and not seconds:
        return parsed
    taken = set(seconds)
    out: list[ParsedArticle] = []
    for i, art in enumerate(parsed):
        if i in taken:
            if not firsts:
                warnings.append(
                    f"{_where(art)}\"{short(art.title)}\" is merged into another article "
                    f"this file does not have; not imported ({_hint(rule)})")
            continue  # joined to its first below, or kept out
        if i not in firsts:
            out.append(art)
            continue
        # The second that follows this occurrence (a file may repeat both), else the last.
        after = [j for j in seconds if j > i]
        partner = after[0] if after else (seconds[-1] if seconds else None)
        if partner is not None:
            out.append(join(art, parsed[partner]))
        elif seam_index(art.blocks, rule.other) is not None:
            out.append(art)  # the file already has the second inside the first
        else:
            warnings.append(
                f"{_where(art)}\"{short(art.title)}\" was merged with \"{short(rule.heading)}\""
                f", which this file does not have; the stored article is kept ({_hint(rule)})")
    return out


def _split(rule: Correction, parsed: list[ParsedArticle], warnings: list[str]
           ) -> list[ParsedArticle]:
    wholes = [i for i, p in enumerate(parsed) if _is(p, rule.key)]
    if not wholes:
        return parsed
    tails = {i for i, p in enumerate(parsed) if _is(p, rule.other)}
    plans: dict[int, tuple[ParsedArticle, int] | None] = {}
    consumed: set[int] = set()
    for i in wholes:
        whole = parsed[i]
        at = seam_index(whole.blocks, rule.other)
        # The reader may cut there itself (the admin marked the heading `# `, or new weights
        # call it a title): join the two again so that both get the fingerprints the command
        # gave them.
        if at is None and i + 1 in tails:
            whole = _rejoin(whole, parsed[i + 1])
            at = seam_index(whole.blocks, rule.other)
            if at is not None:
                consumed.add(i + 1)
        plans[i] = None if at is None else (whole, at)
        if at is None:
            warnings.append(
                f"{_where(whole)}\"{short(whole.title)}\" was split at "
                f"\"{short(rule.heading)}\", which this file's text no longer has; the stored "
                f"articles are kept ({_hint(rule)})")
    out: list[ParsedArticle] = []
    for i, art in enumerate(parsed):
        if i in consumed:
            continue
        if i not in plans:
            out.append(art)
            continue
        plan = plans[i]
        if plan is not None:
            out.extend(cut(*plan))
    return out
