"""Sign-in state shared by every worker: SAML requests and replay guard, web sessions, CLI sign-in."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.models._base import Base


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


class _CliGrant:
    """What the browser granted a CLI sign-in (through which web session, which role, how long),
    and how long the sign-in may wait for it: shared by the code flow and the device flow.

    These columns come after each kind's own request columns; ``sort_order=1`` keeps each kind's
    trailing columns after them, as the migrations created them.
    """

    web_session_hash: Mapped[str | None] = mapped_column(String(64))
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class CliAuthorization(_CliGrant, Base):
    """A ``/cli/authorize`` request, from the browser's first visit to its code's single use."""

    __tablename__ = "cli_authorizations"
    # SHA-256 of the handle the browser carries through the IdP round trip (never the handle).
    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the one-time code, set once a role is chosen.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    # RFC 7636 S256 challenge: base64url(SHA-256(code_verifier)).
    code_challenge: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(512))
    requested_role_arn: Mapped[str | None] = mapped_column(String(2048))
    requested_duration: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str | None] = mapped_column(String(256))
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(sort_order=1)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(sort_order=1)


class DeviceAuthorization(_CliGrant, Base):
    """An RFC 8628 device authorization: pending, then approved or denied in a browser, then used once."""

    __tablename__ = "device_authorizations"
    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Normalised (no dash, upper case); unique among the rows not yet purged.
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    requested_role_arn: Mapped[str | None] = mapped_column(String(2048))
    requested_duration: Mapped[int | None] = mapped_column(Integer)
    # Shown on the approval page so a person can tell their own request from a phished one.
    source_ip: Mapped[str | None] = mapped_column(String(64))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied | consumed
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(sort_order=1)
    decided_at: Mapped[dt.datetime | None] = mapped_column(sort_order=1)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(sort_order=1)


class CliSession(Base):
    """A CLI's hold on a web session: its refresh handle issues credentials with no browser."""

    __tablename__ = "cli_sessions"
    handle_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Ends with the web session (same expiry; deleted with it).
    web_session_hash: Mapped[str] = mapped_column(ForeignKey("web_sessions.id_hash", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(1024))
    provider_arn: Mapped[str] = mapped_column(String(2048))
    default_role_arn: Mapped[str] = mapped_column(String(2048))
    # The code or device code it came from: a replayed code revokes the session (RFC 6749 4.1.2).
    grant_ref: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class UserCodeAttempts(Base):
    """Wrong device user codes counted against who typed them (a web session, a client address)
    or the device authorization they hit; a lock once too many land within the window."""

    __tablename__ = "cli_user_code_attempts"
    # SHA-256 of "<kind>:<what is counted>": never the address or session hash itself.
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # session | address | device
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
