"""The CLI session's refresh handle: credentials without a browser (RFC 6749 section 6), what the
session is (who, until when, which roles), and revocation (RFC 7009)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from broker.iam.timestamps import aws_timestamp
from broker.services.audit import Actor, ClientInfo
from broker.services.cli_auth._base import CliAuthBase, Issuance, TokenGrant
from broker.services.cli_auth.authorize_request import is_role_arn
from broker.services.cli_auth.clients import GRANT_REFRESH_TOKEN, check_client
from broker.services.cli_auth.errors import OAuthError
from broker.services.cli_auth.sessions import live_cli_session, stored_sign_in
from broker.services.federation import RoleOffer, sign_in_actor, token_hash
from broker.store import cli_auth as store


@dataclass(frozen=True)
class SessionView:
    """The CLI session behind a refresh handle: who, until when, which roles."""

    subject: str
    provider_arn: str
    expires_at: dt.datetime
    roles: list[RoleOffer]

    def to_json(self) -> dict[str, Any]:
        return {
            "Subject": self.subject,
            "ProviderArn": self.provider_arn,
            "Expiration": aws_timestamp(self.expires_at),
            "Roles": [
                {
                    "RoleArn": o.role_arn,
                    "RoleName": o.role_name,
                    "AccountId": o.account_id,
                    "AccountAlias": o.account_alias,
                    "AccountName": o.account_name,
                    "Description": o.description,
                    "MaxSessionDuration": o.max_session_duration,
                }
                for o in self.roles
            ],
        }


class RefreshTokenGrant(CliAuthBase):
    def refresh(
        self, refresh_token: str, role_arn: str | None, duration: int | None, client_id: str, client: ClientInfo
    ) -> TokenGrant:
        """Credentials for any role the sign-in offers, within the CLI session's life, no browser."""
        check_client(client_id)
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        if role_arn is not None and not is_role_arn(role_arn):
            raise OAuthError("invalid_request", "role_arn must be a role ARN")
        now = self.runtime.now()
        failure: OAuthError | None = None
        with self.runtime.db.transaction() as tx:
            cli, sign_in = live_cli_session(tx, refresh_token, now)
            chosen = role_arn or cli.default_role_arn
            parameters: dict[str, Any] = {"grantType": GRANT_REFRESH_TOKEN, "clientId": client_id, "roleArn": chosen}
            if all(o.role_arn != chosen for o in sign_in.offers()):
                failure = OAuthError("invalid_scope", f"role {chosen} is not one this sign-in may assume")
            else:
                store.touch_cli_session(tx, cli.handle_hash, now)
                parameters["durationSeconds"] = duration
            scope = self._scope("CreateToken", sign_in_actor(sign_in), client, request_parameters=parameters)
            scope.record(tx, now, error=failure)
            approved = Issuance(sign_in, chosen, duration, cli.expires_at)
        if failure is not None:
            raise failure
        return self._issue(approved, client, opened_handle=None)

    def session_info(self, refresh_token: str) -> SessionView:
        now = self.runtime.now()
        try:
            with self.runtime.db.transaction() as tx:
                cli, sign_in = live_cli_session(tx, refresh_token, now)
                return SessionView(sign_in.subject, sign_in.provider_arn, cli.expires_at, sign_in.offers())
        except OAuthError as exc:
            exc.status = 401  # RFC 6750 section 3.1: a bearer credential that is not good
            raise

    def revoke(self, refresh_token: str, client_id: str, client: ClientInfo) -> None:
        """RFC 7009: an unknown or already revoked token is not an error."""
        check_client(client_id)
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            cli = store.cli_session(tx, token_hash(refresh_token[:256])) if refresh_token else None
            if cli is None or cli.revoked_at is not None:
                return
            store.revoke_cli_session(tx, cli.handle_hash, now)
            loaded = stored_sign_in(tx, cli.web_session_hash, now)
            actor = (
                sign_in_actor(loaded[1])
                if loaded
                else Actor(type="SAMLUser", user_name=cli.subject, extra={"identityProvider": cli.provider_arn})
            )
            self._scope("RevokeToken", actor, client, request_parameters={"clientId": client_id}).record(tx, now)
