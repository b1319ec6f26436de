"""Who is calling the AWS-compatible endpoint (SigV4), and may they do this (policy engine)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from broker.crypto.box import DecryptionError
from broker.crypto.sigv4 import SignedRequest, SigV4Error, parse_signed_request, verify_signature
from broker.crypto.tokens import (
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    decode_session_token,
    derive_secret,
)
from broker.iam.errors import AwsError
from broker.policy import (
    MalformedPolicyDocument,
    Policy,
    PolicyKind,
    PolicySet,
    Principal,
    Request,
    evaluate,
    parse_policy,
)
from broker.services.audit import Actor
from broker.services.runtime import Runtime
from broker.store import models
from broker.store import repositories as repo


@dataclass(frozen=True)
class Caller:
    """An authenticated principal: an IAM user (long-term key) or a role session."""

    kind: str  # "user" | "session"
    arn: str
    account_id: str
    user_id: str
    access_key_id: str
    user_name: str | None = None
    claims: SessionClaims | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def principal(self) -> Principal:
        if self.claims is not None:
            return Principal(arn=self.arn, account=self.account_id, role_arn=self.claims.role_arn, is_session=True)
        return Principal(arn=self.arn, account=self.account_id)

    def actor(self) -> Actor:
        if self.claims is not None:
            claims = self.claims
            attributes = {
                "creationDate": dt.datetime.fromtimestamp(claims.issued_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "mfaAuthenticated": str(claims.mfa).lower(),
            }
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
            return Actor(
                type="AssumedRole",
                principal_id=self.user_id,
                arn=self.arn,
                account_id=self.account_id,
                access_key_id=self.access_key_id,
                session_context=context,
            )
        return Actor(
            type="IAMUser",
            principal_id=self.user_id,
            arn=self.arn,
            account_id=self.account_id,
            access_key_id=self.access_key_id,
            user_name=self.user_name,
        )


def _sigv4_error(exc: SigV4Error) -> AwsError:
    return AwsError(exc.code, exc.message)


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
    if signed.access_key_id.startswith("ASIA"):
        if not signed.security_token:
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.")
        try:
            claims = decode_session_token(
                signed.security_token, runtime.keys.token_keys, runtime.settings.base_url, now=now.timestamp()
            )
        except ExpiredSessionToken:
            raise AwsError("ExpiredToken", "The security token included in the request is expired") from None
        except InvalidSessionToken:
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.") from None
        if claims.access_key_id != signed.access_key_id:
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.")
        secret = derive_secret(runtime.keys.secret_derivation_key, claims.token_id)
        caller = Caller(
            kind="session",
            arn=claims.assumed_role_arn,
            account_id=claims.account_id,
            user_id=claims.user_id,
            access_key_id=claims.access_key_id,
            claims=claims,
            tags=dict(claims.session_tags),
        )
    else:
        key = repo.access_key(session, signed.access_key_id)
        if key is None or key.status != "Active" or signed.security_token:
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.")
        try:
            secret = runtime.box.open(key.secret_sealed, associated_data=key.access_key_id)
        except DecryptionError:
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.") from None
        user = key.user
        caller = Caller(
            kind="user",
            arn=user.arn,
            account_id=user.account_id,
            user_id=user.user_id,
            access_key_id=key.access_key_id,
            user_name=user.name,
            tags=dict(user.tags or {}),
        )
    try:
        verify_signature(signed, secret, now, max_skew=dt.timedelta(seconds=runtime.settings.sigv4_max_skew_seconds))
    except SigV4Error as exc:
        raise _sigv4_error(exc) from None
    if caller.kind == "user":
        key = repo.access_key(session, signed.access_key_id)
        if key is not None:
            key.last_used_at = now
            key.last_used_service = signed.service
            key.last_used_region = signed.region
    return caller, signed


@lru_cache(maxsize=8192)
def _compiled(document: str, kind: PolicyKind, policy_id: str) -> Policy:
    return parse_policy(document, kind, policy_id=policy_id)


def identity_policies(session: Session, caller: Caller) -> tuple[tuple[Policy, ...], tuple[Policy, ...]]:
    """(identity policies, session policies) that apply to the caller."""
    identity: list[Policy] = []
    session_policies: list[Policy] = []
    try:
        if caller.claims is not None:
            role = repo.role_by_arn(session, caller.claims.role_arn)
            if role is not None:
                for inline in role.inline_policies:
                    identity.append(_compiled(inline.document, PolicyKind.INLINE_ROLE, f"{role.arn}:{inline.name}"))
            if caller.claims.session_policy:
                session_policies.append(_compiled(caller.claims.session_policy, PolicyKind.SESSION, "SessionPolicy"))
        else:
            user = repo.user_by_name(session, caller.account_id, (caller.user_name or "").lower())
            if user is not None:
                for user_inline in user.inline_policies:
                    identity.append(
                        _compiled(user_inline.document, PolicyKind.INLINE_USER, f"{user.arn}:{user_inline.name}")
                    )
    except MalformedPolicyDocument:
        pass  # stored documents were validated on the way in; a corrupt one grants nothing
    return tuple(identity), tuple(session_policies)


def request_context(caller: Caller, source_ip: str | None, now: dt.datetime, secure: bool) -> dict[str, Any]:
    context: dict[str, Any] = {
        "aws:PrincipalArn": caller.claims.role_arn if caller.claims else caller.arn,
        "aws:PrincipalAccount": caller.account_id,
        "aws:userid": caller.user_id,
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:SecureTransport": "true" if secure else "false",
        "aws:PrincipalType": "AssumedRole" if caller.claims else "User",
    }
    if source_ip:
        context["aws:SourceIp"] = source_ip
    if caller.user_name:
        context["aws:username"] = caller.user_name
    for key, value in caller.tags.items():
        context[f"aws:PrincipalTag/{key}"] = value
    if caller.claims is not None:
        claims = caller.claims
        context["aws:MultiFactorAuthPresent"] = "true" if claims.mfa else "false"
        context["aws:TokenIssueTime"] = dt.datetime.fromtimestamp(claims.issued_at, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        if claims.provider_arn:
            context["aws:FederatedProvider"] = claims.provider_arn
        if claims.source_identity:
            context["aws:SourceIdentity"] = claims.source_identity
        context.update(claims.federated)
    return context


def authorize(session: Session, caller: Caller, action: str, resource: str, context: Mapping[str, Any]) -> None:
    """Raise AccessDenied, in AWS's words, unless the policies allow ``action`` on ``resource``."""
    identity, session_policies = identity_policies(session, caller)
    request = Request(principal=caller.principal, action=action, resource=resource, context=context)
    decision = evaluate(
        request, PolicySet(identity=identity, session=session_policies, resource_account=caller.account_id)
    )
    if decision.allowed:
        return
    if decision.effect.name == "EXPLICIT_DENY":
        why = "with an explicit deny in an identity-based policy"
    elif session_policies:
        why = "because no session policy allows the " + action + " action"
    else:
        why = "because no identity-based policy allows the " + action + " action"
    raise AwsError(
        "AccessDenied", f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}"
    )


def caller_model(session: Session, caller: Caller) -> models.User | None:
    if caller.kind != "user":
        return None
    return repo.user_by_name(session, caller.account_id, (caller.user_name or "").lower())
