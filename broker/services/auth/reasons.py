"""Why a request was denied, as data: the kind of policy that denied it or failed to allow it.

AccessDenied names one kind of policy, as AWS does ("with an explicit deny in a service control
policy", "because no permissions boundary allows the iam:CreateGroup action"). It is read from
the statements that matched and the policies the engine weighed, never from the decision's prose.
"""

from __future__ import annotations

from broker.policy import Decision, Effect, Grant, PolicySet, PolicyType, Principal

_PLACES = {
    PolicyType.IDENTITY: "an identity-based policy",
    PolicyType.RESOURCE: "a resource-based policy",
    PolicyType.BOUNDARY: "a permissions boundary",
    PolicyType.SESSION: "a session policy",
    PolicyType.SCP: "a service control policy",
}
_KINDS = {
    PolicyType.IDENTITY: "identity-based policy",
    PolicyType.RESOURCE: "resource-based policy",
    PolicyType.BOUNDARY: "permissions boundary",
    PolicyType.SESSION: "session policy",
    PolicyType.SCP: "service control policy",
}


def _every_scp_level_allows(decision: Decision, policies: PolicySet) -> bool:
    allowed = {m.policy_id for m in decision.matched if m.policy_type is PolicyType.SCP}
    return all(any(policy.policy_id in allowed for policy in level) for level in policies.scps or ())


def _grant(decision: Decision, policies: PolicySet, principal: Principal) -> Grant | None:
    """How specifically the resource-based statements that allowed name the caller."""
    by_id = {policy.policy_id: policy for policy in policies.resource}
    has_boundary = policies.boundary is not None
    grants = [
        grant
        for matched in decision.matched
        if matched.policy_type is PolicyType.RESOURCE
        for statement in by_id[matched.policy_id].statements
        if statement.index == matched.index and (grant := statement.grant_for(principal, has_boundary)) is not None
    ]
    return max(grants, default=None)


def missing_allow(decision: Decision, policies: PolicySet, principal: Principal) -> PolicyType:
    """The kind of policy whose missing Allow made ``decision`` an implicit deny, in AWS's order.

    Every level of service control policies must allow first. A same-account resource-based
    policy that names the caller's role stands in for identity-based policies; across accounts
    both sides must allow, the resource-based one named last.
    """
    if not _every_scp_level_allows(decision, policies):
        return PolicyType.SCP
    allowing = {matched.policy_type for matched in decision.matched}
    cross_account = (
        principal.account is not None
        and policies.resource_account is not None
        and principal.account != policies.resource_account
    )
    names_the_role = not cross_account and _grant(decision, policies, principal) is Grant.ROLE
    if not names_the_role and (not policies.identity or PolicyType.IDENTITY not in allowing):
        return PolicyType.IDENTITY
    if policies.boundary is not None and PolicyType.BOUNDARY not in allowing:
        return PolicyType.BOUNDARY
    if policies.session and PolicyType.SESSION not in allowing:
        return PolicyType.SESSION
    return PolicyType.RESOURCE if cross_account else PolicyType.IDENTITY


def why_denied(decision: Decision, policies: PolicySet, principal: Principal, action: str) -> str:
    """The end of AWS's AccessDenied message: where the deny was, or what failed to allow."""
    if decision.effect is Effect.EXPLICIT_DENY:
        place = _PLACES[decision.matched[0].policy_type] if decision.matched else "a policy"
        return f"with an explicit deny in {place}"
    return f"because no {_KINDS[missing_allow(decision, policies, principal)]} allows the {action} action"
