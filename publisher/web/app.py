"""The ASGI app: static site, subscribe, confirm, one-click unsubscribe, preferences."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from publisher import LANGUAGES
from publisher.core.config import Config
from publisher.i18n.locale import DEFAULT_TZ
from publisher.ingest.textio import clean
from publisher.store.engine import UNAVAILABLE, Store
from publisher.store.models import utcnow
from publisher.subscribers import tokens
from publisher.subscribers.registry import (
    AddressError,
    by_token_id,
    normalise_email,
    valid_timezone,
)
from publisher.web import actions, mailer
from publisher.web.guard import Guard
from publisher.web.journal import Journal
from publisher.web.pages import list_titles, render, request_language, zone_label
from publisher.web.ratelimit import SlidingWindow
from publisher.web.static import SiteFiles

T = TypeVar("T")
log = logging.getLogger("publisher.web")
# How long a request waits for another writer (an import, a send) before the action goes to
# the journal: long enough to outlast any one import chunk, short for a person waiting.
STORE_WAIT_SECONDS = 5.0
# While journal entries wait: how often the app tries them, and how long a request that
# finds them pending lets them wait for the store before its own action.
REPLAY_EVERY_SECONDS = 5.0
REPLAY_WAIT_SECONDS = 1.0
CSRF_COOKIE = "publisher_csrf"
ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058 body
# Offered on the preferences page in this order (Kazakhstan first, then neighbours and far
# away); a subscriber's own other zone is put first.
TIMEZONES = (
    "Asia/Almaty", "Asia/Qostanay", "Asia/Qyzylorda", "Asia/Aqtobe", "Asia/Aqtau",
    "Asia/Atyrau", "Asia/Oral", "Asia/Tashkent", "Asia/Bishkek", "Europe/Moscow",
    "Europe/Istanbul", "Europe/Berlin", "Europe/London", "America/New_York", "UTC",
)


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return " ".join(clean(value).split())[:limit] if isinstance(value, str) else ""


class Web:
    """Request handlers bound to one configuration, store and signing key."""

    def __init__(
        self, cfg: Config, store: Store, key: str, clock: Callable[[], datetime],
        wait: float = STORE_WAIT_SECONDS,
    ) -> None:
        self.cfg, self.store, self.key, self.clock, self.wait = cfg, store, key, clock, wait
        self.journal = Journal(cfg.data_dir / "journal")
        w = cfg.web
        self.per_ip = SlidingWindow(w.subscribe_per_ip, w.rate_window_seconds)
        self.per_address = SlidingWindow(w.subscribe_per_address, w.rate_window_seconds)
        self.max_age = timedelta(hours=w.confirm_hours)
        self.slugs = [x.slug for x in cfg.lists]
        self.mailer = mailer.Mailer(cfg)

    # --- helpers -----------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.cfg.site.base_url.rstrip("/") + path

    def page(self, lang: str, template: str, **kw: Any) -> Response:
        return render(self.cfg, lang, template, **kw)

    def error(self, lang: str, status: int, kind: str, **kw: Any) -> Response:
        return render(self.cfg, lang, "error.html", status=status, kind=kind, **kw)

    def _read(self, purpose: str, token: str) -> tuple[str, str] | str:
        """(token_id, extra), or the reason the token is refused: invalid | expired."""
        max_age = self.max_age.total_seconds() if purpose == "confirm" else None
        try:
            return tokens.read(self.key, purpose, token, max_age=max_age)
        except tokens.TokenError as exc:
            return str(exc)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(session, *args) in one transaction, off the event loop; raises one of
        UNAVAILABLE when the store stays locked longer than `self.wait`.

        Journaled actions go first, so that this one never overtakes an older one."""

        def run() -> T:
            if self.journal.pending():
                self.replay(REPLAY_WAIT_SECONDS)
            with self.store.session(wait=self.wait) as s:
                return fn(s, *args, **kwargs)

        return await run_in_threadpool(run)

    async def peek(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(session, *args) for reading only (readers do not wait for SQLite's writer)."""

        def run() -> T:
            with self.store.session(wait=self.wait) as s:
                return fn(s, *args, **kwargs)

        return await run_in_threadpool(run)

    def replay(self, wait: float) -> int:
        """Apply the journal now if the store lets us within `wait`; the entries applied."""

        def apply(entries: list[dict[str, Any]]) -> None:
            with self.store.session(wait=wait) as s:
                for entry in entries:
                    actions.apply_entry(s, entry)

        try:
            done = self.journal.replay(apply)
        except UNAVAILABLE as exc:
            log.warning("journal: store still busy, entries wait: %s", _reason(exc))
            return 0
        except OSError as exc:
            # The entries stay on disk; a request must not fail for the journal's sake.
            log.error("journal: cannot replay %s: %s", self.journal.folder, exc)
            return 0
        if done:
            log.info("journal: %d waiting action(s) applied", done)
        return done

    async def replay_loop(self) -> None:
        """At startup and every REPLAY_EVERY_SECONDS: apply what the journal holds."""
        while True:
            try:
                if self.journal.pending():
                    await run_in_threadpool(self.replay, self.wait)
            except Exception:
                log.exception("journal: replay failed; trying again later")
            await asyncio.sleep(REPLAY_EVERY_SECONDS)

    async def record(self, kind: str, token_id: str, **fields: Any) -> None:
        """Journal an action the store could not take in time; on disk when this returns."""
        entry = actions.journal_entry(kind, token_id, self.clock(), **fields)
        await run_in_threadpool(self.journal.append, entry)
        log.warning("store busy: %s recorded in the journal, applied when the store is free",
                    kind)

    def _csrf(self, cookie: str, token: str) -> str:
        msg = f"csrf|{cookie}|{token}".encode()
        return hmac.new(self.key.encode(), msg, hashlib.sha256).hexdigest()

    # --- subscribe ---------------------------------------------------------------------

    async def subscribe_page(self, request: Request) -> Response:
        lang = request.path_params["lang"]
        if lang not in LANGUAGES:
            raise HTTPException(404)
        if not request.url.path.endswith("/"):
            return RedirectResponse(f"/{lang}/subscribe/", status_code=308)
        return self.page(lang, "subscribe.html", private=False, form={}, problem="")

    async def subscribe(self, request: Request) -> Response:
        form = await request.form()
        chosen = form.get("language")
        if isinstance(chosen, str) and chosen in LANGUAGES:
            lang = chosen
        else:
            lang = request_language(request, self.cfg)
        ip = request.client.host if request.client else "unknown"
        wait = self.per_ip.hit(ip)
        if wait is not None:
            return self.error(lang, 429, "flood", headers={"retry-after": str(int(wait) + 1)})
        values = {
            "email": _text(form, "email", 320), "name": _text(form, "name", 200),
            "language": lang,
        }
        lists = [s for s in form.getlist("lists") if isinstance(s, str) and s in self.slugs]
        if not lists and "lists_offered" not in form:
            lists = [x["slug"] for x in list_titles(self.cfg, lang)][:1]
        problem = ""
        try:
            email = normalise_email(values["email"])
        except AddressError:
            problem = "email"
        if not problem and not lists:
            problem = "lists"
        if problem:
            return self.page(
                lang, "subscribe.html", status=400, private=False, form={**values, "lists": lists},
                problem=problem,
            )
        answer = self.page(lang, "check_email.html", private=False)
        # A filled honeypot or a busy address gets the same page and no email.
        if _text(form, "website", 200) or self.per_address.hit(email) is not None:
            return answer
        confirmation = await self.db(
            actions.request_subscription, email, name=values["name"], language=lang,
            timezone=self._zone(), lists=lists, now=self.clock(),
        )
        if confirmation is not None:
            token = tokens.make(self.key, "confirm", confirmation.token_id, confirmation.extra)
            titles = {x["slug"]: x["title"] for x in list_titles(self.cfg, lang)}
            msg = mailer.confirm_message(
                self.cfg, confirmation, self.url(f"/confirm/{token}"),
                [titles.get(x, x) for x in confirmation.lists],
            )
            # Sent after the answer: known and unknown addresses answer equally fast.
            answer.background = BackgroundTask(self.mailer.send, msg)
        return answer

    def _zone(self) -> str:
        return self.cfg.i18n.timezone or DEFAULT_TZ

    async def _confirm_token(self, request: Request) -> tuple[str, str] | Response:
        """(token_id, extra) of a valid confirm link, or its localized error page."""
        try:
            return tokens.read(
                self.key, "confirm", request.path_params["token"],
                max_age=self.max_age.total_seconds(),
            )
        except tokens.TokenError as exc:
            # An expired link was ours: its page speaks the language chosen on the form.
            chosen = exc.extra.split("|")[1] if exc.extra.count("|") == 2 else ""
            lang = request_language(request, self.cfg, chosen)
            return self.error(lang, 410 if str(exc) == "expired" else 400, str(exc))

    def _confirm_outcome(
        self, request: Request, token_id: str, outcome: actions.Outcome
    ) -> Response:
        lang = request_language(request, self.cfg, outcome.language)
        if outcome.state == "unknown":
            return self.error(lang, 400, "invalid")
        if outcome.state == "stale":
            return self.error(lang, 410, "stale")
        titles = {x["slug"]: x["title"] for x in list_titles(self.cfg, lang)}
        lists = [titles.get(x, x) for x in outcome.lists]
        if outcome.state == "pending":
            # A language picked with the switcher stays picked for the answer to the button.
            asked = request.query_params.get("lang", "")
            action = f"/confirm/{request.path_params['token']}"
            action += f"?lang={asked}" if asked in LANGUAGES else ""
            return self.page(lang, "confirm.html", lists=lists, action=action)
        prefs = tokens.make(self.key, "preferences", token_id)
        return self.page(
            lang, "confirmed.html", lists=lists, already=outcome.state == "already",
            preferences_url=f"/preferences/{prefs}",
        )

    async def confirm_page(self, request: Request) -> Response:
        """GET only asks: mail scanners that open every link must not confirm anything."""
        read = await self._confirm_token(request)
        if isinstance(read, Response):
            return read
        outcome = await self.db(actions.confirm_state, *read)
        return self._confirm_outcome(request, read[0], outcome)

    async def confirm(self, request: Request) -> Response:
        """The button's POST activates; the token is the capability, so no CSRF; idempotent."""
        read = await self._confirm_token(request)
        if isinstance(read, Response):
            return read
        try:
            outcome = await self.db(actions.confirm, *read, self.clock())
        except UNAVAILABLE:
            outcome = await self.peek(actions.confirm_state, *read)
            if outcome.state == "pending":
                await self.record("confirm", read[0], extra=read[1])
                outcome = actions.Outcome("done", outcome.language, outcome.lists)
        return self._confirm_outcome(request, read[0], outcome)

    # --- unsubscribe -------------------------------------------------------------------

    async def unsubscribe_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        read = self._read("unsubscribe", token)
        if isinstance(read, str):
            return self.error(request_language(request, self.cfg), 400, read)
        token_id, list_slug = read
        lang = request_language(request, self.cfg, await self.db(_language_of, token_id))
        return self.page(
            lang, "unsubscribe.html", action=f"/unsubscribe/{token}",
            list_title=self._list_title(list_slug, lang),
            preferences_url=f"/preferences/{tokens.make(self.key, 'preferences', token_id)}",
        )

    def _list_title(self, slug: str, lang: str) -> str:
        for item in self.cfg.lists:
            if item.slug == slug:
                return item.title.get(lang) or slug
        return slug

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058 one-click: 200, no redirect, no cookie, no CSRF; idempotent."""
        token = request.path_params["token"]
        form = await request.form()
        read = self._read("unsubscribe", token)
        if isinstance(read, str):
            return self.error(request_language(request, self.cfg), 400, read)
        if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            return self.error(request_language(request, self.cfg), 400, "one-click")
        token_id, list_slug = read
        try:
            outcome = await self.db(actions.unsubscribe, token_id, list_slug, self.clock())
            language = outcome.language
        except UNAVAILABLE:
            # RFC 8058 senders do not retry: the request is kept on disk, never lost.
            await self.record("unsubscribe", token_id, list=list_slug)
            language = await self._language_if_readable(token_id)
        lang = request_language(request, self.cfg, language)
        return self.page(
            lang, "unsubscribed.html", list_title=self._list_title(list_slug, lang),
            preferences_url=f"/preferences/{tokens.make(self.key, 'preferences', token_id)}",
        )

    # --- preferences -------------------------------------------------------------------

    def _preferences_page(
        self, request: Request, token: str, prefs: actions.Preferences, *, saved: bool,
        status: int = 200, cookie: str | None = None,
    ) -> Response:
        lang = request_language(request, self.cfg, prefs.language)
        cookie = cookie or request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        ids = list(TIMEZONES) if prefs.timezone in TIMEZONES else [prefs.timezone, *TIMEZONES]
        zones = [{"id": zone, "label": zone_label(zone, lang)} for zone in ids]
        response = self.page(
            lang, "preferences.html", status=status, prefs=prefs, saved=saved, zones=zones,
            lists=[
                {**x, "checked": prefs.lists.get(x["slug"]) == "active"}
                for x in list_titles(self.cfg, lang)
            ],
            action=f"/preferences/{token}", csrf=self._csrf(cookie, token),
        )
        response.set_cookie(
            CSRF_COOKIE, cookie, max_age=86_400, path="/preferences/", httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )
        return response

    async def preferences_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        read = self._read("preferences", token)
        if isinstance(read, str):
            return self.error(request_language(request, self.cfg), 400, read)
        prefs = await self.db(actions.preferences, read[0])
        if prefs is None:
            return self.error(request_language(request, self.cfg), 404, "gone")
        return self._preferences_page(request, token, prefs, saved=False)

    async def preferences(self, request: Request) -> Response:
        token = request.path_params["token"]
        read = self._read("preferences", token)
        form = await request.form()
        if isinstance(read, str):
            return self.error(request_language(request, self.cfg), 400, read)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = form.get("csrf")
        expected = self._csrf(cookie, token)
        if not cookie or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
            lang = request_language(request, self.cfg, await self.db(_language_of, read[0]))
            return self.error(lang, 403, "csrf", retry_url=f"/preferences/{token}")
        language = form.get("language")
        zone = form.get("timezone")
        if not (isinstance(language, str) and language in LANGUAGES):
            language = None
        if not (isinstance(zone, str) and valid_timezone(zone)):
            zone = None
        wanted = [s for s in form.getlist("lists") if isinstance(s, str) and s in self.slugs]
        choice: dict[str, Any] = {
            "language": language, "timezone": zone, "lists": wanted, "offered": self.slugs,
        }
        try:
            prefs = await self.db(actions.update_preferences, read[0], now=self.clock(), **choice)
        except UNAVAILABLE:
            prefs = await self.peek(actions.preferences, read[0])
            if prefs is not None:
                await self.record("preferences", read[0], **choice)
                prefs = actions.expected_preferences(prefs, **choice)
        if prefs is None:
            return self.error(request_language(request, self.cfg), 404, "gone")
        return self._preferences_page(request, token, prefs, saved=True, cookie=cookie)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        kind = {404: "not-found", 405: "method"}.get(status, "error")
        return render(
            self.cfg, request_language(request, self.cfg), "error.html", status=status,
            private=False, headers=headers, kind=kind,
        )

    async def _language_if_readable(self, token_id: str) -> str:
        try:
            return await self.peek(_language_of, token_id)
        except UNAVAILABLE:
            return ""

    async def busy(self, request: Request, exc: Exception) -> Response:
        """The store stayed busy for a request that is not journaled: try again shortly."""
        log.warning("store busy, %s %s answered 503: %s", request.method, request.url.path,
                    _reason(exc))
        return render(
            self.cfg, request_language(request, self.cfg), "error.html", status=503,
            kind="busy", headers={"retry-after": "30"},
        )


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _language_of(session: Session, token_id: str) -> str:
    sub = by_token_id(session, token_id)
    return sub.language if sub is not None else ""


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(
    cfg: Config, store: Store, *, demo: bool = False, clock: Callable[[], datetime] = utcnow,
    store_wait: float = STORE_WAIT_SECONDS,
) -> Starlette:
    """The web endpoint. The signing key comes from PUBLISHER_SECRET_KEY (demo: a fixed key).

    `store_wait`: seconds a request waits for a busy store before an unsubscribe,
    confirmation or preferences form goes to the journal (others answer 503).
    """
    web = Web(cfg, store, tokens.secret_key(cfg.secret_key, demo=demo), clock, store_wait)
    routes = [
        Route("/healthz", _health),
        Route("/subscribe", web.subscribe, methods=["POST"]),
        Route("/{lang}/subscribe/", web.subscribe_page, methods=["GET", "HEAD"]),
        Route("/{lang}/subscribe", web.subscribe_page, methods=["GET", "HEAD"]),
        Route("/confirm/{token}", web.confirm_page, methods=["GET", "HEAD"]),
        Route("/confirm/{token}", web.confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", web.unsubscribe_page, methods=["GET", "HEAD"]),
        Route("/unsubscribe/{token}", web.unsubscribe, methods=["POST"]),
        Route("/preferences/{token}", web.preferences_page, methods=["GET", "HEAD"]),
        Route("/preferences/{token}", web.preferences, methods=["POST"]),
        Mount("/", app=SiteFiles(cfg.site_dir), name="site"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(web.replay_loop())
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    handlers: dict[Any, Any] = {HTTPException: web.not_found}
    handlers.update(dict.fromkeys(UNAVAILABLE, web.busy))
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan,
                    middleware=[Middleware(Guard)])
    app.state.web = web
    return app
