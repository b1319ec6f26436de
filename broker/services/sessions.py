"""The sign-ins people hold, as an operator sees and ends them (`broker sessions list|revoke`).

Three kinds of session hold a sign-in: the browser's own (``web``: the role page, the consent
pages), an SSO session (stock AWS tools, ``sso``) and a CLI session (`broker login`, ``cli``).
All are database rows read at every use (a page, a refresh, a portal call), so a revocation
takes effect at the next request on every instance; each one revoked is audited. Ending a web
session also ends the CLI sessions begun from it (they hang off its row); SSO sessions keep
their own copy of the sign-in and are revoked by their own selection.

Credentials already issued are stateless (a signed session token): ending them early is IAM's
way, a deny on ``aws:TokenIssueTime`` written as the role's inline policy
``AWSRevokeOlderSessions``, as the AWS console's "Revoke active sessions" writes it
(:func:`revoke_older_role_sessions`). The policy cache notices it through the generation
counters, so it too applies at the next request everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from broker.iam.arn import parse_role_arn
from broker.iam.errors import AwsError
from broker.services.audit.operator import record_operator_event
from broker.services.iam import principals
from broker.services.iam.roles import get_role
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store import cli_auth as cli_store
from broker.store import federation as federation_store
from broker.store import sso as sso_store

REVOKE_POLICY_NAME: Final = "AWSRevokeOlderSessions"
SSO: Final = "sso"
CLI: Final = "cli"
WEB: Final = "web"
# The shown id of a CLI or web session: a prefix of the hash of its handle or cookie (both secret).
_CLI_ID_LENGTH: Final = 32


@dataclass(frozen=True)
class HeldSession:
    """A live session, as `broker sessions list` shows it."""

    kind: str  # sso | cli | web
    session_id: str
    subject: str
    provider_arn: str
    # The roles it reaches: an SSO or web session's offered roles, a CLI session's default role.
    role_arns: tuple[str, ...]
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "Kind": self.kind,
            "SessionId": self.session_id,
            "Subject": self.subject,
            "ProviderArn": self.provider_arn,
            "RoleArns": list(self.role_arns),
            "CreatedAt": _iso(self.created_at),
            "ExpiresAt": _iso(self.expires_at),
            "LastUsedAt": _iso(self.last_used_at) if self.last_used_at else None,
        }


@dataclass(frozen=True)
class Selection:
    """Which sessions: all of the given criteria must match; none given matches every session."""

    person: str | None = None  # the sign-in's subject (NameID)
    role_arn: str | None = None
    session_id: str | None = None
    kind: str | None = None  # sso | cli | web: narrows the others, never selects on its own

    @property
    def empty(self) -> bool:
        return self.person is None and self.role_arn is None and self.session_id is None

    def matches(self, held: HeldSession) -> bool:
        return (
            (self.person is None or held.subject == self.person)
            and (self.role_arn is None or self.role_arn in held.role_arns)
            and (self.session_id is None or held.session_id == self.session_id)
            and (self.kind is None or held.kind == self.kind)
        )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _held(tx: Tx, now: dt.datetime) -> list[HeldSession]:
    webs = federation_store.live_web_sessions(tx, now)
    offered = {web.id_hash: _offered_roles(web.assertion) for web, _ in webs}
    held = [
        HeldSession(
            kind=SSO,
            session_id=row.session_id,
            subject=row.subject,
            provider_arn=row.provider_arn,
            role_arns=tuple(str(role.get("role_arn", "")) for role in row.sign_in.get("roles", [])),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
        )
        for row in sso_store.live_sessions(tx, now)
    ]
    held += [
        HeldSession(
            kind=CLI,
            session_id=row.handle_hash[:_CLI_ID_LENGTH],
            subject=row.subject,
            provider_arn=row.provider_arn,
            # A CLI session refreshes into any role its sign-in offered, not only its default.
            role_arns=tuple(dict.fromkeys((row.default_role_arn, *offered.get(row.web_session_hash, ())))),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
        )
        for row in cli_store.live_cli_sessions(tx, now)
    ]
    held += [
        HeldSession(
            kind=WEB,
            session_id=web.id_hash[:_CLI_ID_LENGTH],
            subject=web.subject,
            provider_arn=web.provider_arn,
            role_arns=offered[web.id_hash],
            created_at=created_at,
            expires_at=web.expires_at,
            last_used_at=None,
        )
        for web, created_at in webs
    ]
    return held


def _offered_roles(assertion: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(role.get("role_arn", "")) for role in assertion.get("roles", []))


def list_sessions(runtime: Runtime, selection: Selection) -> list[HeldSession]:
    """The live sessions ``selection`` picks: SSO, then CLI, then web sessions, each kind oldest first."""
    with runtime.db.read() as tx:
        return [held for held in _held(tx, runtime.now()) if selection.matches(held)]


def revoke_sessions(runtime: Runtime, selection: Selection) -> list[HeldSession]:
    """Revoke the live sessions ``selection`` picks (at least one criterion), each audited in the
    transaction that revokes it; the sessions revoked."""
    if selection.empty:
        raise ValueError("name a person, a role or a session to revoke")
    request_id = str(uuid.uuid4())
    with runtime.db.transaction() as tx:
        now = runtime.now()
        chosen = [held for held in _held(tx, now) if selection.matches(held)]
        if not chosen:
            return []
        cli_hashes = {row.handle_hash[:_CLI_ID_LENGTH]: row.handle_hash for row in cli_store.live_cli_sessions(tx, now)}
        web_hashes = {
            web.id_hash[:_CLI_ID_LENGTH]: web.id_hash for web, _ in federation_store.live_web_sessions(tx, now)
        }
        for held in chosen:
            if held.kind == SSO:
                sso_store.revoke_session(tx, held.session_id, now)
                event_source = "sso.amazonaws.com"
            elif held.kind == WEB:
                federation_store.delete_web_session(tx, web_hashes[held.session_id])
                event_source = "signin.amazonaws.com"
            else:
                cli_store.revoke_cli_session(tx, cli_hashes[held.session_id], now)
                event_source = "sso-oauth.amazonaws.com"
            record_operator_event(
                runtime,
                tx,
                "RevokeSession",
                {"sessionKind": held.kind, "sessionId": held.session_id, "subject": held.subject},
                event_source=event_source,
                request_id=request_id,
                additional={"selectedBy": _criteria(selection), "providerArn": held.provider_arn},
            )
    return chosen


def _criteria(selection: Selection) -> dict[str, str]:
    named = {
        "person": selection.person,
        "roleArn": selection.role_arn,
        "sessionId": selection.session_id,
        "kind": selection.kind,
    }
    return {key: value for key, value in named.items() if value is not None}


def revoke_policy_document(before: dt.datetime) -> str:
    """The console's "Revoke active sessions" policy: deny everything to sessions issued before ``before``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": _iso(before)}},
                }
            ],
        }
    )


