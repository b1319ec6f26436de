"""AWS SSO (IAM Identity Center) compatibility: client registrations, authorizations, SSO sessions, access tokens.

Secrets (client secrets, device codes, authorization codes, refresh and access tokens) are kept
as SHA-256 hashes only; every instance reads the same rows, so a flow may continue on any of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.models._base import Base


class SsoClient(Base):
    """A RegisterClient answer: the AWS CLI and SDKs cache and reuse it until it expires."""

    __tablename__ = "sso_clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    client_name: Mapped[str] = mapped_column(String(128))
    client_type: Mapped[str] = mapped_column(String(16))
    # What the client registered: scopes, grant types, redirect URIs, issuer URL (informational).
    registration: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class SsoAuthorization(Base):
    """A device authorization (``kind`` device) or an /authorize request (``kind`` code), from its
    start to its single use; approved in a browser by a signed-in person."""

    __tablename__ = "sso_authorizations"
    # SHA-256 of the device code, or of the handle the browser carries through the IdP round trip.
    grant_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    client_id: Mapped[str] = mapped_column(ForeignKey("sso_clients.client_id", ondelete="CASCADE"), index=True)
    # Device flow: the normalised user code (unique among the rows not yet purged).
    user_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    # Code flow: the loopback redirect, its state, the PKCE challenge and, once consented, the code.
    redirect_uri: Mapped[str | None] = mapped_column(String(512))
    state: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    start_url: Mapped[str | None] = mapped_column(String(512))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied | locked | consumed
    # The web session whose person approved (its sign-in is copied into the SSO session).
    web_session_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_polled_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    consumed_at: Mapped[dt.datetime | None]


class SsoSession(Base):
    """One sign-in as stock AWS tools hold it: its refresh token, and the sign-in it carries."""

    __tablename__ = "sso_sessions"
    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(1024))
    provider_arn: Mapped[str] = mapped_column(String(2048))
    # The validated, secret-free sign-in (as a web session keeps it); trust is decided again on use.
    sign_in: Mapped[dict[str, Any]]
    # The device code or code it came from: a replayed code revokes it.
    grant_ref: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class SsoAccessToken(Base):
    """A portal bearer token (``x-amz-sso_bearer_token``); it ends with its session, or earlier."""

    __tablename__ = "sso_access_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sso_sessions.session_id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
