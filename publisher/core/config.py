"""Configuration: embedded defaults < publisher.toml < PUBLISHER_SECTION__KEY environment.

Secrets (SMTP password, signing key) are read only from the environment and never
appear in `repr()` or in any output.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

from publisher import LANGUAGES
from publisher.core.errors import ConfigError

ENV_PREFIX = "PUBLISHER_"
SECRET_ENV = {
    "smtp_password": "PUBLISHER_SMTP__PASSWORD",
    "secret_key": "PUBLISHER_SECRET_KEY",
    "bounces_password": "PUBLISHER_BOUNCES__PASSWORD",
}


@dataclass(frozen=True)
class StoreConfig:
    url: str = ""  # empty: SQLite at data_dir/publisher.db


@dataclass(frozen=True)
class I18nConfig:
    default_language: str = "kk"
    timezone: str = "Asia/Almaty"
    # Each reader language -> the languages tried after it when its slot is not ready.
    fallback: dict[str, list[str]] = field(
        default_factory=lambda: {"kk": ["ru", "en"], "ru": ["en"], "en": ["ru"]}
    )


@dataclass(frozen=True)
class SiteConfig:
    base_url: str = "https://news.example.kz"
    title: dict[str, str] = field(
        default_factory=lambda: {
            "kk": "ҚазҰМУ жаңалықтары",
            "ru": "Новости КазНМУ",
            "en": "KazNMU News",
        }
    )
    description: dict[str, str] = field(
        default_factory=lambda: {
            "kk": "С.Ж. Асфендияров атындағы Қазақ ұлттық медицина университетінің жаңалықтары",
            "ru": (
                "Новости Казахского национального медицинского университета"
                " имени С.Д. Асфендиярова"
            ),
            "en": "News of the Asfendiyarov Kazakh National Medical University",
        }
    )
    author: str = "KazNMU Press Office"
    feed_size: int = 50
    page_size: int = 20
    # false: links between pages end in index.html, so the site also works opened from
    # disk (file://), where a link to a folder shows a directory listing.
    pretty_urls: bool = True


@dataclass(frozen=True)
class MailConfig:
    transport: str = "maildir"  # maildir | smtp
    from_address: str = "KazNMU News <news@news.example.kz>"
    domain: str = "news.example.kz"  # Message-ID and List-Id domain
    unsubscribe_mailto: str = ""
    # Set (e.g. "bounces@news.example.kz"): each message's envelope sender is
    # bounces+<signed delivery tag>@..., so a bounce names the delivery it answers (VERP).
    bounce_address: str = ""


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 25
    tls: str = "none"  # starttls | tls | none
    username: str = ""
    timeout: float = 30.0
    connections: int = 4
    rate: float = 0.0  # messages per second over all connections; 0 = unlimited
    retry_lifetime_hours: float = 48.0


@dataclass(frozen=True)
class ListConfig:
    slug: str
    title: dict[str, str] = field(default_factory=dict)
    schedule: str = "0 9 * * mon"  # cron: minute hour day month day_of_week
    timezone: str = "Asia/Almaty"
    from_address: str = ""
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    default_language: str = "kk"
    grace_hours: float = 0.0  # hold an article back from L while its L translation is pending
    max_lateness_hours: float = 12.0
    send_empty: bool = False
    # Articles shown in one digest; the rest are one "and N more on the site" link away
    # (Gmail clips messages past about 102 KB). 0: no limit.
    max_articles: int = 20


@dataclass(frozen=True)
class ImportConfig:
    watch: list[str] = field(default_factory=list)
    poll_seconds: float = 10.0
    max_file_mb: float = 64.0  # larger files are rejected before they are read


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    confirm_hours: float = 72.0  # a double opt-in link expires after this long
    # Subscribe requests per rate_window_seconds: over the IP limit answers 429; over the
    # address limit sends nothing more (same answer, so no one learns who is subscribed).
    subscribe_per_ip: int = 10
    subscribe_per_address: int = 3
    rate_window_seconds: float = 3600.0
    # Reverse proxies (IPs or CIDR ranges) whose X-Forwarded-For/-Proto are believed, by
    # `serve` and `run` alike: the visitor's address for rate limits, https for Secure
    # cookies and redirects. Empty: no forwarded header is trusted.
    trusted_proxies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SchedulerConfig:
    # A standby takes over at most this long (plus one poll) after the active one dies.
    lease_seconds: float = 30.0
    drain_seconds: float = 60.0  # how often due (deferred) deliveries are retried
    rebuild_delay_seconds: float = 2.0  # quiet time after a change before the site rebuild
    shutdown_seconds: float = 30.0  # SIGTERM: longest wait for the work in flight


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 0  # SMTP connections per worker; 0: [smtp] connections
    poll_seconds: float = 2.0  # how often an idle worker looks for due deliveries
    heartbeat_seconds: float = 5.0  # a worker silent for 3 heartbeats counts as gone
    # A claimed batch is leased for this long, renewed while its worker lives: a dead
    # worker's unsent rows are claimed again by others this long after it died.
    claim_seconds: float = 120.0


@dataclass(frozen=True)
class BouncesConfig:
    # Soft bounces (4.x.x) of one subscriber within soft_window_days that suppress them.
    soft_limit: int = 5
    soft_window_days: float = 30.0
    maildirs: list[str] = field(default_factory=list)  # polled by `publisher run`
    poll_seconds: float = 300.0
    # IMAP mailbox read by `publisher bounces process --imap` (password from the environment).
    imap_host: str = ""
    imap_port: int = 993
    imap_tls: bool = True
    imap_username: str = ""
    imap_folder: str = "INBOX"


def _default_lists() -> list[ListConfig]:
    return [
        ListConfig(
            slug="weekly",
            title={"kk": "Апталық дайджест", "ru": "Еженедельный дайджест", "en": "Weekly digest"},
        )
    ]


@dataclass(frozen=True)
class TemplatesConfig:
    # A folder whose templates replace the packaged ones of the same name (site/article.html,
    # email/digest.html, ...), file by file; the rest stay packaged. Relative to the working
    # directory. Empty: the packaged templates only.
    dir: str = ""


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("var")
    store: StoreConfig = field(default_factory=StoreConfig)
    i18n: I18nConfig = field(default_factory=I18nConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    lists: list[ListConfig] = field(default_factory=_default_lists)
    imports: ImportConfig = field(default_factory=ImportConfig)
    web: WebConfig = field(default_factory=WebConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    bounces: BouncesConfig = field(default_factory=BouncesConfig)
    source: str = "embedded defaults"

    @property
    def template_dir(self) -> str | None:
        """The override folder, or None for the packaged templates only."""
        return self.templates.dir.strip() or None

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'publisher.db'}"

    @property
    def site_dir(self) -> Path:
        return self.data_dir / "site"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def smtp_password(self) -> str | None:
        return os.environ.get(SECRET_ENV["smtp_password"]) or None

    @property
    def bounces_password(self) -> str | None:
        return os.environ.get(SECRET_ENV["bounces_password"]) or None

    @property
    def secret_key(self) -> str | None:
        return os.environ.get(SECRET_ENV["secret_key"]) or None

    def get_list(self, slug: str) -> ListConfig:
        for item in self.lists:
            if item.slug == slug:
                return item
        known = ", ".join(x.slug for x in self.lists) or "none"
        raise ConfigError(
            f"unknown list {slug!r} (configured: {known})", "check [[lists]] in publisher.toml"
        )


# TOML section name -> Config attribute, where they differ ("import" is a keyword).
_SECTION_ATTR = {"import": "imports"}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a TOML or environment value to the dataclass field type, or fail naming `where`."""
    origin = getattr(hint, "__origin__", None)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    if hint is int or hint is float:
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, not {value!r}") from None
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, not {value!r}")
    if hint is Path:
        return Path(str(value))
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list")
        (item_hint,) = hint.__args__
        return [_coerce(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table")
        _, val_hint = hint.__args__
        return {str(k): _coerce(v, val_hint, f"{where}.{k}") for k, v in value.items()}
    return value


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names or key == "source":
            raise ConfigError(
                f"{where}: unknown key {key!r}",
                f"see publisher.example.toml for the keys of {where}",
            )
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_no_secrets(data: dict[str, Any], path: Path) -> None:
    smtp = data.get("smtp", {})
    if isinstance(smtp, dict) and "password" in smtp:
        raise ConfigError(
            f"{path}: [smtp] password must not be in the file",
            f"set {SECRET_ENV['smtp_password']} in the environment",
        )
    bounces = data.get("bounces", {})
    if isinstance(bounces, dict) and "password" in bounces:
        raise ConfigError(
            f"{path}: [bounces] password must not be in the file",
            f"set {SECRET_ENV['bounces_password']} in the environment",
        )
    for key in ("secret_key", "signing_key"):
        if key in data or key in data.get("web", {}):
            raise ConfigError(
                f"{path}: {key} must not be in the file",
                f"set {SECRET_ENV['secret_key']} in the environment",
            )


def _env_overrides(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """PUBLISHER_SMTP__HOST=x sets [smtp] host; PUBLISHER_DATA_DIR sets the top-level key."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, value in environ.items():
        if (
            not name.startswith(ENV_PREFIX)
            or name in SECRET_ENV.values()
            or name in ("PUBLISHER_CONFIG", "PUBLISHER_DEBUG")  # not settings: see cli/app.py
        ):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest.startswith("test_"):
            continue
        if "__" in rest:
            section, key = rest.split("__", 1)
            if section == "lists":
                raise ConfigError(f"{name}: lists can only be set in publisher.toml")
            merged.setdefault(section, {})
            if not isinstance(merged[section], dict):
                raise ConfigError(f"{name}: {section} is not a section")
            merged[section][key] = value
        else:
            merged[rest] = value
    return merged


def load(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Load the configuration; with no file the embedded defaults are used."""
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    source = "embedded defaults"
    candidate = path or env.get("PUBLISHER_CONFIG")
    if candidate is None and Path("publisher.toml").is_file():
        candidate = "publisher.toml"
    if candidate is not None:
        cpath = Path(candidate)
        try:
            data = tomllib.loads(cpath.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise ConfigError(
                f"{cpath}: no such configuration file", "check --config or PUBLISHER_CONFIG"
            ) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{cpath}: not valid TOML: {exc}") from None
        _check_no_secrets(data, cpath)
        source = str(cpath)
    data = _env_overrides(data, env)

    kwargs: dict[str, Any] = {"source": source}
    sections = {f.name: f for f in fields(Config)}
    hints = get_type_hints(Config)
    for key, value in data.items():
        attr = _SECTION_ATTR.get(key, key)
        if attr not in sections or attr == "source":
            raise ConfigError(
                f"{source}: unknown section or key {key!r}", "see publisher.example.toml"
            )
        hint = hints[attr]
        if attr == "lists":
            if not isinstance(value, list):
                raise ConfigError(f"{source}: lists must be an array of tables ([[lists]])")
            kwargs[attr] = [
                _build(ListConfig, dict(v), f"[[lists]] #{i + 1}") for i, v in enumerate(value)
            ]
        elif is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key} must be a section")
            kwargs[attr] = _build(hint, value, f"[{key}]")
        else:
            kwargs[attr] = _coerce(value, hint, key)
    cfg = Config(**kwargs)
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    for lang in (cfg.i18n.default_language, *cfg.i18n.fallback):
        if lang not in LANGUAGES:
            raise ConfigError(
                f"[i18n]: unknown language {lang!r}", f"use one of {', '.join(LANGUAGES)}"
            )
    if cfg.mail.transport not in ("maildir", "smtp"):
        raise ConfigError(f"[mail] transport must be maildir or smtp, not {cfg.mail.transport!r}")
    if cfg.smtp.tls not in ("starttls", "tls", "none"):
        raise ConfigError(f"[smtp] tls must be starttls, tls or none, not {cfg.smtp.tls!r}")
    bounce = cfg.mail.bounce_address
    if bounce and (bounce.count("@") != 1 or "+" in bounce or not bounce.partition("@")[0]):
        raise ConfigError(
            f"[mail] bounce_address must be one plain address, not {bounce!r}",
            'e.g. "bounces@news.example.kz" (the tag is added after a "+")',
        )
    if cfg.bounces.soft_limit < 1:
        raise ConfigError("[bounces] soft_limit must be 1 or more")
    slugs = [x.slug for x in cfg.lists]
    if len(set(slugs)) != len(slugs):
        raise ConfigError("[[lists]]: two lists share a slug")
    for item in cfg.lists:
        bad = [lang for lang in item.languages if lang not in LANGUAGES]
        if bad:
            raise ConfigError(f"[[lists]] {item.slug}: unknown language {bad[0]!r}")


def with_data_dir(cfg: Config, data_dir: Path) -> Config:
    """A copy of `cfg` rooted at another data_dir (tests, demo)."""
    return replace(cfg, data_dir=data_dir)
