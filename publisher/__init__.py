"""publisher: a multilingual (kk/ru/en) newsletter and feed publisher."""

__version__ = "0.1.0"

LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")
