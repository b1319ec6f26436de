"""SSO-OIDC, as stock AWS tools speak it: RegisterClient, StartDeviceAuthorization, /authorize, CreateToken.

What it shares with the broker's own CLI sign-in (:mod:`broker.services.cli_auth`): the SAML
sign-in of a browser, the consent rule (a code or a device approval only ever comes from the POST
of a page that names who is signed in and what asks, bound to that browser and that request),
loopback-only redirects with PKCE S256, RFC 8628 user codes and the wrong-guess counters, and
the audit scope. What differs: the grant is not one role but the person's SSO session, in which
the portal lists and issues every role their sign-in may assume (decided again at each use).

An SSO session outlives the browser's web session: it keeps a copy of the validated, secret-free
sign-in, and lasts ``sso_session_lifetime_seconds`` (never past the IdP's SessionNotOnOrAfter).
Its refresh token is stable for that life; each refresh mints a new access token. Secrets (client
secrets, device codes, codes, tokens) are stored as SHA-256 hashes.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from broker.services.audit import ANONYMOUS, Actor, ClientInfo
from broker.services.cli_auth import user_codes
from broker.services.cli_auth.loopback import is_loopback_redirect_uri
from broker.services.cli_auth.pkce import is_code_verifier, pkce_matches
from broker.services.federation import SignIn, sign_in_actor
from broker.services.federation import token_hash as sha256_hex
from broker.services.sso import errors
from broker.services.sso._base import (
    DEVICE_INTERVAL,
    DEVICE_LIFETIME,
    GRANT_AUTHORIZATION_CODE,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    POLL_TOLERANCE,
    SLOW_DOWN_STEP,
    START_SUFFIXES,
    DeviceStart,
    Registration,
    Tokens,
    string_list,
    text_field,
)
from broker.services.sso.browser import BrowserSteps
from broker.store import sso as store
from broker.store.sso import SsoAuthorizationRecord, SsoClientRecord


class SsoOidc(BrowserSteps):
    """RegisterClient, StartDeviceAuthorization, CreateToken; the browser steps come from :class:`BrowserSteps`."""

    def register_client(self, body: dict[str, Any], client: ClientInfo) -> Registration:
        try:
            name = text_field(body.get("clientName"), "clientName", limit=128)
            client_type = text_field(body.get("clientType"), "clientType", limit=16)
            if client_type != "public":
                raise errors.InvalidClientMetadata("clientType must be public")
            grant_types = string_list(body.get("grantTypes"), "grantTypes")
            redirect_uris = string_list(body.get("redirectUris"), "redirectUris")
            registration = {
                "scopes": string_list(body.get("scopes"), "scopes"),
                "grantTypes": grant_types,
                "redirectUris": redirect_uris,
                "issuerUrl": text_field(body.get("issuerUrl"), "issuerUrl", required=False),
            }
            for grant in grant_types:
                if grant not in (GRANT_DEVICE_CODE, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN):
                    raise errors.InvalidClientMetadata(f"grant type {grant[:100]!r} is not supported")
            for uri in redirect_uris:
                if not is_loopback_redirect_uri(uri):
                    raise errors.InvalidRedirectUri("redirect URIs must be loopback (http://127.0.0.1:PORT/...)")
        except errors.OidcError as exc:
            self.audit_refusal("RegisterClient", client, exc)
            raise
        assert name is not None
        now = self.runtime.now()
        client_id = "sso-" + secrets.token_urlsafe(24)
        secret = secrets.token_urlsafe(48)
        expires_at = now + dt.timedelta(seconds=self.settings.sso_registration_lifetime_seconds)
        with self.runtime.db.transaction() as tx:
            self._purge_now_and_then(tx, now)
            store.add_client(
                tx,
                SsoClientRecord(
                    client_id=client_id,
                    client_secret_hash=sha256_hex(secret),
                    client_name=name,
                    client_type="public",
                    registration=registration,
                    created_at=now,
                    expires_at=expires_at,
                ),
            )
            parameters = {"clientName": name, "clientType": "public", "clientId": client_id}
            self._scope("RegisterClient", ANONYMOUS, client, {**parameters, **registration}).record(tx, now)
        return Registration(client_id, secret, now, expires_at)

    def start_device(self, body: dict[str, Any], client: ClientInfo) -> DeviceStart:
        now = self.runtime.now()
        device_code = secrets.token_urlsafe(32)
        parameters: dict[str, Any] = {
            "clientId": str(body.get("clientId"))[:64],
            "startUrl": str(body.get("startUrl"))[:512],
        }
        try:
            with self.runtime.db.transaction() as tx:
                self._purge_now_and_then(tx, now)
                registered = self._client(
                    tx,
                    text_field(body.get("clientId"), "clientId"),
                    text_field(body.get("clientSecret"), "clientSecret"),
                    now,
                    GRANT_DEVICE_CODE,
                )
                self._check_start_url(text_field(body.get("startUrl"), "startUrl"))
                for _ in range(8):
                    user_code = user_codes.new_user_code()
                    row = SsoAuthorizationRecord(
                        grant_hash=sha256_hex(device_code),
                        kind="device",
                        client_id=registered.client_id,
                        user_code=user_code,
                        start_url=self.start_url(),
                        source_ip=(client.source_ip or "")[:64] or None,
                        interval_seconds=DEVICE_INTERVAL,
                        status="pending",
                        created_at=now,
                        expires_at=now + DEVICE_LIFETIME,
                    )
                    if store.add_authorization(tx, row):
                        break
                else:  # pragma: no cover - 8 collisions in a space of 2.5e10
                    raise errors.InvalidRequest("could not draw a free user code; try again")
                scope = self._scope("StartDeviceAuthorization", ANONYMOUS, client, parameters)
                scope.additional = {"deviceAuthorizationId": row.grant_hash[:16]}
                scope.record(tx, now)
        except errors.OidcError as exc:
            self.audit_refusal("StartDeviceAuthorization", client, exc, parameters=parameters)
            raise
        return DeviceStart(device_code, user_code, int(DEVICE_LIFETIME.total_seconds()), DEVICE_INTERVAL)

    def _check_start_url(self, start_url: str | None) -> None:
        base = self.start_url()
        if start_url not in {base + suffix for suffix in START_SUFFIXES}:
            raise errors.InvalidRequest(f"startUrl must be this broker's start URL, {base}")

    # --- /authorize (code flow) ----------------------------------------------------------------

    def create_token(self, body: dict[str, Any], client: ClientInfo) -> Tokens:
        grant_type = body.get("grantType")
        parameters: dict[str, Any] = {"clientId": str(body.get("clientId"))[:64], "grantType": str(grant_type)[:100]}
        actor: list[Actor] = [ANONYMOUS]
        try:
            client_id = text_field(body.get("clientId"), "clientId")
            client_secret = text_field(body.get("clientSecret"), "clientSecret")
            text_field(grant_type, "grantType")
            if grant_type == GRANT_DEVICE_CODE:
                return self._device_token(client_id, client_secret, body, client, parameters, actor)
            if grant_type == GRANT_AUTHORIZATION_CODE:
                return self._code_token(client_id, client_secret, body, client, parameters, actor)
            if grant_type == GRANT_REFRESH_TOKEN:
                return self._refresh_token(client_id, client_secret, body, client, parameters, actor)
            raise errors.UnsupportedGrantType(f"grant type {str(grant_type)[:100]!r} is not supported")
        except errors.OidcError as exc:
            if not exc.audited:
                self.audit_refusal("CreateToken", client, exc, actor=actor[0], parameters=parameters)
            raise

    def _device_token(
        self,
        client_id: str | None,
        client_secret: str | None,
        body: dict[str, Any],
        client: ClientInfo,
        parameters: dict[str, Any],
        actor: list[Actor],
    ) -> Tokens:
        device_code = text_field(body.get("deviceCode"), "deviceCode")
        assert device_code is not None
        now = self.runtime.now()
        failure: errors.OidcError | None = None
        with self.runtime.db.transaction() as tx:
            registered = self._client(tx, client_id, client_secret, now, GRANT_DEVICE_CODE)
            grant_hash = sha256_hex(device_code)
            row = store.authorization(tx, grant_hash)
            if row is None or row.kind != "device" or row.client_id != registered.client_id:
                raise errors.InvalidGrant("the device code is not known here")
            if row.status == "consumed":
                raise errors.InvalidGrant("the device code was already used")
            if row.expires_at <= now:
                raise errors.ExpiredToken("the device code expired before it was approved")
            if row.status in ("denied", "locked"):
                raise errors.AccessDenied("the request was denied in the browser")
            if row.status == "pending":
                early = row.last_polled_at is not None and now - row.last_polled_at < (
                    dt.timedelta(seconds=row.interval_seconds) - POLL_TOLERANCE
                )
                interval = row.interval_seconds + SLOW_DOWN_STEP if early else row.interval_seconds
                store.record_poll(tx, grant_hash, now, interval)  # committed: the next poll is measured from it
                failure = (
                    errors.SlowDown(f"poll at most every {interval} seconds")
                    if early
                    else errors.AuthorizationPending("waiting for the person to approve in a browser")
                )
            else:
                return self._open_session(tx, row, registered, client, parameters, actor, now)
        raise failure

    def _code_token(
        self,
        client_id: str | None,
        client_secret: str | None,
        body: dict[str, Any],
        client: ClientInfo,
        parameters: dict[str, Any],
        actor: list[Actor],
    ) -> Tokens:
        code = text_field(body.get("code"), "code")
        verifier = text_field(body.get("codeVerifier"), "codeVerifier", limit=128)
        redirect_uri = text_field(body.get("redirectUri"), "redirectUri")
        assert code is not None
        assert verifier is not None
        if not is_code_verifier(verifier):
            raise errors.InvalidRequest("codeVerifier must be 43 to 128 characters of [A-Za-z0-9._~-]")
        now = self.runtime.now()
        failure: errors.OidcError | None = None
        with self.runtime.db.transaction() as tx:
            registered = self._client(tx, client_id, client_secret, now, GRANT_AUTHORIZATION_CODE)
            row = store.authorization_by_code(tx, sha256_hex(code))
            if row is None or row.client_id != registered.client_id:
                raise errors.InvalidGrant("the authorization code is not known here")
            if row.status == "consumed":
                # RFC 6749 4.1.2: a replayed code revokes what it granted.
                revoked = store.revoke_sessions_from(tx, row.grant_hash, now)
                failure = errors.InvalidGrant("the authorization code was already used")
                scope = self._scope("CreateToken", ANONYMOUS, client, parameters)
                scope.additional = {"authorizationId": row.grant_hash[:16], "sessionsRevoked": revoked}
                scope.record(tx, now, error=failure)
                failure.audited = True
            elif row.expires_at <= now:
                raise errors.InvalidGrant("the authorization code has expired")
            elif row.redirect_uri != redirect_uri:
                raise errors.InvalidGrant("redirectUri differs from the one the code was issued for")
            elif row.code_challenge is None or not pkce_matches(verifier, row.code_challenge):
                raise errors.InvalidGrant("the code verifier does not match the code challenge")
            else:
                return self._open_session(tx, row, registered, client, parameters, actor, now)
        assert failure is not None
        raise failure

    def _refresh_token(
        self,
        client_id: str | None,
        client_secret: str | None,
        body: dict[str, Any],
        client: ClientInfo,
        parameters: dict[str, Any],
        actor: list[Actor],
    ) -> Tokens:
        refresh = text_field(body.get("refreshToken"), "refreshToken")
        assert refresh is not None
        now = self.runtime.now()
        failure: errors.OidcError | None = None
        with self.runtime.db.transaction() as tx:
            registered = self._client(tx, client_id, client_secret, now, GRANT_REFRESH_TOKEN)
            session = store.session_by_refresh(tx, sha256_hex(refresh))
            if session is None or session.client_id != registered.client_id:
                raise errors.InvalidGrant("the refresh token is not known here")
            sign_in = SignIn(**session.sign_in)
            actor[0] = sign_in_actor(sign_in)
            if session.revoked_at is not None:
                raise errors.InvalidGrant("the SSO session was signed out or revoked")
            if session.expires_at <= now:
                raise errors.InvalidGrant("the SSO session has ended; sign in again")
            scope = self._scope("CreateToken", actor[0], client, parameters)
            scope.additional = {"ssoSessionId": session.session_id}
            # Trust policies may have changed since sign-in: the session must still map to a role,
            # and to one whose own session length (role or account tag) has not passed.
            offers, trusted = self._offers_in_session(tx, session, sign_in, now)
            if not trusted:
                failure = errors.AccessDenied("the sign-in no longer maps to any role")
                scope.record(tx, now, error=failure)
                failure.audited = True
            elif not offers:
                failure = errors.InvalidGrant("the sign-in has lasted as long as its roles allow; sign in again")
                scope.record(tx, now, error=failure)
                failure.audited = True
            else:
                store.touch_session(tx, session.session_id, now)
                access, expires_in = self._access_token(tx, session, now)
                scope.record(tx, now)
                return Tokens(access, expires_in, refresh)
        raise failure
