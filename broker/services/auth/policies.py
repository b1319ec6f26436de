"""The policies that apply to a caller, in AWS's terms.

- an IAM user (long-term key, or the session-token credentials of GetSessionToken): its inline
  policies, the managed policies attached to it, and the inline and attached policies of each
  of its groups; its permissions boundary if it has one;
- a role session: the role's inline and attached policies, the role's permissions boundary,
  and the session policies (inline ``Policy`` and ``PolicyArns``) it was issued with;
- either: the service control policies of the organization its account is in.

Documents are compiled once per distinct text (an LRU cache), so a decision costs the database
reads of the principal's rows plus an in-memory evaluation. Everything is read once per request
and kept on the :class:`Caller`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from broker.crypto.tokens import SessionClaims
from broker.iam.arn import InvalidArn, parse_policy_arn
from broker.iam.entities import PolicyDocument, PrincipalPolicies
from broker.policy import Policy, PolicyKind, PolicySet
from broker.services.auth.caller import Caller
from broker.services.orgs.context import OrgContext, account_context
from broker.services.policy_cache import compile_stored, grants_nothing
from broker.store import Tx
from broker.store.iam import policies as stored_policies
from broker.store.iam import principals


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


def _managed(policy: PolicyDocument, kind: PolicyKind) -> Policy:
    if policy.document is None:
        return grants_nothing(policy.arn)
    if policy.is_aws_managed:
        kind = PolicyKind.AWS_MANAGED  # AWS's documents exceed the customer quota (ReadOnlyAccess)
    return compile_stored(policy.document, kind, policy.arn) or grants_nothing(policy.arn)


def _identity(principal: PrincipalPolicies, kind: PolicyKind) -> list[Policy]:
    """The principal's inline policies (compiled as ``kind``) and the managed policies attached to it."""
    policies = [
        p
        for item in principal.inline
        if (p := compile_stored(item.document, kind, f"{principal.arn}:{item.name}")) is not None
    ]
    policies += [_managed(policy, PolicyKind.MANAGED) for policy in principal.attached]
    return policies


def _boundary(tx: Tx, boundary_arn: str | None) -> Policy | None:
    if not boundary_arn:
        return None
    found = stored_policies.policy_documents(tx, [boundary_arn])
    return _managed(found[0], PolicyKind.BOUNDARY) if found else grants_nothing(boundary_arn)


def _user_policies(tx: Tx, caller: Caller) -> ApplicablePolicies:
    # By unique id, not ARN: a renamed user keeps its policies, a re-created one is someone else.
    user = principals.user_policies(tx, caller.user_id)
    if user is None or user.account_id != caller.account_id:
        return ApplicablePolicies()
    identity = _identity(user, PolicyKind.INLINE_USER)
    for group in user.groups:
        identity += _identity(group, PolicyKind.INLINE_GROUP)
    return ApplicablePolicies(tuple(identity), _boundary(tx, user.permissions_boundary_arn))


def _session_policies(tx: Tx, claims: SessionClaims) -> tuple[Policy, ...]:
    policies: list[Policy] = []
    if claims.session_policy:
        policies.append(
            compile_stored(claims.session_policy, PolicyKind.SESSION, "SessionPolicy") or grants_nothing("x")
        )
    # "The policies must exist in the same account as the role" (or the IAM user, for a federated
    # session); AWS's own are everyone's. Another account's policy is read as one that does not
    # exist: else a caller could learn its contents by probing what their own session may do.
    own = [arn for arn in claims.policy_arns if _policy_account(arn) in (claims.account_id, "aws")]
    found = {p.arn: p for p in stored_policies.policy_documents(tx, own)}
    for policy_arn in claims.policy_arns:
        policy = found.get(policy_arn)
        # A policy the session names but that is gone grants nothing; the session stays limited.
        policies.append(_managed(policy, PolicyKind.MANAGED) if policy else grants_nothing(policy_arn))
    return tuple(policies)


