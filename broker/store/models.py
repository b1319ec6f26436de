"""SQLAlchemy 2 models. Every schema change ships as an Alembic migration in ``migrations/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware UTC datetimes; SQLite drops tzinfo, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    alias: Mapped[str | None] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime]


class SamlProvider(Base):
    __tablename__ = "saml_providers"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128))
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    entity_id: Mapped[str] = mapped_column(String(1024), index=True)
    metadata_xml: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Per-provider SAML behaviour: allow_unsolicited, allow_sha1, mfa_authn_contexts.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where it came from: "api" or "file:<name>"; files are re-synced at start-up.
    source: Mapped[str] = mapped_column(String(300), default="api")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    role_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    trust_policy: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(1000), default="")
    max_session_duration: Mapped[int] = mapped_column(Integer, default=3600)
    permissions_boundary_arn: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_used_at: Mapped[dt.datetime | None]
    last_used_region: Mapped[str | None] = mapped_column(String(32))
    inline_policies: Mapped[list[RoleInlinePolicy]] = relationship(
        back_populates="role", cascade="all, delete-orphan", order_by="RoleInlinePolicy.name"
    )


class RoleInlinePolicy(Base):
    __tablename__ = "role_inline_policies"
    __table_args__ = (UniqueConstraint("role_pk", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role_pk: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = relationship(back_populates="inline_policies")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512), default="/")
    user_id: Mapped[str] = mapped_column(String(32), unique=True)
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    created_at: Mapped[dt.datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inline_policies: Mapped[list[UserInlinePolicy]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserInlinePolicy.name"
    )


class UserInlinePolicy(Base):
    __tablename__ = "user_inline_policies"
    __table_args__ = (UniqueConstraint("user_pk", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
    user: Mapped[User] = relationship(back_populates="inline_policies")


class AccessKey(Base):
    __tablename__ = "access_keys"
    access_key_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="Active")
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    last_used_service: Mapped[str | None] = mapped_column(String(32))
    last_used_region: Mapped[str | None] = mapped_column(String(32))
    user: Mapped[User] = relationship()


class SamlRequest(Base):
    """An AuthnRequest this broker sent and has not yet seen answered (shared by all workers)."""

    __tablename__ = "saml_requests"
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider_arn: Mapped[str] = mapped_column(String(2048))
    # SHA-256 of the browser binding cookie; the response must come back in the same browser.
    browser_binding: Mapped[str] = mapped_column(String(64))
    relay_state: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    consumed_at: Mapped[dt.datetime | None]


class SeenAssertion(Base):
    """Replay guard: the primary key makes a second use fail in any process on the database."""

    __tablename__ = "seen_assertions"
    issuer: Mapped[str] = mapped_column(String(1024), primary_key=True)
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class WebSession(Base):
    """A signed-in browser: what the assertion established, held server-side for role selection."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider_arn: Mapped[str] = mapped_column(String(2048))
    subject: Mapped[str] = mapped_column(String(1024))
    # Validated, secret-free assertion facts (context keys, session attributes, roles offered).
    assertion: Mapped[dict[str, Any]]
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_time", "event_time"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_time: Mapped[dt.datetime]
    event_source: Mapped[str] = mapped_column(String(64))
    event_name: Mapped[str] = mapped_column(String(128), index=True)
    username: Mapped[str | None] = mapped_column(String(256))
    access_key_id: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(64))
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    record: Mapped[dict[str, Any]]
