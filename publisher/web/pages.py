"""Rendering the web pages: language choice, templates/web/*, headers for token pages."""

from __future__ import annotations

from typing import Any

from babel.core import Locale, get_global
from babel.dates import get_timezone_location
from starlette.requests import Request
from starlette.responses import HTMLResponse

from publisher import LANGUAGES
from publisher.core.config import Config
from publisher.i18n.locale import environment, language_name

# Pages reached through a token must not leak it (Referer), be framed or be cached.
PRIVATE_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def accepted_language(header: str, default: str) -> str:
    """The best of kk/ru/en for an Accept-Language header ("ru-KZ,ru;q=0.9,en;q=0.8")."""
    best, best_q = default, 0.0
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().replace("_", "-").split("-")[0]
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        # Earlier entries win ties, as browsers list them in preference order.
        q -= position * 1e-6
        if code in LANGUAGES and q > best_q:
            best, best_q = code, q
    return best


def request_language(request: Request, cfg: Config, preferred: str = "") -> str:
    """?lang= first, then a known preference (the subscriber's), then Accept-Language."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    if preferred in LANGUAGES:
        return preferred
    return accepted_language(request.headers.get("accept-language", ""), cfg.i18n.default_language)


def zone_label(zone: str, lang: str) -> str:
    """"Алматы (Казахстан)" for Asia/Almaty in ru; the IANA id when Babel does not know it.

    Babel's full location format is not used: for ru it appends "летнее время" (summer
    time) to every zone, which would be wrong all winter.
    """
    if zone.startswith("Etc/"):
        return zone  # Babel would call Etc/GMT+3 "GMT+3", yet it is three hours behind GMT
    try:
        city = get_timezone_location(zone, locale=lang, return_city=True)
    except LookupError:
        return zone
    territory = get_global("zone_territories").get(zone, "ZZ")
    country = Locale.parse(lang).territories.get(territory) if territory != "ZZ" else None
    return f"{city} ({country})" if country else city


def list_titles(cfg: Config, lang: str) -> list[dict[str, str]]:
    """The configured lists offered to a reader of `lang` (slug and localized title)."""
    return [
        {"slug": x.slug, "title": x.title.get(lang) or x.title.get("en") or x.slug}
        for x in cfg.lists
        if lang in x.languages
    ] or [{"slug": x.slug, "title": x.title.get(lang) or x.slug} for x in cfg.lists]


def render(
    cfg: Config, lang: str, template: str, *, status: int = 200, private: bool = True,
    headers: dict[str, str] | None = None, **context: Any,
) -> HTMLResponse:
    env = environment(lang)
    page = env.get_template(f"web/{template}").render(
        site_title=cfg.site.title.get(lang, ""),
        site_description=cfg.site.description.get(lang, ""),
        language_names={x: language_name(x) for x in LANGUAGES},
        subscribe_lists=list_titles(cfg, lang),
        subscribe_action="/subscribe",
        **context,
    )
    all_headers = dict(PRIVATE_HEADERS) if private else {"x-content-type-options": "nosniff"}
    all_headers["content-language"] = lang
    all_headers.update(headers or {})
    return HTMLResponse(page, status_code=status, headers=all_headers)
