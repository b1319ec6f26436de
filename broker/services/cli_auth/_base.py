"""What every CLI grant shares: the runtime, the browser's sign-in, the audit scope, issuing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.errors import BrokerError
from broker.iam.timestamps import aws_timestamp
from broker.services.audit import ANONYMOUS, Actor, AuditScope, ClientInfo
from broker.services.cli_auth.errors import OAuthCode, OAuthError
from broker.services.cli_auth.sessions import open_cli_session, revoke_cli_session
from broker.services.credentials import TemporaryCredentials
from broker.services.federation import BrowserSession, FederationError, FederationService, RoleNotPermitted, SignIn
from broker.services.federation.audit import sign_in_scope
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store import cli_auth as store

EVENT_SOURCE = "sso-oauth.amazonaws.com"


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint answers: credentials, and the refresh handle of a new CLI session."""

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
class Issuance:
    """Credentials a grant has decided to issue, within the life of the CLI session behind it."""

    sign_in: SignIn
    role_arn: str
    duration: int | None
    session_expires_at: dt.datetime


PURGE_INTERVAL = dt.timedelta(minutes=10)
PURGE_CHORE = "cli_auth.purge_expired"


class CliAuthBase:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.federation = FederationService(runtime)

    def web_sign_in(self, web_token: str | None) -> tuple[BrowserSession, SignIn] | None:
        """The browser's signed-in session, if any."""
        return self.federation.load_web_session(web_token)

    def _purge_now_and_then(self, tx: Tx, now: dt.datetime) -> None:
        if self.runtime.housekeeping.due(PURGE_CHORE, now, PURGE_INTERVAL):
            store.purge_cli_expired(tx, now)

    def _scope(
        self,
        event_name: str,
        actor: Actor,
        client: ClientInfo,
        *,
        request_parameters: Mapping[str, Any] | None = None,
        additional: Mapping[str, Any] | None = None,
    ) -> AuditScope:
        """A step's audit record; recorded in the transaction that changes the state, so both commit together."""
        return sign_in_scope(
            self.settings,
            event_name,
            actor,
            client,
            event_source=EVENT_SOURCE,
            request_parameters=request_parameters,
            recipient=actor.account_id,
            additional=additional,
        )

    def audit_refusal(
        self,
        event_name: str,
        client: ClientInfo,
        error: BrokerError,
        *,
        actor: Actor = ANONYMOUS,
        request_parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a refusal that changed nothing (a malformed request) through the group-commit
        writer; returns once the event is durable, so the answer never leaves unaudited."""
        scope = self._scope(event_name, actor, client, request_parameters=request_parameters)
        scope.submit(self.runtime.audit_writer, self.runtime.now(), error=error)

    def _open_cli_session(
        self,
        tx: Tx,
        scope: AuditScope,
        now: dt.datetime,
        handle: str,
        approved_by: tuple[BrowserSession, SignIn],
        role_arn: str,
        duration: int | None,
        grant_ref: str,
    ) -> Issuance:
        """Open the CLI session a code or device code grants and record its ``CreateToken`` in
        ``scope``; the session lives as long as the browser's that approved it."""
        web, sign_in = approved_by
        open_cli_session(tx, handle, web, sign_in, role_arn, grant_ref, now)
        scope.request_parameters = {**(scope.request_parameters or {}), "durationSeconds": duration}
        scope.record(tx, now)
        return Issuance(sign_in, role_arn, duration, web.expires_at)

    def _issue(self, issuance: Issuance, client: ClientInfo, *, opened_handle: str | None) -> TokenGrant:
        """Credentials for the role; ``opened_handle`` is the refresh handle of a CLI session this
        grant has just opened, handed to the CLI with them."""
        sign_in = issuance.sign_in
        try:
            credentials = self.federation.issue(sign_in, issuance.role_arn, issuance.duration, client)
        except FederationError as exc:
            if opened_handle is not None:
                # The CLI never receives this session's handle: close it rather than leave it open.
                with self.runtime.db.transaction() as tx:
                    revoke_cli_session(tx, opened_handle, self.runtime.now())
            # A role the sign-in may not (or no longer) assume is out of the grant's scope.
            code: OAuthCode = "invalid_scope" if isinstance(exc, RoleNotPermitted) else "invalid_request"
            raise OAuthError(code, exc.message) from None
        return TokenGrant(credentials, sign_in, issuance.session_expires_at, opened_handle)
