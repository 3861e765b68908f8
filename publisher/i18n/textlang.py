"""Whether the translations in a PO file are written in the language its header names.

A file headed `Language: kk` whose msgstr texts are Russian (the translator sent the wrong
file, or pasted the source) would otherwise import as ready kk translations and put Russian
titles on the Kazakh site. The importer's detector decides, but only where it can: an entry
is judged on its own when it has enough letters and its letters and function words agree
(`detect.clear_language`); titles and short blocks, which say little each, are judged
together as the file's whole text. A Russian paragraph naming "Әлия Сейтқалиева" or a
Kazakh list of English database names is never a mismatch: such texts are not clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import polib

from publisher.ingest import detect

NAMES = {"kk": "Kazakh", "ru": "Russian", "en": "English"}


@dataclass(frozen=True)
class Mismatch:
    line: int
    found: str  # the language the text reads as
    expected: str

    def describe(self) -> str:
        return (f"the translation reads as {NAMES[self.found]} ({self.found}), but the header "
                f"says Language: {self.expected}")


def first_mismatch(po: polib.POFile, lang: str) -> Mismatch | None:
    """The first entry whose msgstr is plainly in another language than `lang`, if any."""
    texts = [(entry, entry.msgstr) for entry in po if not entry.obsolete and entry.msgstr.strip()]
    for entry, text in texts:
        found = detect.clear_language(text)
        if found is not None and found != lang:
            return Mismatch(entry.linenum, found, lang)
    found = detect.clear_language("\n".join(text for _entry, text in texts))
    if found is None or found == lang:
        return None
    # The file as a whole reads as `found`: point at the first entry that leans that way.
    first = next((entry for entry, text in texts if detect.language(text, lang) == found),
                 texts[0][0])
    return Mismatch(first.linenum, found, lang)
