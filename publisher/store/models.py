"""The store's tables (SQLAlchemy 2). Migrations in publisher/migrations mirror these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    # Identity across re-imports: the normalised source title. Same key + other text = update.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    source_lang: Mapped[str] = mapped_column(String(2))
    published_at: Mapped[datetime]
    date_stated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fingerprint: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(Text, default="")
    # Taken off the site, the feeds and future digests by an admin (`articles hide`); the
    # row stays, so a re-import does not bring the article back.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)

    texts: Mapped[list[ArticleText]] = relationship(
        back_populates="article", cascade="all, delete-orphan", lazy="selectin"
    )

    def text(self, lang: str) -> ArticleText | None:
        for t in self.texts:
            if t.lang == lang:
                return t
        return None

    @property
    def source_text(self) -> ArticleText:
        found = self.text(self.source_lang)
        if found is None:  # pragma: no cover - the store never writes an article without it
            raise LookupError(f"article {self.id} has no source text")
        return found


class ArticleText(Base):
    """One translation slot: (article, language)."""

    __tablename__ = "article_texts"
    __table_args__ = (UniqueConstraint("article_id", "lang"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    blocks: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"kind", "text"}]
    status: Mapped[str] = mapped_column(String(10))  # source | draft | ready
    ready_at: Mapped[datetime | None]
    # Fingerprint of the source text this translation was made from: differs -> outdated.
    source_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime]

    article: Mapped[Article] = relationship(back_populates="texts")

    @property
    def outdated(self) -> bool:
        return self.status != "source" and self.source_fingerprint != self.article.fingerprint


class MailingList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised
    name: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Almaty")
    # pending | active | unsubscribed | bounced | complained
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Opaque id carried by signed tokens instead of the address.
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    # Last save of the preferences page: from then on language, time zone and lists are the
    # subscriber's, and a CSV import keeps them unless told to overwrite them.
    prefs_changed_at: Mapped[datetime | None]


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "list_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | active | unsubscribed
    # Everything that became available up to this instant has been sent to this subscriber.
    cursor: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DigestIssue(Base):
    """One digest run of a list (DESIGN: "issues"); the name avoids the tracker's word."""

    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("list_id", "number"), UniqueConstraint("list_id", "slot"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    # The scheduled instant this issue answers (one issue per slot, even after a crash).
    slot: Mapped[datetime]
    created_at: Mapped[datetime]
    window_end: Mapped[datetime]
    # Frozen article sets: {lang: [article ids]} as available at creation.
    articles: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(2))
    article_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The subscription cursor moves here once this delivery is sent.
    cursor_to: Mapped[datetime]
    # queued | sending | sent | deferred | failed | bounced
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_reply: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class Lease(Base):
    """Who may act for a store: one row per role, taken and renewed by heartbeat (lease.py)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class ImportedFile(Base):
    """A watched file already imported, by content, so a restart does not import it again."""

    __tablename__ = "imported_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime]


class ListRun(Base):
    """The last scheduled slot of a list the scheduler has handled (created, empty or skipped)."""

    __tablename__ = "list_runs"

    list_slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_slot: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # issued | empty | skipped | baseline
    issue_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class Worker(Base):
    """A delivery worker process (`publisher worker`, or inside `publisher run`), by heartbeat.

    Live workers share [smtp] rate; `publisher status` shows them. The row is removed on a
    clean exit; a crashed worker's row stays with its last heartbeat until pruned.
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    last_rate: Mapped[float] = mapped_column(Float, default=0.0)  # messages/s, last heartbeat


class BounceEvent(Base):
    """One bounce or complaint report about one subscriber, as `bounces process` read it.

    `fingerprint` (the report's content and recipient) makes a rerun, or the same report
    found twice, change nothing; `reason` is what `subscribers list --status` shows.
    """

    __tablename__ = "bounce_events"
    __table_args__ = (Index("ix_bounce_events_recent", "subscriber_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # hard | soft | complaint
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    list_slug: Mapped[str] = mapped_column(String(64), default="")
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="")  # enhanced code, e.g. 5.1.1
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")  # the report's file or mailbox
    created_at: Mapped[datetime]


class Correction(Base):
    """An admin's fix of the importer's title/subheading split (`articles merge` / `split`).

    Re-imports replay these in `id` order on the parsed articles of each file before they are
    saved, so the dump that produced the wrong split cannot bring it back. Articles are named
    by their import key (the normalised title), which edits of the title do not change.
    """

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # merge | split
    key: Mapped[str] = mapped_column(String(300), index=True)  # the article corrected
    # merge: the key of the article appended to it; split: the key of the article cut off.
    other: Mapped[str] = mapped_column(String(300))
    heading: Mapped[str] = mapped_column(Text)  # the heading text at the seam
    # What undoing this rule exactly needs: the fingerprints before it, the seam's block
    # index and (merge) the metadata of the article that was appended.
    undo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
