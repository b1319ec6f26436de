"""Which roles a federated identity may assume: the role trust policies decide, via the engine.

Also how trust policies follow the IAM users and roles they name. AWS binds a principal ARN in a
trust policy to the entity's unique id: when the user or role is deleted the policy shows that id
instead (``AIDA...``, ``AROA...``) and a new entity of the same name is not trusted; when a user
is renamed the policy shows its new ARN. :func:`rebind_principal` does the same to the stored
documents, in the transaction of the deletion or rename.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from broker.iam.errors import AwsError
from broker.iam.ids import is_unique_id
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
from broker.store import Tx, trust_index
from broker.store.federation import TrustingRole
from broker.store.iam import named

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


# --- trust policies that name a deleted or renamed IAM user or role --------------------------------


def _aws_principal_lists(document: Any) -> Iterator[tuple[dict[str, Any], list[str] | str]]:
    """Each ``{"AWS": ...}`` principal element of a parsed policy, with its value."""
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            principal = statement.get(element)
            if isinstance(principal, dict) and isinstance(principal.get("AWS"), str | list):
                yield principal, principal["AWS"]


def principal_replaced(trust_policy: str, entity_arn: str, replacement: str) -> str | None:
    """The trust policy with every ``AWS`` principal equal to ``entity_arn`` replaced by
    ``replacement``; None when it names no such principal."""
    try:
        document = json.loads(trust_policy)
    except ValueError:
        return None
    replaced = False
    for principal, names in _aws_principal_lists(document):
        if names == entity_arn:
            principal["AWS"] = replacement
            replaced = True
        elif isinstance(names, list) and entity_arn in names:
            principal["AWS"] = [replacement if name == entity_arn else name for name in names]
            replaced = True
    return json.dumps(document, ensure_ascii=False) if replaced else None


def rebind_principal(tx: Tx, entity_arn: str, replacement: str) -> int:
    """Rewrite every role trust policy that names the IAM user or role ``entity_arn``: to its
    unique id when it is deleted, to its new ARN when it is renamed. Each write reindexes the role
    and, being a change to roles, bumps the caches' generations. Returns how many roles changed."""
    changed = 0
    for role_id, trust_policy in trust_index.roles_naming(tx, entity_arn):
        rewritten = principal_replaced(trust_policy, entity_arn, replacement)
        if rewritten is not None:
            named.update_role(tx, role_id, trust_policy=rewritten)
            changed += 1
    return changed


def refuse_deleted_principals(trust_policy: str) -> None:
    """A new trust policy may not name a deleted user or role by its unique id: AWS refuses to
    save one (remove the id, or name a principal by its ARN)."""
    try:
        document = json.loads(trust_policy)
    except ValueError:
        return  # not JSON: the policy check has refused it already
    for _principal, names in _aws_principal_lists(document):
        for name in [names] if isinstance(names, str) else names:
            if isinstance(name, str) and (is_unique_id(name, "AIDA") or is_unique_id(name, "AROA")):
                raise AwsError("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{name}"')
