"""The `broker` CLI's sign-in: an authorization code with PKCE over a loopback redirect
(RFC 6749, RFC 7636, RFC 8252), device authorization (RFC 8628), and credentials refreshed from a
CLI broker session without a browser.

The browser half reuses the SAML sign-in and the role offers of a web session; the CLI never sees
a password or an assertion. Codes, device codes, request handles and refresh handles are stored
as SHA-256 hashes only. Every code exchange, refresh, device decision and revocation is audited
in the transaction that changes the state.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy.orm import Session

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_role_arn
from broker.iam.timestamps import aws_timestamp
from broker.services.audit import Actor, record_event
from broker.services.credentials import TemporaryCredentials
from broker.services.federation import (
    ClientInfo,
    FederationError,
    FederationService,
    RoleOffer,
    SignIn,
    sign_in_actor,
    token_hash,
)
from broker.services.runtime import Runtime
from broker.store import models
from broker.store import repositories as repo

CLIENT_ID = "broker-cli"
EVENT_SOURCE = "sso-oauth.amazonaws.com"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"

# A pending /cli/authorize survives the IdP round trip (MFA included) for this long...
AUTHORIZATION_LIFETIME = dt.timedelta(minutes=10)
# ...and the code it ends with is good for one exchange within a minute.
CODE_LIFETIME = dt.timedelta(seconds=60)
DEVICE_LIFETIME = dt.timedelta(minutes=10)
# Module attributes, read at call time, so a test broker can poll faster.
DEVICE_POLL_INTERVAL = 5
SLOW_DOWN_STEP = 5
# Network jitter: a poll this much early still counts as on time.
POLL_TOLERANCE = dt.timedelta(milliseconds=500)
# RFC 8628 section 6.1: base-20 consonants, 8 characters (about 34.5 bits), shown as XXXX-XXXX.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
PURGE_INTERVAL = dt.timedelta(minutes=10)
_last_purge: dict[str, dt.datetime] = {}

_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
MAX_STATE = 512
MAX_REDIRECT_URI = 512


# --- pure helpers -------------------------------------------------------------------------------


def s256_challenge(code_verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_matches(code_verifier: str, code_challenge: str) -> bool:
    """Constant-time comparison of the verifier's S256 challenge with the stored one."""
    if not _VERIFIER.match(code_verifier):
        return False
    return hmac.compare_digest(s256_challenge(code_verifier), code_challenge)