def _policy_account(policy_arn: str) -> str | None:
    try:
        return parse_policy_arn(policy_arn)[0]
    except InvalidArn:
        return None


def _role_session_policies(tx: Tx, caller: Caller, claims: SessionClaims) -> ApplicablePolicies:
    session_policies = _session_policies(tx, claims)
    role = caller._memo["role"] if "role" in caller._memo else principals.role_policies(tx, claims.role_arn)
    if role is None or role.unique_id != claims.role_id:
        # The role was deleted (perhaps re-created under the same name): its sessions lose everything.
        return ApplicablePolicies(session=session_policies)
    identity = _identity(role, PolicyKind.INLINE_ROLE)
    return ApplicablePolicies(tuple(identity), _boundary(tx, role.permissions_boundary_arn), session_policies)


def organization_context(tx: Tx, caller: Caller) -> OrgContext:
    """The caller's account in its organization: SCP levels and org keys (read once per call,
    and kept in the process's versioned cache while nothing changes)."""
    cached: OrgContext | None = caller._memo.get("org")
    if cached is None:
        account = caller.account_id
        if caller.cache is None:
            cached = account_context(tx, account)
        else:
            cached = caller.cache.get(tx, account, ("org-context", account), lambda: account_context(tx, account))
        caller._memo["org"] = cached
    return cached


def applicable_policies(tx: Tx, caller: Caller) -> ApplicablePolicies:
    """Identity policies, permissions boundary, session policies and SCPs of the caller (read once
    per call, and kept in the process's versioned cache while nothing changes)."""
    cached: ApplicablePolicies | None = caller._memo.get("policies")
    if cached is None:
        if caller.cache is None:
            cached = _load_applicable(tx, caller)
        else:
            cached = caller.cache.get(
                tx, caller.account_id, _policies_key(caller), lambda: _load_applicable(tx, caller)
            )
        caller._memo["policies"] = cached
    return cached


def _policies_key(caller: Caller) -> tuple[object, ...]:
    """Everything the applicable policies depend on besides stored data (which the stamp covers)."""
    claims = caller.claims
    if caller.is_federated_user and claims is not None:
        return ("policies", "federated", claims.role_id, claims.session_policy, tuple(claims.policy_arns))
    if caller.is_role_session and claims is not None:
        return (
            "policies",
            "session",
            claims.role_arn,
            claims.role_id,
            claims.session_policy,
            tuple(claims.policy_arns),
        )
    return ("policies", "user", caller.account_id, caller.user_id)


def _federated_user_policies(tx: Tx, caller: Caller, claims: SessionClaims) -> ApplicablePolicies:
    """A federated user: what its IAM user may do, intersected with the session policies it was
    issued with; without any, nothing (AWS: only a resource policy naming the session can grant)."""
    session = _session_policies(tx, claims) or (grants_nothing("no-session-policy"),)
    user = principals.user_policies(tx, claims.role_id)
    if user is None or user.account_id != caller.account_id:
        return ApplicablePolicies(session=session)
    identity = _identity(user, PolicyKind.INLINE_USER)
    for group in user.groups:
        identity += _identity(group, PolicyKind.INLINE_GROUP)
    return ApplicablePolicies(tuple(identity), _boundary(tx, user.permissions_boundary_arn), session)


def _load_applicable(tx: Tx, caller: Caller) -> ApplicablePolicies:
    if caller.is_federated_user:
        assert caller.claims is not None
        loaded = _federated_user_policies(tx, caller, caller.claims)
    elif caller.is_role_session:
        assert caller.claims is not None
        loaded = _role_session_policies(tx, caller, caller.claims)
    else:
        loaded = _user_policies(tx, caller)
    scps = organization_context(tx, caller).scp_levels
    if scps is not None:
        loaded = dataclasses.replace(loaded, scps=scps)
    return loaded
