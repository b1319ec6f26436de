"""Which roles a federated identity may assume: the role trust policies decide, via the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
from broker.store.federation import TrustingRole

ASSUME_ROLE_WITH_SAML = "sts:AssumeRoleWithSAML"
TAG_SESSION = "sts:TagSession"
SET_SOURCE_IDENTITY = "sts:SetSourceIdentity"


# Distinct trust policies kept compiled per process (about 4 KB each). A sign-in evaluates only
# the roles that trust its provider (the trusted-principal index), so they all fit and a steady
# sign-in parses nothing; keyed by the text, an entry can never be stale.
TRUST_CACHE_SIZE = 8192


@lru_cache(maxsize=TRUST_CACHE_SIZE)
def compiled_trust_policy(document: str) -> Policy:
    """Trust policies are parsed once per distinct text; the cache key is the text itself."""
    return parse_policy(document, PolicyKind.TRUST, policy_id="TrustPolicy")


@dataclass(frozen=True)
class TrustDecision:
    allowed: bool
    reason: str


def _allows(policy: Policy, principal: Principal, action: str, role: TrustingRole, context: Mapping[str, Any]) -> bool:
    request = Request(principal=principal, action=action, resource=role.arn, context=context)
    return evaluate(request, PolicySet(resource=(policy,), resource_account=role.account_id)).allowed


def saml_trust_decision(
    role: TrustingRole,
    provider_arn: str,
    context: Mapping[str, Any],
    session_tags: Mapping[str, str],
    source_identity: str | None,
) -> TrustDecision:
    """Does ``role`` trust this SAML sign-in, including tagging and source identity if asked?"""
    try:
        policy = compiled_trust_policy(role.trust_policy)
    except MalformedPolicyDocument:
        return TrustDecision(False, "the role's trust policy is not valid")
    principal = Principal(federated=provider_arn)
    full_context = dict(context)
    if session_tags:
        for key, value in session_tags.items():
            full_context[f"aws:RequestTag/{key}"] = value
        full_context["aws:TagKeys"] = list(session_tags)
    if source_identity:
        full_context["sts:SourceIdentity"] = source_identity
        full_context["aws:SourceIdentity"] = source_identity
    if not _allows(policy, principal, ASSUME_ROLE_WITH_SAML, role, full_context):
        return TrustDecision(False, "the role's trust policy does not allow this sign-in")
    if session_tags and not _allows(policy, principal, TAG_SESSION, role, full_context):
        return TrustDecision(
            False, "the sign-in passes session tags and the trust policy does not allow sts:TagSession"
        )
    if source_identity and not _allows(policy, principal, SET_SOURCE_IDENTITY, role, full_context):
        return TrustDecision(
            False, "the sign-in sets a source identity and the trust policy does not allow sts:SetSourceIdentity"
        )
    return TrustDecision(True, "allowed")
