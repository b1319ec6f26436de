"""The condition keys AWS derives from a request and its principal (``aws:PrincipalArn``...)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from broker.iam.timestamps import aws_timestamp
from broker.services.auth.caller import Caller
from broker.services.auth.policies import organization_context
from broker.services.orgs.context import organization_of, resource_account, resource_keys
from broker.store import Tx


def request_context(
    caller: Caller, source_ip: str | None, now: dt.datetime, secure: bool, tx: Tx | None = None
) -> dict[str, Any]:
    """The keys AWS derives from the request and the principal; with a transaction ``tx``, the
    caller's organization keys (``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``) too."""
    context: dict[str, Any] = {
        "aws:PrincipalArn": _principal_arn(caller),
        "aws:PrincipalAccount": caller.account_id,
        "aws:userid": caller.user_id,
        "aws:CurrentTime": aws_timestamp(now),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:SecureTransport": "true" if secure else "false",
        "aws:PrincipalType": _principal_type(caller),
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
    if tx is not None:
        context.update(organization_context(tx, caller).principal_keys())
    return context


def _principal_arn(caller: Caller) -> str:
    """A role session's is its role's ARN; a federated user's, its own (``...:federated-user/NAME``)."""
    if caller.is_role_session and caller.claims is not None and not caller.is_federated_user:
        return caller.claims.role_arn
    return caller.arn


def _principal_type(caller: Caller) -> str:
    if caller.is_federated_user:
        return "FederatedUser"
    return "AssumedRole" if caller.is_role_session else "User"


def with_resource_keys(tx: Tx, caller: Caller, resource: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The context plus ``aws:ResourceAccount``/``aws:ResourceOrgID`` of the resource's account."""
    memo = caller._memo.setdefault("resource_orgs", {})
    account = resource_account(resource)
    cache = caller.cache
    if cache is not None and account is not None and account not in memo:
        # Organization changes bump the "*" generation, which every stamp includes.
        memo[account] = cache.get(tx, caller.account_id, ("org-of", account), lambda: organization_of(tx, account))
    return {**context, **resource_keys(tx, resource, memo)}
