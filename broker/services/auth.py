"""Who is calling the AWS-compatible endpoint (SigV4), and may they do this (policy engine).

The policies that apply to a caller, in AWS's terms:

- an IAM user (long-term key, or the session-token credentials of GetSessionToken): its inline
  policies, the managed policies attached to it, and the inline and attached policies of each
  of its groups; its permissions boundary if it has one;
- a role session: the role's inline and attached policies, the role's permissions boundary,
  and the session policies (inline ``Policy`` and ``PolicyArns``) it was issued with.

Documents are compiled once per distinct text (an LRU cache), so a decision costs the database
reads of the principal's rows plus an in-memory evaluation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from broker.crypto.box import DecryptionError, SecretBox
from broker.crypto.sigv4 import SignedRequest, SigV4Error, parse_signed_request, verify_signature
from broker.crypto.tokens import (
    SESSION_TOKEN,
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    decode_session_token,
    derive_secret,
)
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.iam.timestamps import aws_timestamp
from broker.policy import (
    Decision,
    Effect,
    Policy,
    PolicyKind,
    PolicySet,
    PolicyType,
    Principal,
    Request,
    evaluate,
)
from broker.services.audit import Actor
from broker.services.orgs.context import OrgContext, account_context, resource_keys
from broker.services.policy_cache import compile_stored, grants_nothing
from broker.services.runtime import Runtime
from broker.store import models
from broker.store import repositories as repo

_INVALID_TOKEN = "The security token included in the request is invalid."
_MESSAGE_CONTEXT = "broker-authorization-message"


class AuthorizationMessages:
    """Encoded authorization failure messages: the why of a denial, sealed for the caller.

    Only principals allowed ``sts:DecodeAuthorizationMessage`` can read one, as in AWS.
    """

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def encode(self, payload: Mapping[str, Any]) -> str:
        return self._box.seal(json.dumps(payload, separators=(",", ":"), default=str), _MESSAGE_CONTEXT)

    def decode(self, message: str) -> str:
        try:
            return self._box.open(message.strip(), _MESSAGE_CONTEXT)
        except (DecryptionError, ValueError):
            raise AwsError(
                "InvalidAuthorizationMessageException",
                "The authorization message is invalid or was not produced by this broker.",
            ) from None


@dataclass(frozen=True)
class Caller:
    """An authenticated principal: an IAM user (long-term key or session token) or a role session."""

    kind: str  # "user" | "session"
    arn: str
    account_id: str
    user_id: str
    access_key_id: str
    user_name: str | None = None
    claims: SessionClaims | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    messages: AuthorizationMessages | None = field(default=None, compare=False, repr=False)
    # What applies to this caller, read once per request (see applicable_policies).
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_session_token(self) -> bool:
        """Credentials of GetSessionToken: temporary, but the IAM user itself."""
        return self.claims is not None and self.claims.auth_type == SESSION_TOKEN

    @property
    def is_role_session(self) -> bool:
        return self.claims is not None and not self.is_session_token

    @property
    def principal(self) -> Principal:
        if self.is_role_session:
            assert self.claims is not None
            return Principal(arn=self.arn, account=self.account_id, role_arn=self.claims.role_arn, is_session=True)
        return Principal(arn=self.arn, account=self.account_id)

    @property
    def iam_user_name(self) -> str | None:
        if self.user_name:
            return self.user_name
        if self.is_session_token:
            assert self.claims is not None
            return self.claims.role_name
        return None

    def actor(self) -> Actor:
        # userIdentity: a session token acts as its IAM user; a role session as AssumedRole.
        common: dict[str, Any] = {
            "principal_id": self.user_id,
            "arn": self.arn,
            "account_id": self.account_id,
            "access_key_id": self.access_key_id,
        }
        claims = self.claims
        if claims is None:
            return Actor(type="IAMUser", user_name=self.user_name, **common)
        attributes = {
            "creationDate": aws_timestamp(dt.datetime.fromtimestamp(claims.issued_at, dt.UTC)),
            "mfaAuthenticated": str(claims.mfa).lower(),
        }
        if self.is_session_token:
            return Actor(
                type="IAMUser", user_name=self.iam_user_name, session_context={"attributes": attributes}, **common
            )
        context: dict[str, Any] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": claims.role_id,
                "arn": claims.role_arn,
                "accountId": claims.account_id,
                "userName": claims.role_name,
            },
            "attributes": attributes,
        }
        if claims.source_identity:
            context["sourceIdentity"] = claims.source_identity
        return Actor(type="AssumedRole", session_context=context, **common)


def _sigv4_error(exc: SigV4Error) -> AwsError:
    return AwsError(exc.code, exc.message)


def principal_tags(role_tags: Mapping[str, str] | None, session_tags: Mapping[str, str]) -> dict[str, str]:
    """A role session's principal tags: the role's tags, overridden by session tags (keys ignore case)."""
    overridden = {name_key(key) for key in session_tags}
    merged = {key: value for key, value in (role_tags or {}).items() if name_key(key) not in overridden}
    merged.update(session_tags)
    return merged


def authenticate(
    runtime: Runtime,
    session: Session,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[Caller, SignedRequest]:
    try:
        signed = parse_signed_request(method, path, query_string, headers, body)
    except SigV4Error as exc:
        raise _sigv4_error(exc) from None
    now = runtime.now()
    messages = AuthorizationMessages(runtime.box)
    key: models.AccessKey | None = None
    if signed.access_key_id.startswith("ASIA"):
        if not signed.security_token:
            raise AwsError("InvalidClientTokenId", _INVALID_TOKEN)
        try:
            claims = decode_session_token(
                signed.security_token, runtime.keys.token_keys, runtime.settings.base_url, now=now.timestamp()
            )
        except ExpiredSessionToken:
            raise AwsError("ExpiredToken", "The security token included in the request is expired") from None
        except InvalidSessionToken:
            raise AwsError("InvalidClientTokenId", _INVALID_TOKEN) from None
        if claims.access_key_id != signed.access_key_id:
            raise AwsError("InvalidClientTokenId", _INVALID_TOKEN)
        secret = derive_secret(runtime.keys.secret_derivation_key, claims.token_id)
        caller = caller_for_claims(session, claims, messages)
    else:
        key = repo.access_key(session, signed.access_key_id)
        # Looked up on every request: a key made Inactive or deleted stops working at once.
        if key is None or key.status != "Active" or signed.security_token:
            raise AwsError("InvalidClientTokenId", _INVALID_TOKEN)
        try:
            secret = runtime.box.open(key.secret_sealed, associated_data=key.access_key_id)
        except DecryptionError:
            raise AwsError("InvalidClientTokenId", _INVALID_TOKEN) from None
        user = key.user
        caller = Caller(
            kind="user",
            arn=user.arn,
            account_id=user.account_id,
            user_id=user.user_id,
            access_key_id=key.access_key_id,
            user_name=user.name,
            tags=dict(user.tags or {}),
            messages=messages,
        )
    try:
        verify_signature(signed, secret, now, max_skew=dt.timedelta(seconds=runtime.settings.sigv4_max_skew_seconds))
    except SigV4Error as exc:
        raise _sigv4_error(exc) from None
    if key is not None:
        key.last_used_at = now
        key.last_used_service = signed.service
        key.last_used_region = signed.region
    return caller, signed


def caller_for_claims(session: Session, claims: SessionClaims, messages: AuthorizationMessages | None = None) -> Caller:
    """The caller a verified session token stands for, with its principal tags."""
    if claims.auth_type == SESSION_TOKEN:
        user = repo.user_by_user_id(session, claims.role_id)
        tags = dict(user.tags or {}) if user is not None else {}
        return Caller(
            kind="user",
            arn=claims.assumed_role_arn,
            account_id=claims.account_id,
            user_id=claims.user_id,
            access_key_id=claims.access_key_id,
            user_name=claims.role_name,
            claims=claims,
            tags=tags,
            messages=messages,
        )
    # Read once with its policies: the tags are needed now, the policies by the authorization
    # that almost always follows (applicable_policies takes the row from the memo).
    role = repo.role_with_policies(session, claims.role_arn)
    role_tags = role.tags if role is not None and role.role_id == claims.role_id else None
    return Caller(
        kind="session",
        arn=claims.assumed_role_arn,
        account_id=claims.account_id,
        user_id=claims.user_id,
        access_key_id=claims.access_key_id,
        claims=claims,
        tags=principal_tags(role_tags, claims.session_tags),
        messages=messages,
        _memo={"role": role},
    )


# --- the policies that apply ---------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicablePolicies:
    identity: tuple[Policy, ...] = ()
    boundary: Policy | None = None
    session: tuple[Policy, ...] = ()
    # The organization's SCP levels (root first) when they bind the caller's account.
    scps: tuple[tuple[Policy, ...], ...] | None = None

    def policy_set(self, resource_account: str, resource: Sequence[Policy] = ()) -> PolicySet:
        return PolicySet(
            identity=self.identity,
            resource=tuple(resource),
            boundary=self.boundary,
            session=self.session,
            scps=self.scps,
            resource_account=resource_account,
        )


def _managed(policy: models.ManagedPolicy, kind: PolicyKind) -> Policy:
    try:
        document = policy.default_version.document
    except LookupError:
        return grants_nothing(policy.arn)
    return compile_stored(document, kind, policy.arn) or grants_nothing(policy.arn)


def _attached_and_inline(
    inline: Iterable[models.UserInlinePolicy | models.GroupInlinePolicy | models.RoleInlinePolicy],
    kind: PolicyKind,
    owner_arn: str,
    attached: Iterable[models.ManagedPolicy],
) -> list[Policy]:
    policies = [
        p for item in inline if (p := compile_stored(item.document, kind, f"{owner_arn}:{item.name}")) is not None
    ]
    policies += [_managed(policy, PolicyKind.MANAGED) for policy in attached]
    return policies


def _boundary(session: Session, boundary_arn: str | None) -> Policy | None:
    if not boundary_arn:
        return None
    policy = repo.policy_by_arn(session, boundary_arn)
    if policy is None:
        return grants_nothing(boundary_arn)
    return _managed(policy, PolicyKind.BOUNDARY)


def _user_policies(session: Session, caller: Caller) -> ApplicablePolicies:
    # By unique id, not ARN: a renamed user keeps its policies, a re-created one is someone else.
    user = repo.user_with_policies(session, caller.user_id)
    if user is None or user.account_id != caller.account_id:
        return ApplicablePolicies()
    identity = _attached_and_inline(user.inline_policies, PolicyKind.INLINE_USER, user.arn, user.attached_policies)
    for group in user.groups:
        identity += _attached_and_inline(
            group.inline_policies, PolicyKind.INLINE_GROUP, group.arn, group.attached_policies
        )
    return ApplicablePolicies(tuple(identity), _boundary(session, user.permissions_boundary_arn))


def _session_policies(session: Session, claims: SessionClaims) -> tuple[Policy, ...]:
    policies: list[Policy] = []
    if claims.session_policy:
        policies.append(
            compile_stored(claims.session_policy, PolicyKind.SESSION, "SessionPolicy") or grants_nothing("x")
        )
    found = {p.arn: p for p in repo.policies_by_arns(session, claims.policy_arns)}
    for policy_arn in claims.policy_arns:
        policy = found.get(policy_arn)
        # A policy the session names but that is gone grants nothing; the session stays limited.
        policies.append(_managed(policy, PolicyKind.MANAGED) if policy else grants_nothing(policy_arn))
    return tuple(policies)


def _role_session_policies(session: Session, caller: Caller, claims: SessionClaims) -> ApplicablePolicies:
    session_policies = _session_policies(session, claims)
    role = caller._memo["role"] if "role" in caller._memo else repo.role_with_policies(session, claims.role_arn)
    if role is None or role.role_id != claims.role_id:
        # The role was deleted (perhaps re-created under the same name): its sessions lose everything.
        return ApplicablePolicies(session=session_policies)
    identity = _attached_and_inline(role.inline_policies, PolicyKind.INLINE_ROLE, role.arn, role.attached_policies)
    return ApplicablePolicies(tuple(identity), _boundary(session, role.permissions_boundary_arn), session_policies)


def organization_context(session: Session, caller: Caller) -> OrgContext:
    """The caller's account in its organization: SCP levels and org keys (read once per call)."""
    cached = caller._memo.get("org")
    if cached is None:
        cached = account_context(session, caller.account_id)
        caller._memo["org"] = cached
    return cached


