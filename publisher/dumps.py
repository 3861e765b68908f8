"""Plain-text news dumps -> articles. (First cut: a title is a short line without a final period.)"""

from __future__ import annotations

from publisher.articles import Block, ParsedArticle
from publisher.errors import InputError


def parse(text: str, origin: str) -> list[ParsedArticle]:
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paras:
        raise InputError(f"{origin}: empty file")
    out: list[ParsedArticle] = []
    for p in paras:
        if len(p) < 150 and not p.endswith((".", ":")) and "\n" not in p:
            out.append(ParsedArticle(title=p, blocks=[], lang="en", origin=origin))
        elif out:
            out[-1].blocks.append(Block("paragraph", p))
    return out
