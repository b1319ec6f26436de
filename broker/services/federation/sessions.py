"""Browser (web) sessions: opened by a sign-in, read by the role page and the CLI flows, ended by sign-out.

The browser holds a random token; the database holds its hash and what the sign-in established.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from broker.iam.constant_time import same_secret
from broker.services.audit import ClientInfo
from broker.services.federation.audit import sign_in_scope
from broker.services.federation.errors import BadCsrf
from broker.services.federation.sign_in import SignIn, sign_in_actor, without_closed_accounts
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store import cli_auth as cli_store
from broker.store import federation as store
from broker.store.federation import WebSessionRecord


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser as the pages see it: the CSRF token its forms carry, and its life."""

    id_hash: str
    csrf_token: str
    expires_at: dt.datetime

    @classmethod
    def of(cls, web: WebSessionRecord) -> BrowserSession:
        return cls(id_hash=web.id_hash, csrf_token=web.csrf_token, expires_at=web.expires_at)

    def csrf_matches(self, csrf_token: str | None) -> bool:
        return csrf_token is not None and same_secret(self.csrf_token, csrf_token)


def open_web_session(runtime: Runtime, tx: Tx, sign_in: SignIn, now: dt.datetime) -> str:
    """Keep a sign-in server-side; the returned token is the browser's cookie."""
    return open_browser_session(runtime, tx, sign_in, now)[0]


def open_browser_session(runtime: Runtime, tx: Tx, sign_in: SignIn, now: dt.datetime) -> tuple[str, BrowserSession]:
    """:func:`open_web_session`, and the session as its pages see it (so they need not read it back)."""
    token = secrets.token_urlsafe(32)
    web = WebSessionRecord(
        id_hash=token_hash(token),
        provider_arn=sign_in.provider_arn,
        subject=sign_in.subject[:1024],
        assertion=sign_in.stored(),
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=runtime.settings.web_session_lifetime_seconds),
    )
    store.add_web_session(tx, web)
    return token, BrowserSession.of(web)


def signed_in(tx: Tx, token: str | None, now: dt.datetime) -> tuple[BrowserSession, SignIn] | None:
    """The live web session a browser token names, in the caller's transaction."""
    web = store.web_session(tx, token_hash(token), now) if token else None
    if web is None:
        return None
    return BrowserSession.of(web), without_closed_accounts(tx, SignIn(**web.assertion))[0]


def load_web_session(runtime: Runtime, token: str | None) -> tuple[BrowserSession, SignIn] | None:
    """The browser's live web session, read in a read-only transaction (page views write nothing)."""
    if not token:
        return None
    with runtime.db.read() as tx:
        return signed_in(tx, token, runtime.now())


def sign_out(runtime: Runtime, token: str | None, csrf_token: str | None, client: ClientInfo) -> bool:
    """End the browser's web session: the role page can no longer issue credentials from it,
    and the CLI sessions started from it (``broker login``) end with it.

    ``False`` when there was no live session to end. A wrong CSRF token is refused, so another
    site cannot sign a person out. Credentials already issued stay valid until they expire,
    as AWS's do; the sign-out is audited with the number of CLI sessions it ended.
    """
    now = runtime.now()
    with runtime.db.transaction() as tx:
        web = store.web_session(tx, token_hash(token), now) if token else None
        if web is None:
            return False
        if not BrowserSession.of(web).csrf_matches(csrf_token):
            raise BadCsrf("The sign-out form has expired. Reload the page and try again.")
        _end_web_session(runtime, tx, web, client, now)
        return True


def session_to_replace(tx: Tx, token: str | None, by: SignIn, now: dt.datetime) -> store.WebSessionRecord | None:
    """The web session a new sign-in in this browser ends (read before the sign-in's write): the
    one the browser held, if it is another person's. On a shared browser, the next person's
    sign-in (and later sign-out) must not leave the previous person signed in. The same person
    signing in again keeps their earlier session and the ``broker login`` sessions started from it."""
    web = store.web_session(tx, token_hash(token), now) if token else None
    if web is None:
        return None
    earlier = SignIn(**web.assertion)
    return web if (earlier.issuer, earlier.subject) != (by.issuer, by.subject) else None


def end_replaced_session(
    runtime: Runtime, tx: Tx, web: store.WebSessionRecord, client: ClientInfo, now: dt.datetime
) -> None:
    """End ``web`` (from :func:`session_to_replace`) as a sign-out would, its CLI sessions with it."""
    _end_web_session(runtime, tx, web, client, now, replaced=True)


def _end_web_session(
    runtime: Runtime, tx: Tx, web: store.WebSessionRecord, client: ClientInfo, now: dt.datetime, replaced: bool = False
) -> None:
    sign_in = SignIn(**web.assertion)
    cli_sessions = cli_store.count_cli_sessions(tx, web.id_hash, now)
    store.delete_web_session(tx, web.id_hash)
    additional: dict[str, object] = {"cliSessionsEnded": cli_sessions}
    if replaced:
        additional["endedBy"] = "another person's sign-in in the same browser"
    scope = sign_in_scope(runtime.settings, "ConsoleLogout", sign_in_actor(sign_in), client, additional=additional)
    scope.record(tx, now)