def revoke_older_role_sessions(runtime: Runtime, role_arn: str) -> dt.datetime:
    """Deny every credential of ``role_arn`` issued up to now: the role's inline policy
    ``AWSRevokeOlderSessions``, put through the IAM service and audited as PutRolePolicy. The
    cut-off is the next whole second (session tokens carry their issue time in seconds), so a
    session issued in the same second as the revocation is revoked too; the time is returned.
    """
    account_id, _path, name = parse_role_arn(role_arn)
    with runtime.db.transaction() as tx:
        now = runtime.now()
        cutoff = dt.datetime.fromtimestamp(math.floor(now.timestamp()) + 1, dt.UTC)
        role = get_role(tx, account_id, name)
        if role.arn != role_arn:  # same name under another path
            raise AwsError("NoSuchEntity", f"The role with name {name} cannot be found.")
        document = revoke_policy_document(cutoff)
        principals.put_inline(tx, "Role", account_id, name, REVOKE_POLICY_NAME, document)
        record_operator_event(
            runtime,
            tx,
            "PutRolePolicy",
            {"roleName": name, "policyName": REVOKE_POLICY_NAME, "policyDocument": document},
            event_source="iam.amazonaws.com",
            request_id=str(uuid.uuid4()),
            additional={"revokedSessionsIssuedBefore": _iso(cutoff)},
        )
    return cutoff