def applicable_policies(session: Session, caller: Caller) -> ApplicablePolicies:
    """Identity policies, permissions boundary, session policies and SCPs of the caller (read once per call)."""
    cached = caller._memo.get("policies")
    if cached is None:
        if caller.is_role_session:
            assert caller.claims is not None
            cached = _role_session_policies(session, caller, caller.claims)
        else:
            cached = _user_policies(session, caller)
        scps = organization_context(session, caller).scp_levels
        if scps is not None:
            cached = dataclasses.replace(cached, scps=scps)
        caller._memo["policies"] = cached
    return cached


def identity_policies(session: Session, caller: Caller) -> tuple[tuple[Policy, ...], tuple[Policy, ...]]:
    """(identity policies, session policies) that apply to the caller.

    Kept for callers written before permissions boundaries; new code uses applicable_policies.
    """
    policies = applicable_policies(session, caller)
    return policies.identity, policies.session


def request_context(
    caller: Caller, source_ip: str | None, now: dt.datetime, secure: bool, session: Session | None = None
) -> dict[str, Any]:
    """The keys AWS derives from the request and the principal; with a ``session``, the caller's
    organization keys (``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``) too."""
    context: dict[str, Any] = {
        "aws:PrincipalArn": caller.claims.role_arn if caller.is_role_session and caller.claims else caller.arn,
        "aws:PrincipalAccount": caller.account_id,
        "aws:userid": caller.user_id,
        "aws:CurrentTime": aws_timestamp(now),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:SecureTransport": "true" if secure else "false",
        "aws:PrincipalType": "AssumedRole" if caller.is_role_session else "User",
    }
    if source_ip:
        context["aws:SourceIp"] = source_ip
    if caller.iam_user_name:
        context["aws:username"] = caller.iam_user_name
    for key, value in caller.tags.items():
        context[f"aws:PrincipalTag/{key}"] = value
    if caller.claims is not None:
        claims = caller.claims
        context["aws:MultiFactorAuthPresent"] = "true" if claims.mfa else "false"
        if claims.mfa:
            authenticated_at = claims.mfa_auth_time or claims.issued_at
            context["aws:MultiFactorAuthAge"] = str(max(0, int(now.timestamp()) - authenticated_at))
        context["aws:TokenIssueTime"] = dt.datetime.fromtimestamp(claims.issued_at, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        if claims.provider_arn:
            context["aws:FederatedProvider"] = claims.provider_arn
        if claims.source_identity:
            context["aws:SourceIdentity"] = claims.source_identity
        context.update(claims.federated)
    if session is not None:
        context.update(organization_context(session, caller).principal_keys())
    return context


def with_resource_keys(session: Session, caller: Caller, resource: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The context plus ``aws:ResourceAccount``/``aws:ResourceOrgID`` of the resource's account."""
    memo = caller._memo.setdefault("resource_orgs", {})
    return {**context, **resource_keys(session, resource, memo)}


def decide(
    session: Session,
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    *,
    resource_policies: Sequence[Policy] = (),
    resource_account: str | None = None,
) -> Decision:
    """The policy engine's decision for the caller, with any resource-based policy (a trust policy)."""
    policies = applicable_policies(session, caller)
    context = with_resource_keys(session, caller, resource, context)
    request = Request(principal=caller.principal, action=action, resource=resource, context=context)
    return evaluate(request, policies.policy_set(resource_account or caller.account_id, resource_policies))


_DENY_PLACES = {
    PolicyType.IDENTITY: "an identity-based policy",
    PolicyType.RESOURCE: "a resource-based policy",
    PolicyType.BOUNDARY: "a permissions boundary",
    PolicyType.SESSION: "a session policy",
    PolicyType.SCP: "a service control policy",
}


def _why(decision: Decision, action: str) -> str:
    if decision.effect is Effect.EXPLICIT_DENY:
        place = _DENY_PLACES[decision.matched[0].policy_type] if decision.matched else "a policy"
        return f"with an explicit deny in {place}"
    reasons = " ".join(decision.reasons)
    if "service control policy" in reasons:
        return f"because no service control policy allows the {action} action"
    if "permissions boundary" in reasons and "identity-based" not in reasons:
        return f"because no permissions boundary allows the {action} action"
    if "session policy" in reasons and "identity-based" not in reasons:
        return f"because no session policy allows the {action} action"
    if "resource-based" in reasons and "identity-based" not in reasons:
        return f"because no resource-based policy allows the {action} action"
    return f"because no identity-based policy allows the {action} action"


def _message_payload(
    caller: Caller, action: str, resource: str, context: Mapping[str, Any], decision: Decision
) -> dict[str, Any]:
    """The decoded form, shaped like AWS's DecodeAuthorizationMessage output."""
    return {
        "allowed": decision.allowed,
        "explicitDeny": decision.effect is Effect.EXPLICIT_DENY,
        "matchedStatements": {
            "items": [
                {
                    "statementId": m.sid or f"Statement[{m.index}]",
                    "effect": m.effect.value.upper(),
                    "policyId": m.policy_id,
                    "policyType": m.policy_type.value,
                }
                for m in decision.matched
            ]
        },
        "failures": {"items": [{"value": reason} for reason in decision.reasons]},
        "context": {
            "principal": {"id": caller.user_id, "name": caller.iam_user_name or caller.arn, "arn": caller.arn},
            "action": action,
            "resource": resource,
            "conditions": {
                "items": [
                    {"key": key, "values": {"items": [{"value": str(v)} for v in _values(value)]}}
                    for key, value in sorted(context.items())
                    if value is not None
                ]
            },
        },
    }


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def access_denied(
    caller: Caller,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    decision: Decision,
    why: str | None = None,
) -> AwsError:
    """AccessDenied in AWS's words, with the encoded failure message when the caller can get one.

    ``why`` overrides the reason read from the decision (for refusals the engine alone does not
    make, such as a trust policy that does not name the caller).
    """
    message = f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} " + (
        why or _why(decision, action)
    )
    if caller.messages is not None:
        payload = _message_payload(caller, action, resource, context, decision)
        if why is not None:
            payload["allowed"] = False
            payload["failures"] = {"items": [{"value": why}]}
        message += f". Encoded authorization failure message: {caller.messages.encode(payload)}"
    return AwsError("AccessDenied", message)


def authorize(session: Session, caller: Caller, action: str, resource: str, context: Mapping[str, Any]) -> None:
    """Raise AccessDenied, in AWS's words, unless the policies allow ``action`` on ``resource``."""
    if caller.is_session_token and action.lower().startswith("iam:") and not (caller.claims and caller.claims.mfa):
        # AWS: GetSessionToken credentials call no IAM API unless MFA authenticated them.
        raise AwsError("InvalidClientTokenId", _INVALID_TOKEN)
    decision = decide(session, caller, action, resource, context)
    if not decision.allowed:
        raise access_denied(caller, action, resource, context, decision)


def caller_model(session: Session, caller: Caller) -> models.User | None:
    """The IAM user behind the caller (long-term key or session token), if it still exists."""
    if caller.is_role_session:
        return None
    user = repo.user_by_user_id(session, caller.user_id)
    if user is None or user.account_id != caller.account_id:
        return None
    return user
