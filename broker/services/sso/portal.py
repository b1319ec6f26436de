"""The SSO portal API, for a bearer access token: ListAccounts, ListAccountRoles, GetRoleCredentials, Logout.

What a session may assume is worked out again at every call (:mod:`.offers`); GetRoleCredentials
issues through the role page's own path (:meth:`FederationService.issue`: the trust policy decided
again, the same session tags, source identity and ``AssumeRoleWithSAML`` event), and the portal
adds its own ``GetRoleCredentials`` event. Reads are audited through the group-commit writer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from broker.errors import BrokerError
from broker.iam.numbers import parse_ascii_int_in_range
from broker.services.audit import ANONYMOUS, Actor, AuditScope, ClientInfo
from broker.services.credentials import TemporaryCredentials
from broker.services.federation import BadDuration, FederationError, FederationService, RoleOffer, SignIn, sign_in_actor
from broker.services.federation import token_hash as sha256_hex
from broker.services.federation.audit import sign_in_scope
from broker.services.runtime import Runtime
from broker.services.sso import errors
from broker.services.sso.lifetimes import offers_in_session
from broker.store import sso as store
from broker.store.sso import SsoSessionRecord

EVENT_SOURCE = "sso.amazonaws.com"
MAX_RESULTS = 100
DEFAULT_RESULTS = 20
MAX_TOKEN = 1024
_UNAUTHORIZED = "Session token not found or invalid"


@dataclass(frozen=True)
class Caller:
    """The SSO session behind a bearer token, and what its sign-in may assume now."""

    session: SsoSessionRecord
    sign_in: SignIn
    offers: list[RoleOffer]

    @property
    def actor(self) -> Actor:
        return sign_in_actor(self.sign_in)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


class SsoPortal:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings

    def _scope(
        self, event_name: str, actor: Actor, client: ClientInfo, parameters: dict[str, Any] | None
    ) -> AuditScope:
        scope = sign_in_scope(
            self.settings,
            event_name,
            actor,
            client,
            event_source=EVENT_SOURCE,
            request_parameters=parameters,
            recipient=actor.account_id,
        )
        scope.read_only = event_name != "Logout"
        return scope

    def _audit(
        self,
        event_name: str,
        caller: Caller | None,
        client: ClientInfo,
        parameters: dict[str, Any] | None,
        *,
        error: BrokerError | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        scope = self._scope(event_name, caller.actor if caller else ANONYMOUS, client, parameters)
        if caller is not None:
            scope.additional = {"ssoSessionId": caller.session.session_id}
        scope.submit(self.runtime.audit_writer, self.runtime.now(), error=error, response=response)

    def authenticate(self, bearer: str | None) -> Caller:
        """The live session an access token belongs to: UnauthorizedException for anything else."""
        if not bearer:
            # Told apart from a bad token: a proxy that drops the underscore header shows here.
            raise errors.Unauthorized(f"{_UNAUTHORIZED}: no x-amz-sso_bearer_token header arrived")
        if len(bearer) > MAX_TOKEN:
            raise errors.Unauthorized(_UNAUTHORIZED)
        now = self.runtime.now()
        with self.runtime.db.read() as tx:
            found = store.session_by_access_token(tx, sha256_hex(bearer.strip()))
            if found is None:
                raise errors.Unauthorized(_UNAUTHORIZED)
            session, token_expires_at = found
            if token_expires_at <= now or session.expires_at <= now or session.revoked_at is not None:
                raise errors.Unauthorized(_UNAUTHORIZED)
            sign_in = SignIn(**session.sign_in)
            offers, trusted = offers_in_session(
                tx, sign_in, session.created_at, now, self.settings.sso_session_lifetime_seconds, self.runtime.cache
            )
            if trusted and not offers:  # every role's own session length has passed
                raise errors.Unauthorized(_UNAUTHORIZED)
            return Caller(session, sign_in, offers)

    def _call(self, event_name: str, bearer: str | None, client: ClientInfo, parameters: dict[str, Any]) -> Caller:
        try:
            return self.authenticate(bearer)
        except errors.PortalError as exc:
            self._audit(event_name, None, client, parameters, error=exc)
            raise

    # --- listings ------------------------------------------------------------------------------

    def list_accounts(
        self, bearer: str | None, next_token: str | None, max_result: str | None, client: ClientInfo
    ) -> Page:
        parameters: dict[str, Any] = {"maxResult": max_result, "nextToken": bool(next_token)}
        caller = self._call("ListAccounts", bearer, client, parameters)
        try:
            account_ids = sorted({offer.account_id for offer in caller.offers})
            with self.runtime.db.read() as tx:
                labels = store.account_labels(tx, account_ids)
            items = []
            for account_id in account_ids:
                label = labels.get(account_id)
                item = {"accountId": account_id, "accountName": label.name if label else account_id}
                if label is not None and label.email:
                    item["emailAddress"] = label.email
                items.append(item)
            page = self._page(caller, "accounts", "", items, next_token, max_result)
        except errors.PortalError as exc:
            self._audit("ListAccounts", caller, client, parameters, error=exc)
            raise
        self._audit("ListAccounts", caller, client, parameters)
        return page

    def list_account_roles(
        self,
        bearer: str | None,
        account_id: str | None,
        next_token: str | None,
        max_result: str | None,
        client: ClientInfo,
    ) -> Page:
        parameters: dict[str, Any] = {"accountId": (account_id or "")[:64], "maxResult": max_result}
        caller = self._call("ListAccountRoles", bearer, client, parameters)
        try:
            if not account_id:
                raise errors.InvalidPortalRequest("account_id is required")
            items = [
                {"roleName": offer.role_name, "accountId": offer.account_id}
                for offer in caller.offers
                if offer.account_id == account_id
            ]
            page = self._page(caller, "roles", account_id, items, next_token, max_result)
        except errors.PortalError as exc:
            self._audit("ListAccountRoles", caller, client, parameters, error=exc)
            raise
        self._audit("ListAccountRoles", caller, client, parameters)
        return page

    def _page(
        self,
        caller: Caller,
        kind: str,
        scope: str,
        items: list[dict[str, Any]],
        next_token: str | None,
        max_result: str | None,
    ) -> Page:
        size = DEFAULT_RESULTS
        if max_result:
            parsed = parse_ascii_int_in_range(max_result, low=1, high=MAX_RESULTS)
            if parsed is None:
                raise errors.InvalidPortalRequest(f"max_result must be from 1 to {MAX_RESULTS}")
            size = parsed
        start = self._read_token(caller, kind, scope, next_token) if next_token else 0
        end = start + size
        more = self._write_token(caller, kind, scope, end) if end < len(items) else None
        return Page(items[start:end], more)

    # A next token is opaque and tamper-proof: the position, bound to the session and the listing
    # it continues, under an HMAC keyed from the broker's secret derivation key.
    def _mac(self, payload: bytes) -> bytes:
        key = hmac.new(self.runtime.keys.secret_derivation_key, b"broker-sso-next-token", hashlib.sha256).digest()
        return hmac.new(key, payload, hashlib.sha256).digest()[:16]

    def _write_token(self, caller: Caller, kind: str, scope: str, position: int) -> str:
        payload = json.dumps([caller.session.session_id, kind, scope, position], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def _read_token(self, caller: Caller, kind: str, scope: str, token: str) -> int:
        refused = errors.InvalidPortalRequest("next_token is not valid for this listing")
        if len(token) > MAX_TOKEN:
            raise refused
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise refused from None
        payload, mac = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(mac, self._mac(payload)):
            raise refused
        try:
            session_id, token_kind, token_scope, position = json.loads(payload)
        except (ValueError, TypeError):
            raise refused from None
        if (session_id, token_kind, token_scope) != (caller.session.session_id, kind, scope):
            raise refused
        if not isinstance(position, int) or position < 0:
            raise refused
        return position

    # --- GetRoleCredentials --------------------------------------------------------------------

    def get_role_credentials(
        self, bearer: str | None, role_name: str | None, account_id: str | None, client: ClientInfo
    ) -> TemporaryCredentials:
        parameters: dict[str, Any] = {"roleName": (role_name or "")[:64], "accountId": (account_id or "")[:64]}
        caller = self._call("GetRoleCredentials", bearer, client, parameters)
        try:
            if not role_name or not account_id:
                raise errors.InvalidPortalRequest("role_name and account_id are required")
            offer = next((o for o in caller.offers if o.account_id == account_id and o.role_name == role_name), None)
            if offer is None:
                raise errors.ResourceNotFound("No access: the role is not assigned to your sign-in")
            duration = min(self.settings.sso_role_credentials_seconds, offer.max_session_duration)
            try:
                credentials = FederationService(self.runtime).issue(caller.sign_in, offer.role_arn, duration, client)
            except BadDuration:
                raise errors.Unauthorized("the IdP session has ended; sign in again") from None
            except FederationError:
                raise errors.ResourceNotFound("No access: the role no longer trusts your sign-in") from None
        except errors.PortalError as exc:
            self._audit("GetRoleCredentials", caller, client, parameters, error=exc)
            raise
        self._audit(
            "GetRoleCredentials",
            caller,
            client,
            {**parameters, "roleArn": offer.role_arn},
            response=credentials.audit_elements(),
        )
        return credentials

    # --- Logout --------------------------------------------------------------------------------

    def logout(self, bearer: str | None, client: ClientInfo) -> None:
        """Revoke the session the token belongs to: its access tokens and its refresh token."""
        caller = self._call("Logout", bearer, client, {})
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            store.revoke_session(tx, caller.session.session_id, now)
            scope = self._scope("Logout", caller.actor, client, {})
            scope.additional = {"ssoSessionId": caller.session.session_id}
            scope.record(tx, now)


def role_credentials_json(credentials: TemporaryCredentials) -> dict[str, Any]:
    """GetRoleCredentials' answer: the expiration in epoch milliseconds."""
    expiration: dt.datetime = credentials.expiration
    return {
        "roleCredentials": {
            "accessKeyId": credentials.access_key_id,
            "secretAccessKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token,
            "expiration": int(expiration.timestamp() * 1000),
        }
    }