def is_loopback_redirect_uri(uri: str) -> bool:
    """RFC 8252 section 7.3: http on 127.0.0.1, [::1] or localhost, any port; no userinfo or fragment."""
    if len(uri) > MAX_REDIRECT_URI or any(ord(c) < 0x21 or c == "\\" for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return False
    if parts.scheme != "http" or parts.fragment or "@" in parts.netloc:
        return False
    return parts.hostname in _LOOPBACK_HOSTS


def with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def normalise_user_code(text: str) -> str | None:
    """What a person typed (any case, dashes, spaces) as stored; None if it cannot be a code."""
    code = re.sub(r"[\s-]", "", text).upper()
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


def display_user_code(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


# --- errors -------------------------------------------------------------------------------------


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` is the registered code, ``description`` one sentence for a person."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class AuthorizeRefused(Exception):
    """A /cli/authorize problem shown in the browser: there is no redirect_uri to trust (yet)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class AuthorizeRedirect(Exception):
    """A /cli/authorize problem sent back to the CLI's loopback listener as ``error=``."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description

    def location(self) -> str:
        params = {"error": self.error, "error_description": self.description}
        if self.state:
            params["state"] = self.state
        return with_query(self.redirect_uri, params)


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    code_challenge: str
    state: str
    role_arn: str | None
    duration: int | None
    provider: str | None


def _single(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise ValueError(name)
    return values[0] if values else None


def parse_authorize_request(args: Mapping[str, list[str]]) -> AuthorizeRequest:
    """Check a /cli/authorize query (each name to its list of values) in RFC 6749 order: client and
    redirect URI first (failures shown as a page), then everything else (failures redirected)."""
    try:
        client_id = _single(args, "client_id")
        redirect_uri = _single(args, "redirect_uri")
    except ValueError as exc:
        raise AuthorizeRefused("InvalidRequest", f"The sign-in link repeats the parameter {exc}.") from None
    if client_id != CLIENT_ID:
        raise AuthorizeRefused("UnknownClient", "The sign-in link names no client this broker knows.")
    if not redirect_uri or not is_loopback_redirect_uri(redirect_uri):
        raise AuthorizeRefused(
            "InvalidRedirectUri",
            "The sign-in link must return to the command-line tool on this computer "
            "(http://127.0.0.1, http://[::1] or http://localhost); it asks to go elsewhere.",
        )
    try:
        state = _single(args, "state")
    except ValueError:
        raise AuthorizeRedirect(redirect_uri, None, "invalid_request", "state is given more than once") from None

    def refuse(error: str, description: str) -> AuthorizeRedirect:
        return AuthorizeRedirect(redirect_uri, state if state and len(state) <= MAX_STATE else None, error, description)

    try:
        values = {
            name: _single(args, name)
            for name in ("response_type", "code_challenge", "code_challenge_method", "role", "duration", "provider")
        }
    except ValueError as exc:
        raise refuse("invalid_request", f"{exc} is given more than once") from None
    if values["response_type"] != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    if not state or len(state) > MAX_STATE:
        raise refuse("invalid_request", f"state is required (at most {MAX_STATE} characters)")
    if values["code_challenge_method"] != "S256":
        raise refuse("invalid_request", "PKCE is required with code_challenge_method=S256")
    challenge = values["code_challenge"] or ""
    if not _CHALLENGE.match(challenge):
        raise refuse("invalid_request", "code_challenge must be 43 base64url characters (S256)")
    role = values["role"] or None
    if role is not None:
        try:
            parse_role_arn(role)
        except InvalidArn:
            raise refuse("invalid_request", "role must be a role ARN") from None
    duration = None
    if values["duration"]:
        duration = _duration(values["duration"])
        if duration is None:
            raise refuse(
                "invalid_request",
                f"duration must be seconds from {limits.DURATION_SECONDS_MIN} to {limits.DURATION_SECONDS_MAX}",
            )
    provider = values["provider"] or None
    if provider is not None and len(provider) > 256:
        raise refuse("invalid_request", "provider is too long")
    return AuthorizeRequest(client_id, redirect_uri, challenge, state, role, duration, provider)


def _duration(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 6:
        return None
    value = int(text)
    return value if limits.DURATION_SECONDS_MIN <= value <= limits.DURATION_SECONDS_MAX else None


def parse_duration(text: str | None) -> int | None:
    """An optional duration parameter: None when absent, OAuthError when not valid."""
    if text is None or text == "":
        return None
    value = _duration(text)
    if value is None:
        raise OAuthError(
            "invalid_request",
            f"duration_seconds must be from {limits.DURATION_SECONDS_MIN} to {limits.DURATION_SECONDS_MAX}",
        )
    return value


@dataclass(frozen=True)
class PendingAuthorization:
    """A /cli/authorize request waiting for sign-in and a role choice."""

    redirect_uri: str
    state: str
    requested_role_arn: str | None
    requested_duration: int | None
    provider: str | None


@dataclass(frozen=True)
class TokenGrant:
    credentials: TemporaryCredentials
    sign_in: SignIn
    session_expires_at: dt.datetime
    refresh_token: str | None

    def to_json(self, region: str, endpoint: str) -> dict[str, Any]:
        c = self.credentials
        body: dict[str, Any] = {
            **c.credential_process_json(),
            "RoleArn": c.claims.role_arn,
            "AssumedRoleArn": c.assumed_role_arn,
            "AccountId": c.claims.account_id,
            "SessionName": c.claims.session_name,
            "Subject": self.sign_in.subject,
            "ProviderArn": self.sign_in.provider_arn,
            "Region": region,
            "Endpoint": endpoint,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["refresh_token_expires_at"] = aws_timestamp(self.session_expires_at)
        return body


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class DeviceView:
    """What the approval page shows about a pending device request."""

    user_code: str
    requested_role_arn: str | None
    requested_duration: int | None
    source_ip: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str


@dataclass(frozen=True)
class SessionView:
    subject: str
    provider_arn: str
    expires_at: dt.datetime
    roles: list[RoleOffer]


# --- the service --------------------------------------------------------------------------------


class CliAuthService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.federation = FederationService(runtime)

    # browser redirect ---------------------------------------------------------------------------

    def begin(self, request: AuthorizeRequest) -> str:
        """Record a validated /cli/authorize request; the returned handle resumes it after sign-in."""
        now = self.runtime.now()
        handle = secrets.token_urlsafe(32)
        with self.runtime.db.transaction() as session:
            self._purge_now_and_then(session, now)
            session.add(
                models.CliAuthorization(
                    request_hash=token_hash(handle),
                    client_id=request.client_id,
                    redirect_uri=request.redirect_uri,
                    code_challenge=request.code_challenge,
                    state=request.state,
                    requested_role_arn=request.role_arn,
                    requested_duration=request.duration,
                    provider=request.provider,
                    created_at=now,
                    expires_at=now + AUTHORIZATION_LIFETIME,
                )
            )
        return handle

    def pending(self, handle: str | None) -> PendingAuthorization:
        with self.runtime.db.transaction() as session:
            row = self._pending_row(session, handle)
            return PendingAuthorization(
                row.redirect_uri, row.state, row.requested_role_arn, row.requested_duration, row.provider
            )

    def _pending_row(self, session: Session, handle: str | None) -> models.CliAuthorization:
        row = repo.cli_authorization(session, token_hash(handle)) if handle and len(handle) <= 128 else None
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
        with self.runtime.db.transaction() as session:
            row = self._pending_row(session, handle)
            web, sign_in = self._web_sign_in(session, web_token, now)
            if check_csrf and (csrf_token is None or not hmac.compare_digest(web.csrf_token, csrf_token)):
                raise AuthorizeRefused("BadCsrf", "The form has expired. Run `broker login` again.", 403)
            offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None)
            if offer is not None and cap_duration and duration is not None:
                duration = min(duration, offer.max_session_duration)
            refusal = None
            if offer is None:
                refusal = ("access_denied", f"role {role_arn[:2048]} is not one this sign-in may assume")
            elif duration is not None and duration > offer.max_session_duration:
                refusal = (
                    "invalid_request",
                    f"duration {duration} s exceeds the MaxSessionDuration of {offer.role_name} "
                    f"({offer.max_session_duration} s)",
                )
            if refusal is not None:
                row.consumed_at = now
                self._audit(
                    session,
                    "CreateAuthorizationCode",
                    sign_in_actor(sign_in),
                    client,
                    now,
                    error=refusal,
                    request_parameters={"roleArn": role_arn[:2048], "durationSeconds": duration},
                )
                error, description = refusal
            else:
                row.code_hash = token_hash(code)
                row.code_expires_at = now + CODE_LIFETIME
                row.web_session_hash = web.id_hash
                row.role_arn = role_arn
                row.duration_seconds = duration
                self._audit(
                    session,
                    "CreateAuthorizationCode",
                    sign_in_actor(sign_in),
                    client,
                    now,
                    request_parameters={
                        "clientId": row.client_id,
                        "redirectUri": row.redirect_uri,
                        "roleArn": role_arn,
                        "durationSeconds": duration,
                    },
                    additional={"authorizationId": row.request_hash[:16]},
                )
                return with_query(row.redirect_uri, {"code": code, "state": row.state})
        raise AuthorizeRedirect(row.redirect_uri, row.state, error, description)

    def deny(self, handle: str | None, web_token: str | None, csrf_token: str | None, client: ClientInfo) -> str:
        """The person cancelled in the browser: the loopback URL with error=access_denied."""
        now = self.runtime.now()
        with self.runtime.db.transaction() as session:
            row = self._pending_row(session, handle)
            web, sign_in = self._web_sign_in(session, web_token, now)
            if csrf_token is None or not hmac.compare_digest(web.csrf_token, csrf_token):
                raise AuthorizeRefused("BadCsrf", "The form has expired. Run `broker login` again.", 403)
            row.consumed_at = now
            self._audit(
                session,
                "CreateAuthorizationCode",
                sign_in_actor(sign_in),
                client,
                now,
                error=("access_denied", "cancelled in the browser"),
                additional={"authorizationId": row.request_hash[:16]},
            )
            refusal = AuthorizeRedirect(
                row.redirect_uri, row.state, "access_denied", "sign-in was cancelled in the browser"
            )
        return refusal.location()

    def _web_sign_in(
        self, session: Session, web_token: str | None, now: dt.datetime
    ) -> tuple[models.WebSession, SignIn]:
        web = repo.web_session(session, token_hash(web_token), now) if web_token and len(web_token) <= 128 else None
        if web is None:
            raise AuthorizeRefused("NoSession", "Your sign-in has expired. Run `broker login` again.", 401)
        return web, SignIn(**web.assertion)

    def web_sign_in(self, web_token: str | None) -> tuple[models.WebSession, SignIn] | None:
        """The browser's signed-in session, if any (detached from the database session)."""
        return self.federation.load_web_session(web_token)

    def exchange_code(
        self, code: str, code_verifier: str, redirect_uri: str, client_id: str, client: ClientInfo
    ) -> TokenGrant:
        if client_id != CLIENT_ID:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        if not code or not code_verifier or not redirect_uri:
            raise OAuthError("invalid_request", "code, code_verifier and redirect_uri are required")
        if not _VERIFIER.match(code_verifier):
            raise OAuthError("invalid_request", "code_verifier must be 43 to 128 characters of [A-Za-z0-9._~-]")
        now = self.runtime.now()
        handle = secrets.token_urlsafe(32)
        failure: OAuthError | None = None
        detail: str | None = None
        with self.runtime.db.transaction() as session:
            code_hash = token_hash(code[:256])
            row = repo.cli_authorization_by_code(session, code_hash)
            if row is None:
                raise OAuthError("invalid_grant", "the code is not known here")
            loaded = self._stored_sign_in(session, row.web_session_hash, now)
            actor = sign_in_actor(loaded[1]) if loaded else Actor(type="SAMLUser")
            parameters = {"grantType": GRANT_AUTHORIZATION_CODE, "clientId": client_id, "roleArn": row.role_arn}
            if not repo.consume_cli_code(session, code_hash, now):
                # RFC 6749 4.1.2: a second use revokes what the first one obtained.
                revoked = repo.revoke_cli_sessions_from(session, row.request_hash, now)
                failure = OAuthError("invalid_grant", "the code was already used; the session it opened is revoked")
                detail = f"code reused; {revoked} session(s) revoked"
            elif row.code_expires_at is None or row.code_expires_at <= now:
                failure = OAuthError("invalid_grant", "the code has expired (codes live 60 seconds)")
            elif row.redirect_uri != redirect_uri:
                failure = OAuthError("invalid_grant", "redirect_uri differs from the one the code was issued for")
            elif not pkce_matches(code_verifier, row.code_challenge):
                failure = OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            elif loaded is None or row.role_arn is None:
                failure = OAuthError("invalid_grant", "the browser session that approved this code has ended")
            if failure is not None:
                self._audit(
                    session,
                    "CreateToken",
                    actor,
                    client,
                    now,
                    error=(failure.error, detail or failure.description),
                    request_parameters=parameters,
                )
            else:
                assert loaded is not None
                assert row.role_arn is not None
                web, sign_in = loaded
                self._open_cli_session(session, handle, web, sign_in, row.role_arn, row.request_hash, now)
                self._audit(
                    session,
                    "CreateToken",
                    actor,
                    client,
                    now,
                    request_parameters={**parameters, "durationSeconds": row.duration_seconds},
                    additional={"authorizationId": row.request_hash[:16]},
                )
                role_arn, duration, expires_at = row.role_arn, row.duration_seconds, web.expires_at
        if failure is not None:
            raise failure
        return self._issue(handle, sign_in, role_arn, duration, expires_at, client, refresh_token=handle)

    def _stored_sign_in(
        self, session: Session, web_session_hash: str | None, now: dt.datetime
    ) -> tuple[models.WebSession, SignIn] | None:
        if web_session_hash is None:
            return None
        web = repo.web_session(session, web_session_hash, now)
        if web is None:
            return None
        return web, SignIn(**web.assertion)

    def _open_cli_session(
        self,
        session: Session,
        handle: str,
        web: models.WebSession,
        sign_in: SignIn,
        role_arn: str,
        grant_ref: str,
        now: dt.datetime,
    ) -> None:
        session.add(
            models.CliSession(
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
            )
        )

    def _issue(
        self,
        handle: str,
        sign_in: SignIn,
        role_arn: str,
        duration: int | None,
        session_expires_at: dt.datetime,
        client: ClientInfo,
        refresh_token: str | None,
    ) -> TokenGrant:
        try:
            credentials = self.federation.issue(sign_in, role_arn, duration, client)
        except FederationError as exc:
            if refresh_token is not None:
                # The CLI never receives this session's handle: close it rather than leave it open.
                with self.runtime.db.transaction() as session:
                    found = repo.cli_session(session, token_hash(handle))
                    if found is not None:
                        found.revoked_at = self.runtime.now()
            error = "invalid_scope" if exc.code == "RoleNotPermitted" else "invalid_request"
            raise OAuthError(error, exc.message) from None
        return TokenGrant(credentials, sign_in, session_expires_at, refresh_token)

    # refresh ------------------------------------------------------------------------------------

    def refresh(
        self, refresh_token: str, role_arn: str | None, duration: int | None, client_id: str, client: ClientInfo
    ) -> TokenGrant:
        """Credentials for any role the sign-in offers, within the CLI session's life, no browser."""
        if client_id != CLIENT_ID:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        if role_arn is not None:
            try:
                parse_role_arn(role_arn)
            except InvalidArn:
                raise OAuthError("invalid_request", "role_arn must be a role ARN") from None
        now = self.runtime.now()
        failure: OAuthError | None = None
        with self.runtime.db.transaction() as session:
            cli, _web, sign_in = self._live_cli_session(session, refresh_token, now)
            chosen = role_arn or cli.default_role_arn
            parameters = {"grantType": GRANT_REFRESH_TOKEN, "clientId": client_id, "roleArn": chosen}
            if all(o.role_arn != chosen for o in sign_in.offers()):
                failure = OAuthError("invalid_scope", f"role {chosen} is not one this sign-in may assume")
                self._audit(
                    session,
                    "CreateToken",
                    sign_in_actor(sign_in),
                    client,
                    now,
                    error=(failure.error, failure.description),
                    request_parameters=parameters,
                )
            else:
                cli.last_used_at = now
                self._audit(
                    session,
                    "CreateToken",
                    sign_in_actor(sign_in),
                    client,
                    now,
                    request_parameters={**parameters, "durationSeconds": duration},
                )
                expires_at = cli.expires_at
        if failure is not None:
            raise failure
        return self._issue(refresh_token, sign_in, chosen, duration, expires_at, client, refresh_token=None)

    def _live_cli_session(
        self, session: Session, refresh_token: str, now: dt.datetime
    ) -> tuple[models.CliSession, models.WebSession, SignIn]:
        cli = repo.cli_session(session, token_hash(refresh_token[:256]))
        if cli is None or cli.revoked_at is not None:
            raise OAuthError("invalid_grant", "the broker session is not known or was signed out")
        if cli.expires_at <= now:
            raise OAuthError("invalid_grant", "the broker session has ended")
        loaded = self._stored_sign_in(session, cli.web_session_hash, now)
        if loaded is None:
            raise OAuthError("invalid_grant", "the broker session has ended")
        return cli, loaded[0], loaded[1]

    def session_info(self, refresh_token: str) -> SessionView:
        now = self.runtime.now()
        with self.runtime.db.transaction() as session:
            cli, _web, sign_in = self._live_cli_session(session, refresh_token, now)
            return SessionView(sign_in.subject, sign_in.provider_arn, cli.expires_at, sign_in.offers())

    def revoke(self, refresh_token: str, client_id: str, client: ClientInfo) -> None:
        """RFC 7009: an unknown or already revoked token is not an error."""
        if client_id != CLIENT_ID:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        now = self.runtime.now()
        with self.runtime.db.transaction() as session:
            cli = repo.cli_session(session, token_hash(refresh_token[:256])) if refresh_token else None
            if cli is None or cli.revoked_at is not None:
                return
            cli.revoked_at = now
            loaded = self._stored_sign_in(session, cli.web_session_hash, now)
            actor = (
                sign_in_actor(loaded[1])
                if loaded
                else Actor(type="SAMLUser", user_name=cli.subject, extra={"identityProvider": cli.provider_arn})
            )
            self._audit(session, "RevokeToken", actor, client, now, request_parameters={"clientId": client_id})

    # device authorization -----------------------------------------------------------------------

    def start_device(
        self, client_id: str, role_arn: str | None, duration: int | None, client: ClientInfo
    ) -> DeviceStart:
        if client_id != CLIENT_ID:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        if role_arn is not None:
            try:
                parse_role_arn(role_arn)
            except InvalidArn:
                raise OAuthError("invalid_request", "role must be a role ARN") from None
        now = self.runtime.now()
        device_code = secrets.token_urlsafe(32)
        interval = int(DEVICE_POLL_INTERVAL)
        with self.runtime.db.transaction() as session:
            self._purge_now_and_then(session, now)
            for _ in range(8):
                user_code = new_user_code()
                row = models.DeviceAuthorization(
                    device_code_hash=token_hash(device_code),
                    user_code=user_code,
                    client_id=client_id,
                    requested_role_arn=role_arn,
                    requested_duration=duration,
                    source_ip=(client.source_ip or "")[:64] or None,
                    interval_seconds=interval,
                    status="pending",
                    created_at=now,
                    expires_at=now + DEVICE_LIFETIME,
                )
                if repo.add_device_authorization(session, row):
                    break
            else:  # pragma: no cover - 8 collisions in a space of 2.5e10
                raise OAuthError("temporarily_unavailable", "could not draw a free user code; try again", 503)
        return DeviceStart(device_code, user_code, int(DEVICE_LIFETIME.total_seconds()), interval)

    def device_for_user_code(self, user_code: str) -> DeviceView | None:
        """A pending, unexpired device request by what the person typed; None otherwise."""
        code = normalise_user_code(user_code)
        if code is None:
            return None
        with self.runtime.db.transaction() as session:
            row = repo.device_authorization_by_user_code(session, code)
            if row is None or row.status != "pending" or row.expires_at <= self.runtime.now():
                return None
            return _device_view(row)

    def decide_device(
        self,
        user_code: str,
        web_token: str | None,
        csrf_token: str | None,
        approve: bool,
        role_arn: str | None,
        duration: int | None,
        client: ClientInfo,
    ) -> DeviceView:
        """Approve (with a role the sign-in offers) or deny a pending device request, audited."""
        now = self.runtime.now()
        code = normalise_user_code(user_code)
        with self.runtime.db.transaction() as session:
            web, sign_in = self._web_sign_in(session, web_token, now)
            if csrf_token is None or not hmac.compare_digest(web.csrf_token, csrf_token):
                raise AuthorizeRefused("BadCsrf", "The form has expired. Enter the code again.", 403)
            row = repo.device_authorization_by_user_code(session, code) if code else None
            if row is None or row.status != "pending" or row.expires_at <= now:
                raise AuthorizeRefused(
                    "UnknownUserCode", "That code is not valid or has expired. Check your terminal for the code.", 404
                )
            parameters: dict[str, Any] = {"clientId": row.client_id}
            if approve:
                offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None)
                if offer is None:
                    raise AuthorizeRefused("RoleNotPermitted", "That role is not one you may assume.", 403)
                if duration is not None:
                    duration = min(duration, offer.max_session_duration)
                row.status = "approved"
                row.role_arn = offer.role_arn
                row.duration_seconds = duration
                row.web_session_hash = web.id_hash
                parameters.update(roleArn=offer.role_arn, durationSeconds=duration)
            else:
                row.status = "denied"
            row.decided_at = now
            self._audit(
                session,
                "ApproveDeviceAuthorization" if approve else "DenyDeviceAuthorization",
                sign_in_actor(sign_in),
                client,
                now,
                request_parameters=parameters,
                additional={"deviceSourceIp": row.source_ip, "deviceAuthorizationId": row.device_code_hash[:16]},
            )
            return _device_view(row)

    def poll_device(self, device_code: str, client_id: str, client: ClientInfo) -> TokenGrant:
        if client_id != CLIENT_ID:
            raise OAuthError("invalid_client", "unknown client_id", 401)
        if not device_code:
            raise OAuthError("invalid_request", "device_code is required")
        now = self.runtime.now()
        handle = secrets.token_urlsafe(32)
        failure: OAuthError | None = None
        with self.runtime.db.transaction() as session:
            device_hash = token_hash(device_code[:256])
            row = repo.device_authorization(session, device_hash)
            if row is None or row.client_id != client_id:
                raise OAuthError("invalid_grant", "the device code is not known here")
            if row.status == "consumed":
                raise OAuthError("invalid_grant", "the device code was already used")
            if row.expires_at <= now:
                raise OAuthError("expired_token", "the device code expired before it was approved")
            if row.status == "denied":
                raise OAuthError("access_denied", "the request was denied in the browser")
            if row.status == "pending":
                early = (
                    row.last_polled_at is not None
                    and now - row.last_polled_at < dt.timedelta(seconds=row.interval_seconds) - POLL_TOLERANCE
                )
                row.last_polled_at = now
                if early:
                    row.interval_seconds += int(SLOW_DOWN_STEP)
                    failure = OAuthError("slow_down", f"poll at most every {row.interval_seconds} seconds")
                else:
                    failure = OAuthError("authorization_pending", "waiting for the person to approve in a browser")
            else:
                loaded = self._stored_sign_in(session, row.web_session_hash, now)
                if not repo.consume_device_authorization(session, device_hash, now):
                    raise OAuthError("invalid_grant", "the device code was already used")
                actor = sign_in_actor(loaded[1]) if loaded else Actor(type="SAMLUser")
                parameters = {"grantType": GRANT_DEVICE_CODE, "clientId": client_id, "roleArn": row.role_arn}
                if loaded is None or row.role_arn is None:
                    failure = OAuthError("invalid_grant", "the browser session that approved this device has ended")
                    self._audit(
                        session,
                        "CreateToken",
                        actor,
                        client,
                        now,
                        error=(failure.error, failure.description),
                        request_parameters=parameters,
                    )
                else:
                    web, sign_in = loaded
                    self._open_cli_session(session, handle, web, sign_in, row.role_arn, device_hash, now)
                    self._audit(
                        session,
                        "CreateToken",
                        actor,
                        client,
                        now,
                        request_parameters={**parameters, "durationSeconds": row.duration_seconds},
                        additional={"deviceAuthorizationId": device_hash[:16]},
                    )
                    role_arn, duration, expires_at = row.role_arn, row.duration_seconds, web.expires_at
        if failure is not None:
            raise failure
        return self._issue(handle, sign_in, role_arn, duration, expires_at, client, refresh_token=handle)

    # plumbing -----------------------------------------------------------------------------------

    def _purge_now_and_then(self, session: Session, now: dt.datetime) -> None:
        last = _last_purge.get(self.runtime.db.url)
        if last is None or now - last >= PURGE_INTERVAL:
            _last_purge[self.runtime.db.url] = now
            repo.purge_cli_expired(session, now)

    def _audit(
        self,
        session: Session,
        name: str,
        actor: Actor,
        client: ClientInfo,
        now: dt.datetime,
        *,
        error: tuple[str, str] | None = None,
        request_parameters: dict[str, Any] | None = None,
        additional: dict[str, Any] | None = None,
    ) -> None:
        record_event(
            session,
            event_name=name,
            event_source=EVENT_SOURCE,
            actor=actor,
            now=now,
            region=self.settings.region,
            source_ip=client.source_ip,
            user_agent=client.user_agent,
            request_id=client.request_id,
            error_code=error[0] if error else None,
            error_message=error[1] if error else None,
            request_parameters=request_parameters,
            recipient_account_id=actor.account_id or self.settings.default_account_id,
            additional=additional,
        )


def _device_view(row: models.DeviceAuthorization) -> DeviceView:
    return DeviceView(
        user_code=display_user_code(row.user_code),
        requested_role_arn=row.requested_role_arn,
        requested_duration=row.requested_duration,
        source_ip=row.source_ip,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=row.status,
    )
