"""What the SSO-OIDC steps share: values, request checks, audit scope, client check, session opening."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from broker.errors import BrokerError
from broker.iam.constant_time import same_secret
from broker.iam.text import has_control_characters
from broker.services.audit import ANONYMOUS, Actor, AuditScope, ClientInfo
from broker.services.federation import BrowserSession, FederationService, RoleOffer, SignIn, sign_in_actor, signed_in
from broker.services.federation import token_hash as sha256_hex
from broker.services.federation.audit import sign_in_scope
from broker.services.runtime import Runtime
from broker.services.sso import errors
from broker.services.sso.lifetimes import offers_in_session, session_expiry
from broker.services.sso.offers import current_offers
from broker.store import Tx
from broker.store import federation as federation_store
from broker.store import sso as store
from broker.store.sso import SsoAuthorizationRecord, SsoClientRecord, SsoSessionRecord

EVENT_SOURCE = "sso-oauth.amazonaws.com"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"

# A device code lives 10 minutes (as AWS's do), polled at most every 5 seconds...
DEVICE_LIFETIME = dt.timedelta(minutes=10)
DEVICE_INTERVAL = 5
SLOW_DOWN_STEP = 5
POLL_TOLERANCE = dt.timedelta(milliseconds=500)
# ...an /authorize request survives the IdP round trip for 10 minutes, its code one exchange in a minute.
AUTHORIZATION_LIFETIME = dt.timedelta(minutes=10)
CODE_LIFETIME = dt.timedelta(seconds=60)
PURGE_INTERVAL = dt.timedelta(minutes=10)
PURGE_CHORE = "sso.purge_expired"
MAX_FIELD = 512
START_SUFFIXES = ("", "/", "#", "/#", "/#/")


@dataclass(frozen=True)
class Registration:
    client_id: str
    client_secret: str
    issued_at: dt.datetime
    expires_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "clientIdIssuedAt": int(self.issued_at.timestamp()),
            "clientSecretExpiresAt": int(self.expires_at.timestamp()),
        }


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str

    def to_json(self) -> dict[str, Any]:
        return {
            "accessToken": self.access_token,
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
            "refreshToken": self.refresh_token,
        }


@dataclass(frozen=True)
class Consent:
    """What the consent and device pages show before anything is granted."""

    handle: str
    consent_token: str
    csrf_token: str
    client_name: str
    sign_in: SignIn
    offers: list[RoleOffer]
    session_expires_at: dt.datetime
    redirect_host: str | None = None
    redirect_port: int | None = None
    user_code: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True)
class AuthorizeRedirect(Exception):
    """A refused /authorize, sent back to the loopback listener with ``error=``; ``refusal`` goes in the trail."""

    location: str
    refusal: errors.OidcError


def consent_token(web: BrowserSession, grant_hash: str) -> str:
    mac = hmac.new(web.csrf_token.encode(), f"sso-consent:{grant_hash}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def consent_matches(web: BrowserSession, grant_hash: str, given: str | None) -> bool:
    return given is not None and len(given) <= 64 and same_secret(consent_token(web, grant_hash), given)


def text_field(value: object, name: str, *, required: bool = True, limit: int = MAX_FIELD) -> str | None:
    if value is None or value == "":
        if required:
            raise errors.InvalidRequest(f"{name} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise errors.InvalidRequest(f"{name} must be a string of at most {limit} characters")
    if has_control_characters(value):
        raise errors.InvalidRequest(f"{name} must not contain control characters")
    return value


def string_list(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 32 or not all(isinstance(v, str) and len(v) <= 256 for v in value):
        raise errors.InvalidClientMetadata(f"{name} must be a list of at most 32 strings")
    return list(value)


class OidcBase:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.federation = FederationService(runtime)

    # --- audit ---------------------------------------------------------------------------------

    def _scope(
        self, event_name: str, actor: Actor, client: ClientInfo, parameters: dict[str, Any] | None = None
    ) -> AuditScope:
        return sign_in_scope(
            self.settings,
            event_name,
            actor,
            client,
            event_source=EVENT_SOURCE,
            request_parameters=parameters,
            recipient=actor.account_id,
        )

    def audit_refusal(
        self,
        event_name: str,
        client: ClientInfo,
        error: BrokerError,
        *,
        actor: Actor = ANONYMOUS,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """A refusal that changed nothing, through the group-commit writer (durable before the answer)."""
        self._scope(event_name, actor, client, parameters).submit(
            self.runtime.audit_writer, self.runtime.now(), error=error
        )

    def start_url(self) -> str:
        return f"{self.settings.base_url}/start"

    def _purge_now_and_then(self, tx: Tx, now: dt.datetime) -> None:
        if self.runtime.housekeeping.due(PURGE_CHORE, now, PURGE_INTERVAL):
            store.purge_expired(tx, now)

    # --- RegisterClient ------------------------------------------------------------------------

    def _client(
        self, tx: Tx, client_id: str | None, client_secret: str | None, now: dt.datetime, grant: str
    ) -> SsoClientRecord:
        """The registration ``client_id`` names, its secret checked (InvalidClientException
        otherwise), registered for ``grant`` (UnauthorizedClientException otherwise)."""
        known = client_id and len(client_id) <= 64 and not has_control_characters(client_id)
        found = store.client(tx, client_id) if known and client_id else None
        if found is None:
            raise errors.InvalidClient("the client is not registered here")
        if found.expires_at <= now:
            raise errors.InvalidClient("the client registration has expired; register again")
        if (
            not client_secret
            or len(client_secret) > 256
            or not same_secret(found.client_secret_hash, sha256_hex(client_secret))
        ):
            raise errors.InvalidClient("the client secret is not valid")
        if not allows_grant(found, grant):
            raise errors.UnauthorizedClient(f"the client is not registered for the grant type {grant}")
        return found

    # --- StartDeviceAuthorization --------------------------------------------------------------

    def _browser(self, tx: Tx, web_token: str | None, now: dt.datetime) -> tuple[BrowserSession, SignIn]:
        loaded = signed_in(tx, web_token, now) if web_token and len(web_token) <= 128 else None
        if loaded is None:
            raise errors.PageRefused("NoSession", "Your sign-in has expired. Start again.", 401)
        return loaded

    def _open_session(
        self,
        tx: Tx,
        row: SsoAuthorizationRecord,
        registered: SsoClientRecord,
        client: ClientInfo,
        parameters: dict[str, Any],
        actor: list[Actor],
        now: dt.datetime,
    ) -> Tokens:
        """An approved device code or code, used once: a new SSO session and its first tokens."""
        web = federation_store.web_session(tx, row.web_session_hash, now) if row.web_session_hash else None
        if not store.consume(tx, row.grant_hash, now):
            raise errors.InvalidGrant("the grant was already used")
        if web is None:
            raise errors.InvalidGrant("the browser sign-in that approved this request has ended; sign in again")
        sign_in = SignIn(**web.assertion)
        actor[0] = sign_in_actor(sign_in)
        refresh = secrets.token_urlsafe(48)
        session = SsoSessionRecord(
            session_id=secrets.token_hex(16),
            refresh_hash=sha256_hex(refresh),
            client_id=registered.client_id,
            subject=sign_in.subject[:1024],
            provider_arn=sign_in.provider_arn,
            sign_in=sign_in.stored(),
            grant_ref=row.grant_hash,
            created_at=now,
            expires_at=self._session_expiry(tx, sign_in, current_offers(tx, sign_in), now),
            last_used_at=now,
        )
        store.add_session(tx, session)
        access, expires_in = self._access_token(tx, session, now)
        scope = self._scope("CreateToken", actor[0], client, parameters)
        scope.additional = {"ssoSessionId": session.session_id, "authorizationId": row.grant_hash[:16]}
        scope.record(tx, now)
        return Tokens(access, expires_in, refresh)

    def _session_expiry(self, tx: Tx, sign_in: SignIn, offers: Sequence[RoleOffer], now: dt.datetime) -> dt.datetime:
        """How long a sign-in lasts before the IdP must be visited again: the longest of its
        roles' lengths (role tag, account tag, else the setting), never past the IdP's own
        SessionNotOnOrAfter (see :mod:`.lifetimes`)."""
        return session_expiry(tx, sign_in, offers, now, self.settings.sso_session_lifetime_seconds, self.runtime.cache)

    def _offers_in_session(
        self, tx: Tx, session: SsoSessionRecord, sign_in: SignIn, now: dt.datetime
    ) -> tuple[list[RoleOffer], bool]:
        return offers_in_session(
            tx, sign_in, session.created_at, now, self.settings.sso_session_lifetime_seconds, self.runtime.cache
        )

    def _access_token(self, tx: Tx, session: SsoSessionRecord, now: dt.datetime) -> tuple[str, int]:
        lifetime = dt.timedelta(seconds=self.settings.sso_access_token_lifetime_seconds)
        expires_at = min(now + lifetime, session.expires_at)
        token = secrets.token_urlsafe(48)
        store.add_access_token(tx, sha256_hex(token), session.session_id, now, expires_at)
        return token, max(1, int((expires_at - now).total_seconds()))


def one_arg(args: dict[str, list[str]], name: str) -> str | None:
    values = args.get(name) or []
    return values[0] if values else None


# What a registration that names no grant types may use: the device flow the AWS CLI registers
# for without naming it, and refreshing what that flow issued.
_UNNAMED_GRANTS = frozenset({GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN})


def allows_grant(registered: SsoClientRecord, grant: str) -> bool:
    """Whether the registration may use ``grant``. RegisterClient's ``grantTypes`` "is used to
    restrict the token granting flows available to the client" (AWS); none named, the device
    flow and refresh only."""
    named = registered.registration.get("grantTypes") or []
    return grant in named if named else grant in _UNNAMED_GRANTS


def registered_redirect(registered: SsoClientRecord, redirect_uri: str) -> bool:
    """The client's registered redirect URIs, compared without the port (RFC 8252 7.3: any port).
    A client that registered none may not redirect anywhere (it has no code flow)."""
    uris = registered.registration.get("redirectUris") or []
    if not uris:
        return False
    asked = urlsplit(redirect_uri)
    for uri in uris:
        parts = urlsplit(uri)
        if (parts.scheme, parts.hostname, parts.path) == (asked.scheme, asked.hostname, asked.path):
            return True
    return False
