"""Device authorization (RFC 8628): for a CLI with no browser on its own machine.

The CLI asks for a device code and shows the person a short user code; the person types it into
the broker's approval page in any browser, signs in there and approves a role (or denies), while
the CLI polls the token endpoint at the interval it was given.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace
from typing import Any

from broker.services.audit import Actor, ClientInfo
from broker.services.cli_auth._base import CliAuthBase, TokenGrant
from broker.services.cli_auth.authorize_request import is_role_arn
from broker.services.cli_auth.clients import GRANT_DEVICE_CODE, check_client
from broker.services.cli_auth.errors import AuthorizeRefused, OAuthError
from broker.services.cli_auth.sessions import browser_sign_in, stored_sign_in
from broker.services.cli_auth.user_code_guard import EVENT as USER_CODE_EVENT
from broker.services.cli_auth.user_code_guard import NOT_VALID as _NOT_VALID
from broker.services.cli_auth.user_code_guard import CodeCheck, check_user_code, strike_device
from broker.services.cli_auth.user_codes import display_user_code, new_user_code, normalise_user_code
from broker.services.federation import SignIn, sign_in_actor, token_hash
from broker.services.ratelimit.addresses import client_key
from broker.store import Tx
from broker.store import cli_auth as store
from broker.store.cli_auth import DeviceAuthorizationRecord

DEVICE_LIFETIME = dt.timedelta(minutes=10)
# Module attributes, read at call time, so a test broker can poll faster.
DEVICE_POLL_INTERVAL = 5
SLOW_DOWN_STEP = 5
# Network jitter: a poll this much early still counts as on time.
POLL_TOLERANCE = dt.timedelta(milliseconds=500)


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

    @classmethod
    def of(cls, row: DeviceAuthorizationRecord) -> DeviceView:
        return cls(
            display_user_code(row.user_code),
            row.requested_role_arn,
            row.requested_duration,
            row.source_ip,
            row.created_at,
            row.expires_at,
            row.status,
        )


class DeviceAuthorizationGrant(CliAuthBase):
    def start_device(
        self, client_id: str, role_arn: str | None, duration: int | None, client: ClientInfo
    ) -> DeviceStart:
        check_client(client_id)
        if role_arn is not None and not is_role_arn(role_arn):
            raise OAuthError("invalid_request", "role must be a role ARN")
        now = self.runtime.now()
        device_code = secrets.token_urlsafe(32)
        interval = int(DEVICE_POLL_INTERVAL)
        with self.runtime.db.transaction() as tx:
            self._purge_now_and_then(tx, now)
            for _ in range(8):
                user_code = new_user_code()
                row = DeviceAuthorizationRecord(
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
                if store.add_device_authorization(tx, row):
                    break
            else:  # pragma: no cover - 8 collisions in a space of 2.5e10
                raise OAuthError("temporarily_unavailable", "could not draw a free user code; try again", 503)
        return DeviceStart(device_code, user_code, int(DEVICE_LIFETIME.total_seconds()), interval)

    def device_for_user_code(self, user_code: str, web_token: str | None, client: ClientInfo) -> DeviceView:
        """The pending, unexpired device request that what the person typed names.

        Raises :class:`AuthorizeRefused` (audited, the wrong guess counted; see :mod:`.user_code_guard`)
        for anything else, and ``NoSession`` without a signed-in browser."""
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            web, sign_in = browser_sign_in(tx, web_token, None, now, expired_form=None)
            check = check_user_code(tx, user_code, web, self._guesser_address(client), now)
            if check.row is not None:
                return DeviceView.of(check.row)
            self._audit_code_refusal(tx, sign_in, client, check, now)
        assert check.refusal is not None
        raise check.refusal

    def _guesser_address(self, client: ClientInfo) -> str | None:
        """Wrong codes count per client as the per-address limits count it (an IPv6 client's network)."""
        return client_key(client.source_ip, self.runtime.settings.rate_limit_ipv6_prefix)

    def _audit_code_refusal(
        self, tx: Tx, sign_in: SignIn, client: ClientInfo, check: CodeCheck, now: dt.datetime
    ) -> None:
        scope = self._scope(USER_CODE_EVENT, sign_in_actor(sign_in), client, additional=check.audit)
        scope.record(tx, now, error=check.refusal)

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
        """Approve (with a role the sign-in offers) or deny a pending device request, audited.

        A forged form (no CSRF match) or a role the sign-in may not assume is refused, audited, and
        counts as a strike against the device authorization it names."""
        now = self.runtime.now()
        event = "ApproveDeviceAuthorization" if approve else "DenyDeviceAuthorization"
        with self.runtime.db.transaction() as tx:
            web, sign_in = browser_sign_in(tx, web_token, None, now, expired_form=None)
            refusal: AuthorizeRefused | None = None
            if not web.csrf_matches(csrf_token):
                # Not counted against the guesser: a cross-site form must not lock the person out.
                refusal = AuthorizeRefused("BadCsrf", "The form has expired. Enter the code again.", 403)
                code = normalise_user_code(user_code)
                row = store.device_authorization_by_user_code(tx, code) if code else None
            else:
                check = check_user_code(tx, user_code, web, self._guesser_address(client), now)
                if check.row is None:
                    self._audit_code_refusal(tx, sign_in, client, check, now)
                    refusal = check.refusal
                row = check.row
            offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None) if approve else None
            if refusal is None and approve and offer is None:
                refusal = AuthorizeRefused("RoleNotPermitted", "That role is not one you may assume.", 403)
            parameters: dict[str, Any] = {"clientId": row.client_id} if row else {}
            additional: dict[str, Any] = {}
            if row is not None:
                additional = {"deviceSourceIp": row.source_ip, "deviceAuthorizationId": row.device_code_hash[:16]}
            if refusal is not None and refusal.code in ("BadCsrf", "RoleNotPermitted"):
                if row is not None and row.status == "pending" and row.expires_at > now:
                    additional["deviceLocked"] = strike_device(tx, row, now)
                if role_arn is not None:
                    parameters["roleArn"] = role_arn[:2048]
                scope = self._scope(event, sign_in_actor(sign_in), client, request_parameters=parameters)
                scope.additional = additional
                scope.record(tx, now, error=refusal)
            if refusal is None:
                assert row is not None
                if offer is not None:
                    if duration is not None:
                        duration = min(duration, offer.max_session_duration)
                    decided = store.approve_device_authorization(
                        tx,
                        row.device_code_hash,
                        role_arn=offer.role_arn,
                        duration_seconds=duration,
                        web_session_hash=web.id_hash,
                        now=now,
                    )
                    parameters.update(roleArn=offer.role_arn, durationSeconds=duration)
                else:
                    decided = store.deny_device_authorization(tx, row.device_code_hash, now)
                if decided:
                    scope = self._scope(
                        event, sign_in_actor(sign_in), client, request_parameters=parameters, additional=additional
                    )
                    scope.record(tx, now)
                    return replace(DeviceView.of(row), status="approved" if approve else "denied")
                # Decided or locked by another request since it was read: this one changes nothing.
                refusal = AuthorizeRefused(
                    "UsedUserCode", _NOT_VALID, 409, audit_detail="decided or locked by another request meanwhile"
                )
        if refusal.code == "UsedUserCode" and refusal.status == 409:
            self.audit_refusal(event, client, refusal, actor=sign_in_actor(sign_in))
        # Raised once the refusal, its audit record and its counts are committed.
        raise refusal

    def poll_device(self, device_code: str, client_id: str, client: ClientInfo) -> TokenGrant:
        check_client(client_id)
        if not device_code:
            raise OAuthError("invalid_request", "device_code is required")
        now = self.runtime.now()
        handle = secrets.token_urlsafe(32)
        failure: OAuthError | None = None
        with self.runtime.db.transaction() as tx:
            device_hash = token_hash(device_code[:256])
            row = store.device_authorization(tx, device_hash)
            if row is None or row.client_id != client_id:
                raise OAuthError("invalid_grant", "the device code is not known here")
            if row.status == "consumed":
                raise OAuthError("invalid_grant", "the device code was already used")
            if row.expires_at <= now:
                raise OAuthError("expired_token", "the device code expired before it was approved")
            if row.status == "denied":
                raise OAuthError("access_denied", "the request was denied in the browser")
            if row.status == "locked":
                raise OAuthError("access_denied", "the request was locked after repeated failed attempts on its code")
            if row.status == "pending":
                # Committed with the poll's time, so the next poll is measured from this one.
                failure = _not_yet(tx, row, now)
            else:
                loaded = stored_sign_in(tx, row.web_session_hash, now)
                if not store.consume_device_authorization(tx, device_hash, now):
                    raise OAuthError("invalid_grant", "the device code was already used")
                actor = sign_in_actor(loaded[1]) if loaded else Actor(type="SAMLUser")
                parameters = {"grantType": GRANT_DEVICE_CODE, "clientId": client_id, "roleArn": row.role_arn}
                scope = self._scope("CreateToken", actor, client, request_parameters=parameters)
                if loaded is None or row.role_arn is None:
                    failure = OAuthError("invalid_grant", "the browser session that approved this device has ended")
                    scope.record(tx, now, error=failure)
                else:
                    scope.additional = {"deviceAuthorizationId": device_hash[:16]}
                    issuance = self._open_cli_session(
                        tx, scope, now, handle, loaded, row.role_arn, row.duration_seconds, device_hash
                    )
        if failure is not None:
            raise failure
        return self._issue(issuance, client, opened_handle=handle)


def _not_yet(tx: Tx, row: DeviceAuthorizationRecord, now: dt.datetime) -> OAuthError:
    """A poll of a pending request: wait (RFC 8628 3.5), or slow down when it came too soon."""
    early = (
        row.last_polled_at is not None
        and now - row.last_polled_at < dt.timedelta(seconds=row.interval_seconds) - POLL_TOLERANCE
    )
    interval = row.interval_seconds + int(SLOW_DOWN_STEP) if early else row.interval_seconds
    store.record_device_poll(tx, row.device_code_hash, now, interval)
    if early:
        return OAuthError("slow_down", f"poll at most every {interval} seconds")
    return OAuthError("authorization_pending", "waiting for the person to approve in a browser")
