"""The browser redirect: an authorization code with PKCE over a loopback redirect URI
(RFC 6749 section 4.1, RFC 7636, RFC 8252).

``/cli/authorize`` is recorded as a pending authorization (:meth:`AuthorizationCodeGrant.begin`)
that survives the IdP round trip. Signed in, the person always sees a consent page
(:meth:`AuthorizationCodeGrant.consent`): who is signed in and through which IdP, the client and
the loopback address the code would go to, the role and the duration. Only the POST of that page,
carrying a token bound to the browser session and to this request, mints a one-time code
(:meth:`AuthorizationCodeGrant.grant_code`); the browser is then sent back to the CLI's loopback
listener with it, and the CLI exchanges it with its PKCE verifier for credentials and the refresh
handle of a new CLI session. A GET never issues a code: another local user listening on a
loopback port, or an attacker who signed the browser in as themselves (login CSRF), gets nothing
without the person's click on a page that names them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass

from broker.iam.constant_time import same_secret
from broker.services.audit import Actor, ClientInfo
from broker.services.cli_auth._base import CliAuthBase, TokenGrant
from broker.services.cli_auth.clients import GRANT_AUTHORIZATION_CODE, check_client
from broker.services.cli_auth.errors import AuthorizeRedirect, AuthorizeRefused, OAuthCode, OAuthError
from broker.services.cli_auth.loopback import loopback_host_port, with_query
from broker.services.cli_auth.pkce import is_code_verifier, pkce_matches
from broker.services.cli_auth.sessions import browser_sign_in, stored_sign_in
from broker.services.federation import BrowserSession, RoleOffer, SignIn, sign_in_actor, token_hash
from broker.store import Tx
from broker.store import cli_auth as store
from broker.store.cli_auth import AuthorizeRequest, CliAuthorizationRecord

# A pending /cli/authorize survives the IdP round trip (MFA included) for this long...
AUTHORIZATION_LIFETIME = dt.timedelta(minutes=10)
# ...and the code it ends with is good for one exchange within a minute.
CODE_LIFETIME = dt.timedelta(seconds=60)
_EXPIRED_FORM = "The form has expired. Run `broker login` again."


def consent_token(web: BrowserSession, request_hash: str) -> str:
    """The consent form's token: an HMAC of the pending request under the browser session's CSRF
    secret, so it is good for that browser and that request only."""
    message = f"cli-consent:{request_hash}".encode()
    mac = hmac.new(web.csrf_token.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def consent_matches(web: BrowserSession, request_hash: str, given: str | None) -> bool:
    return given is not None and len(given) <= 64 and same_secret(consent_token(web, request_hash), given)


def _too_long(duration: int | None, offer: RoleOffer) -> str:
    return f"duration {duration} s exceeds the MaxSessionDuration of {offer.role_name} ({offer.max_session_duration} s)"


@dataclass(frozen=True)
class Consent:
    """What the consent page shows before any code exists: who is signed in (and through which
    IdP), which client asks and where the code would go, and the role and duration it would get."""

    handle: str
    consent_token: str
    # The browser session's own token, for the page's sign-out form.
    csrf_token: str
    client_id: str
    redirect_host: str
    redirect_port: int
    sign_in: SignIn
    offers: list[RoleOffer]
    # The role the CLI asked for (--role), fixed on the page; None: the person picks one of ``offers``.
    requested_role: RoleOffer | None
    requested_duration: int | None
    expires_at: dt.datetime


@dataclass(frozen=True)
class PendingAuthorization:
    """A /cli/authorize request waiting for sign-in and a role choice."""

    redirect_uri: str
    state: str
    requested_role_arn: str | None
    requested_duration: int | None
    provider: str | None


class AuthorizationCodeGrant(CliAuthBase):
    def begin(self, request: AuthorizeRequest) -> str:
        """Record a validated /cli/authorize request; the returned handle resumes it after sign-in."""
        now = self.runtime.now()
        handle = secrets.token_urlsafe(32)
        with self.runtime.db.transaction() as tx:
            self._purge_now_and_then(tx, now)
            store.add_cli_authorization(
                tx,
                CliAuthorizationRecord(
                    request_hash=token_hash(handle),
                    created_at=now,
                    expires_at=now + AUTHORIZATION_LIFETIME,
                    **asdict(request),
                ),
            )
        return handle

    def pending(self, handle: str | None) -> PendingAuthorization:
        with self.runtime.db.transaction() as tx:
            row = self._pending_row(tx, handle)
            return PendingAuthorization(
                row.redirect_uri, row.state, row.requested_role_arn, row.requested_duration, row.provider
            )

    def _pending_row(self, tx: Tx, handle: str | None) -> CliAuthorizationRecord:
        row = store.cli_authorization(tx, token_hash(handle)) if handle and len(handle) <= 128 else None
        if row is None or row.code_hash is not None or row.consumed_at is not None:
            raise AuthorizeRefused(
                "UnknownAuthorization",
                "This sign-in link was already used or is not known here. Run `broker login` again.",
                404,
            )
        if row.expires_at <= self.runtime.now():
            raise AuthorizeRefused(
                "ExpiredAuthorization", "This sign-in link has expired. Run `broker login` again.", 410
            )
        return row

    def consent(self, handle: str | None, web_token: str | None, client: ClientInfo) -> Consent:
        """What the consent page shows for a pending request and the signed-in browser.

        Nothing is issued here: a code is only minted by the page's POST (:meth:`grant_code`). What
        can be refused before the person is asked (a role the CLI named that the sign-in may not
        assume, a duration over that role's maximum, no role at all) is refused now, audited, and
        sent back to the CLI as an OAuth error."""
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            row = self._pending_row(tx, handle)
            web, sign_in = browser_sign_in(tx, web_token, None, now, expired_form=None)
            offers = sign_in.offers()
            requested = next((o for o in offers if o.role_arn == row.requested_role_arn), None)
            refusal: tuple[OAuthCode, str] | None = None
            if row.requested_role_arn is not None and requested is None:
                refusal = ("access_denied", f"role {row.requested_role_arn} is not one this sign-in may assume")
            elif requested is not None and (row.requested_duration or 0) > requested.max_session_duration:
                refusal = ("invalid_request", _too_long(row.requested_duration, requested))
            elif not offers:
                refusal = ("access_denied", "no role is available to this sign-in")
            if refusal is None:
                assert handle is not None
                host, port = loopback_host_port(row.redirect_uri)
                return Consent(
                    handle=handle,
                    consent_token=consent_token(web, row.request_hash),
                    csrf_token=web.csrf_token,
                    client_id=row.client_id,
                    redirect_host=host,
                    redirect_port=port,
                    sign_in=sign_in,
                    offers=offers,
                    requested_role=requested,
                    requested_duration=row.requested_duration,
                    expires_at=row.expires_at,
                )
            store.close_cli_authorization(tx, row.request_hash, now)
            scope = self._scope("CreateAuthorizationCode", sign_in_actor(sign_in), client)
            scope.request_parameters = {
                "clientId": row.client_id,
                "roleArn": row.requested_role_arn,
                "durationSeconds": row.requested_duration,
            }
            scope.additional = {"authorizationId": row.request_hash[:16]}
            scope.record(tx, now, error=OAuthError(*refusal))
        raise AuthorizeRedirect(row.redirect_uri, row.state, *refusal)

    def grant_code(
        self,
        handle: str | None,
        web_token: str | None,
        consent: str | None,
        role_arn: str,
        duration: int | None,
        client: ClientInfo,
    ) -> str:
        """The person approved on the consent page: the loopback URL with a one-time code.

        ``consent`` is the page's token, bound to this browser session and this request: a forged
        POST, a replayed one (the request has its code already) or one naming another request is
        refused and audited. The role and duration the CLI asked for are the ones granted; when it
        asked for none, the page's choice is used, its duration capped to the role's maximum."""
        try:
            return self._grant_code(handle, web_token, consent, role_arn, duration, client)
        except AuthorizeRefused as exc:
            self._audit_page_refusal(web_token, client, exc)
            raise

    def _audit_page_refusal(self, web_token: str | None, client: ClientInfo, error: AuthorizeRefused) -> None:
        loaded = self.web_sign_in(web_token)
        actor = sign_in_actor(loaded[1]) if loaded else Actor(type="SAMLUser")
        self.audit_refusal("CreateAuthorizationCode", client, error, actor=actor)

    def _grant_code(
        self,
        handle: str | None,
        web_token: str | None,
        consent: str | None,
        role_arn: str,
        duration: int | None,
        client: ClientInfo,
    ) -> str:
        now = self.runtime.now()
        code = secrets.token_urlsafe(32)
        with self.runtime.db.transaction() as tx:
            row = self._pending_row(tx, handle)
            web, sign_in = self._approved_by(tx, row, web_token, consent, now)
            if row.requested_role_arn is not None and role_arn != row.requested_role_arn:
                raise AuthorizeRefused(
                    "InvalidRequest",
                    "The form names another role than the command asked for. Run `broker login` again.",
                )
            offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None)
            if row.requested_duration is not None:
                duration = row.requested_duration
            elif offer is not None and duration is not None:
                duration = min(duration, offer.max_session_duration)
            refusal: tuple[OAuthCode, str] | None = None
            if offer is None:
                refusal = ("access_denied", f"role {role_arn[:2048]} is not one this sign-in may assume")
            elif duration is not None and duration > offer.max_session_duration:
                refusal = ("invalid_request", _too_long(duration, offer))
            scope = self._scope("CreateAuthorizationCode", sign_in_actor(sign_in), client)
            scope.additional = {"authorizationId": row.request_hash[:16]}
            if refusal is None:
                store.grant_cli_code(
                    tx,
                    row.request_hash,
                    code_hash=token_hash(code),
                    code_expires_at=now + CODE_LIFETIME,
                    web_session_hash=web.id_hash,
                    role_arn=role_arn,
                    duration_seconds=duration,
                )
                scope.request_parameters = {
                    "clientId": row.client_id,
                    "redirectUri": row.redirect_uri,
                    "roleArn": role_arn,
                    "durationSeconds": duration,
                }
                scope.record(tx, now)
                return with_query(row.redirect_uri, {"code": code, "state": row.state})
            store.close_cli_authorization(tx, row.request_hash, now)
            scope.request_parameters = {"roleArn": role_arn[:2048], "durationSeconds": duration}
            scope.record(tx, now, error=OAuthError(*refusal))
        # Raised once the refusal and its audit record are committed.
        raise AuthorizeRedirect(row.redirect_uri, row.state, *refusal)

    def _approved_by(
        self, tx: Tx, row: CliAuthorizationRecord, web_token: str | None, consent: str | None, now: dt.datetime
    ) -> tuple[BrowserSession, SignIn]:
        """The signed-in browser whose consent page, for this very request, was submitted."""
        web, sign_in = browser_sign_in(tx, web_token, None, now, expired_form=None)
        if not consent_matches(web, row.request_hash, consent):
            raise AuthorizeRefused("BadCsrf", _EXPIRED_FORM, 403)
        return web, sign_in

    def deny(self, handle: str | None, web_token: str | None, consent: str | None, client: ClientInfo) -> str:
        """The person cancelled in the browser: the loopback URL with error=access_denied."""
        try:
            return self._deny(handle, web_token, consent, client)
        except AuthorizeRefused as exc:
            self._audit_page_refusal(web_token, client, exc)
            raise

    def _deny(self, handle: str | None, web_token: str | None, consent: str | None, client: ClientInfo) -> str:
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            row = self._pending_row(tx, handle)
            _web, sign_in = self._approved_by(tx, row, web_token, consent, now)
            store.close_cli_authorization(tx, row.request_hash, now)
            scope = self._scope(
                "CreateAuthorizationCode",
                sign_in_actor(sign_in),
                client,
                additional={"authorizationId": row.request_hash[:16]},
            )
            scope.record(tx, now, error=OAuthError("access_denied", "cancelled in the browser"))
            refusal = AuthorizeRedirect(
                row.redirect_uri, row.state, "access_denied", "sign-in was cancelled in the browser"
            )
        return refusal.location()

    def exchange_code(
        self, code: str, code_verifier: str, redirect_uri: str, client_id: str, client: ClientInfo
    ) -> TokenGrant:
        check_client(client_id)
        if not code or not code_verifier or not redirect_uri:
            raise OAuthError("invalid_request", "code, code_verifier and redirect_uri are required")
        if not is_code_verifier(code_verifier):
            raise OAuthError("invalid_request", "code_verifier must be 43 to 128 characters of [A-Za-z0-9._~-]")
        now = self.runtime.now()
        handle = secrets.token_urlsafe(32)
        failure: OAuthError | None = None
        audited: OAuthError | None = None
        with self.runtime.db.transaction() as tx:
            code_hash = token_hash(code[:256])
            row = store.cli_authorization_by_code(tx, code_hash)
            if row is None:
                raise OAuthError("invalid_grant", "the code is not known here")
            loaded = stored_sign_in(tx, row.web_session_hash, now)
            actor = sign_in_actor(loaded[1]) if loaded else Actor(type="SAMLUser")
            parameters = {"grantType": GRANT_AUTHORIZATION_CODE, "clientId": client_id, "roleArn": row.role_arn}
            scope = self._scope("CreateToken", actor, client, request_parameters=parameters)
            if not store.consume_cli_code(tx, code_hash, now):
                # RFC 6749 4.1.2: a second use revokes what the first one obtained.
                revoked = store.revoke_cli_sessions_from(tx, row.request_hash, now)
                failure = OAuthError("invalid_grant", "the code was already used; the session it opened is revoked")
                audited = OAuthError("invalid_grant", f"code reused; {revoked} session(s) revoked")
            elif row.code_expires_at is None or row.code_expires_at <= now:
                failure = OAuthError("invalid_grant", "the code has expired (codes live 60 seconds)")
            elif row.redirect_uri != redirect_uri:
                failure = OAuthError("invalid_grant", "redirect_uri differs from the one the code was issued for")
            elif not pkce_matches(code_verifier, row.code_challenge):
                failure = OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            elif loaded is None or row.role_arn is None:
                failure = OAuthError("invalid_grant", "the browser session that approved this code has ended")
            else:
                scope.additional = {"authorizationId": row.request_hash[:16]}
                issuance = self._open_cli_session(
                    tx, scope, now, handle, loaded, row.role_arn, row.duration_seconds, row.request_hash
                )
            if failure is not None:
                scope.record(tx, now, error=audited or failure)
        if failure is not None:
            raise failure
        return self._issue(issuance, client, opened_handle=handle)
