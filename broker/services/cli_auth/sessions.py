"""The records a CLI sign-in hangs on: the browser's web session, and the CLI session opened from it.

A CLI session's refresh handle is stored as its SHA-256 only; the session ends with the web
session it was opened from (same expiry, deleted with it).
"""

from __future__ import annotations

import datetime as dt

from broker.services.cli_auth.clients import CLIENT_ID
from broker.services.cli_auth.errors import AuthorizeRefused, OAuthError
from broker.services.federation import BrowserSession, SignIn, signed_in, token_hash
from broker.services.federation.sign_in import without_closed_accounts
from broker.store import Tx
from broker.store import cli_auth as store
from broker.store import federation as federation_store
from broker.store.cli_auth import CliSessionRecord


def stored_sign_in(tx: Tx, web_session_hash: str | None, now: dt.datetime) -> tuple[BrowserSession, SignIn] | None:
    """The live web session a grant recorded (by its hash), and what its sign-in established."""
    if web_session_hash is None:
        return None
    web = federation_store.web_session(tx, web_session_hash, now)
    if web is None:
        return None
    return BrowserSession.of(web), without_closed_accounts(tx, SignIn(**web.assertion))[0]


def browser_sign_in(
    tx: Tx, web_token: str | None, csrf_token: str | None, now: dt.datetime, *, expired_form: str | None
) -> tuple[BrowserSession, SignIn]:
    """The web session behind the browser's cookie, its form's CSRF token checked unless
    ``expired_form`` (what a person is told when the token does not match) is None."""
    loaded = signed_in(tx, web_token, now) if web_token and len(web_token) <= 128 else None
    if loaded is None:
        raise AuthorizeRefused("NoSession", "Your sign-in has expired. Run `broker login` again.", 401)
    if expired_form is not None and not loaded[0].csrf_matches(csrf_token):
        raise AuthorizeRefused("BadCsrf", expired_form, 403)
    return loaded


def open_cli_session(
    tx: Tx,
    handle: str,
    web: BrowserSession,
    sign_in: SignIn,
    role_arn: str,
    grant_ref: str,
    now: dt.datetime,
) -> None:
    """``grant_ref`` names the code or device code it came from, so a replayed code revokes it."""
    store.add_cli_session(
        tx,
        CliSessionRecord(
            handle_hash=token_hash(handle),
            web_session_hash=web.id_hash,
            client_id=CLIENT_ID,
            subject=sign_in.subject[:1024],
            provider_arn=sign_in.provider_arn,
            default_role_arn=role_arn,
            grant_ref=grant_ref,
            created_at=now,
            expires_at=web.expires_at,
            last_used_at=now,
        ),
    )


def live_cli_session(tx: Tx, refresh_token: str, now: dt.datetime) -> tuple[CliSessionRecord, SignIn]:
    """The CLI session behind a refresh handle and the sign-in it carries, while both last."""
    cli = store.cli_session(tx, token_hash(refresh_token[:256]))
    if cli is None or cli.revoked_at is not None:
        raise OAuthError("invalid_grant", "the broker session is not known or was signed out")
    if cli.expires_at <= now:
        raise OAuthError("invalid_grant", "the broker session has ended")
    loaded = stored_sign_in(tx, cli.web_session_hash, now)
    if loaded is None:
        raise OAuthError("invalid_grant", "the broker session has ended")
    return cli, loaded[1]


def revoke_cli_session(tx: Tx, handle: str, now: dt.datetime) -> None:
    store.revoke_cli_session(tx, token_hash(handle), now)
