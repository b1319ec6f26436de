"""The browser redirect: an authorization code with PKCE over a loopback redirect URI
(RFC 6749 section 4.1, RFC 7636, RFC 8252).

``/cli/authorize`` is recorded as a pending authorization (:meth:`AuthorizationCodeGrant.begin`)
that survives the IdP round trip; once the person has chosen a role, the browser is sent back to
the CLI's loopback listener with a one-time code, which the CLI exchanges with its PKCE verifier
for credentials and the refresh handle of a new CLI session.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass

from broker.services.audit import Actor, ClientInfo
from broker.services.cli_auth._base import CliAuthBase, TokenGrant
from broker.services.cli_auth.clients import GRANT_AUTHORIZATION_CODE, check_client
from broker.services.cli_auth.errors import AuthorizeRedirect, AuthorizeRefused, OAuthCode, OAuthError
from broker.services.cli_auth.loopback import with_query
from broker.services.cli_auth.pkce import is_code_verifier, pkce_matches
from broker.services.cli_auth.sessions import browser_sign_in, stored_sign_in
from broker.services.federation import sign_in_actor, token_hash
from broker.store import Tx
from broker.store import cli_auth as store
from broker.store.cli_auth import AuthorizeRequest, CliAuthorizationRecord

# A pending /cli/authorize survives the IdP round trip (MFA included) for this long...
AUTHORIZATION_LIFETIME = dt.timedelta(minutes=10)
# ...and the code it ends with is good for one exchange within a minute.
CODE_LIFETIME = dt.timedelta(seconds=60)
_EXPIRED_FORM = "The form has expired. Run `broker login` again."


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

    def grant_code(
        self,
        handle: str | None,
        web_token: str | None,
        role_arn: str,
        duration: int | None,
        client: ClientInfo,
        *,
        csrf_token: str | None = None,
        check_csrf: bool = True,
        cap_duration: bool = False,
    ) -> str:
        """The person chose a role (or the CLI's --role was permitted): the loopback URL with a code.

        ``cap_duration``: the page offers durations up to the longest role's maximum, so a choice
        there is capped to the role's; a duration the CLI asked for is refused instead.
        """
        now = self.runtime.now()
        code = secrets.token_urlsafe(32)
        with self.runtime.db.transaction() as tx:
            row = self._pending_row(tx, handle)
            web, sign_in = browser_sign_in(
                tx, web_token, csrf_token, now, expired_form=_EXPIRED_FORM if check_csrf else None
            )
            offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None)
            if offer is not None and cap_duration and duration is not None:
                duration = min(duration, offer.max_session_duration)
            refusal: tuple[OAuthCode, str] | None = None
            if offer is None:
                refusal = ("access_denied", f"role {role_arn[:2048]} is not one this sign-in may assume")
            elif duration is not None and duration > offer.max_session_duration:
                refusal = (
                    "invalid_request",
                    f"duration {duration} s exceeds the MaxSessionDuration of {offer.role_name} "
                    f"({offer.max_session_duration} s)",
                )
            scope = self._scope("CreateAuthorizationCode", sign_in_actor(sign_in), client)
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
                scope.additional = {"authorizationId": row.request_hash[:16]}
                scope.record(tx, now)
                return with_query(row.redirect_uri, {"code": code, "state": row.state})
            store.close_cli_authorization(tx, row.request_hash, now)
            scope.request_parameters = {"roleArn": role_arn[:2048], "durationSeconds": duration}
            scope.record(tx, now, error=OAuthError(*refusal))
        # Raised once the refusal and its audit record are committed.
        raise AuthorizeRedirect(row.redirect_uri, row.state, *refusal)

    def deny(self, handle: str | None, web_token: str | None, csrf_token: str | None, client: ClientInfo) -> str:
        """The person cancelled in the browser: the loopback URL with error=access_denied."""
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            row = self._pending_row(tx, handle)
            _web, sign_in = browser_sign_in(tx, web_token, csrf_token, now, expired_form=_EXPIRED_FORM)
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
