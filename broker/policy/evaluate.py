"""Evaluation of a request against the policies that apply to it, in AWS's order.

1. An explicit Deny in any applicable policy decides ``EXPLICIT_DENY``.
2. Service control policies (``scps``, one list of policies per level from the
   organization root down to the account) must each allow; ``scps=None`` is an
   account outside an organization or the management account.
3. Resource-based policies: in the caller's own account an Allow that names the
   caller grants on its own, except that naming a role keeps the role's sessions
   bound by their permissions boundary and session policies, and naming only
   the account delegates to identity-based policies. Across accounts, both the
   resource-based and the identity-based side must allow.
4. Identity-based policies must allow (unless step 3 granted).
5. A permissions boundary, when set, must also allow.
6. Session policies, when present, must also allow.

The :class:`Decision` says which statements matched and, in ``reasons``, which
policy types allowed or failed to, so an administrator can ask "why".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from broker.policy.document import StatementEffect
from broker.policy.kinds import PolicyKind
from broker.policy.policy import CompiledStatement, Policy
from broker.policy.principals import Grant
from broker.policy.request import Request


class Effect(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class PolicyType(Enum):
    """The role a policy plays in an evaluation."""

    IDENTITY = "identity"
    RESOURCE = "resource"
    BOUNDARY = "boundary"
    SESSION = "session"
    SCP = "scp"


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    policy_id: str
    sid: str | None
    index: int
    effect: StatementEffect
    policy_type: PolicyType

    def describe(self) -> str:
        name = f"statement {self.sid!r}" if self.sid else f"Statement[{self.index}]"
        return f"{self.policy_type.value} policy {self.policy_id!r} {name}"


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    matched: tuple[MatchedStatement, ...] = ()
    missing_context_keys: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


_RESOURCE_KINDS = frozenset({PolicyKind.RESOURCE, PolicyKind.TRUST})
_IDENTITY_KINDS = frozenset(kind for kind in PolicyKind if kind.is_identity_like)


def _checked(policies: Sequence[Policy], allowed: frozenset[PolicyKind], slot: str) -> tuple[Policy, ...]:
    result = tuple(policies)
    for policy in result:
        if not isinstance(policy, Policy):
            raise TypeError(f"PolicySet.{slot}: expected Policy objects, got {type(policy).__name__}")
        if policy.kind not in allowed:
            raise ValueError(f"PolicySet.{slot}: a {policy.kind.value} policy cannot be used here")
    return result


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The policies that apply to one request.

    ``resource_account`` is the account owning the resource; when it differs
    from the caller's account the request is cross-account. Leave it None when
    unknown: the request is then treated as same-account.
    """

    identity: Sequence[Policy] = ()
    resource: Sequence[Policy] = ()
    boundary: Policy | None = None
    session: Sequence[Policy] = ()
    scps: Sequence[Sequence[Policy]] | None = None
    resource_account: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity", _checked(self.identity, _IDENTITY_KINDS, "identity"))
        object.__setattr__(self, "resource", _checked(self.resource, _RESOURCE_KINDS, "resource"))
        if self.boundary is not None:
            _checked((self.boundary,), _IDENTITY_KINDS, "boundary")
        object.__setattr__(self, "session", _checked(self.session, _IDENTITY_KINDS, "session"))
        if self.scps is not None:
            levels = tuple(_checked(level, frozenset({PolicyKind.SCP}), "scps") for level in self.scps)
            object.__setattr__(self, "scps", levels)


@dataclass(slots=True)
class _Scan:
    """Matches found in one group of policies."""

    allows: list[MatchedStatement] = field(default_factory=list)
    grant: Grant | None = None


def _scan(
    policies: Sequence[Policy],
    policy_type: PolicyType,
    request: Request,
    denies: list[MatchedStatement],
    missing: list[str],
    has_boundary: bool,
) -> _Scan:
    found = _Scan()
    action = request.action_key
    resource = request.resource
    context = request.normalized_context
    principal = request.principal
    uses_principal = policy_type is PolicyType.RESOURCE
    for policy in policies:
        statements: tuple[CompiledStatement, ...] = policy.statements_for(action)
        for statement in statements:
            grant = statement.grant_for(principal, has_boundary) if uses_principal else Grant.DIRECT
            if grant is None:
                continue
            if not statement.resource_test(resource, context, missing):
                continue
            if statement.conditions and not statement.conditions_hold(context, missing):
                continue
            matched = MatchedStatement(
                policy.policy_id, statement.sid, statement.index, statement.effect, policy_type
            )
            if statement.is_deny:
                denies.append(matched)
            else:
                found.allows.append(matched)
                if found.grant is None or grant > found.grant:
                    found.grant = grant
    return found


def evaluate(request: Request, policy_set: PolicySet) -> Decision:
    """Decide one request. Pure: no I/O, no clock, no randomness."""
    denies: list[MatchedStatement] = []
    missing: list[str] = []
    has_boundary = policy_set.boundary is not None
    action_text = f"{request.action} on {request.resource}"

    identity = _scan(policy_set.identity, PolicyType.IDENTITY, request, denies, missing, has_boundary)
    resource = _scan(policy_set.resource, PolicyType.RESOURCE, request, denies, missing, has_boundary)
    boundary = (
        _scan((policy_set.boundary,), PolicyType.BOUNDARY, request, denies, missing, has_boundary)
        if policy_set.boundary is not None
        else None
    )
    session = (
        _scan(policy_set.session, PolicyType.SESSION, request, denies, missing, has_boundary)
        if policy_set.session
        else None
    )
    scp_levels = [
        _scan(level, PolicyType.SCP, request, denies, missing, has_boundary)
        for level in policy_set.scps or ()
    ]
    missing_keys = tuple(dict.fromkeys(missing))

    if denies:
        return Decision(
            Effect.EXPLICIT_DENY,
            tuple(denies),
            missing_keys,
            tuple(f"explicitly denied by {deny.describe()}" for deny in denies),
        )

    matched = [*identity.allows, *resource.allows]
    if boundary is not None:
        matched.extend(boundary.allows)
    if session is not None:
        matched.extend(session.allows)
    for level in scp_levels:
        matched.extend(level.allows)
    failures: list[str] = []

    for depth, level in enumerate(scp_levels):
        if not level.allows:
            failures.append(f"no service control policy at organization level {depth} allows {action_text}")
    if failures:
        return Decision(Effect.IMPLICIT_DENY, tuple(matched), missing_keys, tuple(failures))

    boundary_ok = boundary is None or bool(boundary.allows)
    session_ok = session is None or bool(session.allows)
    identity_ok = bool(identity.allows)
    principal_account = request.principal.account
    cross_account = (
        principal_account is not None
        and policy_set.resource_account is not None
        and principal_account != policy_set.resource_account
    )
    grant = resource.grant

    def chain_failures() -> list[str]:
        reasons = []
        if not policy_set.identity:
            reasons.append(f"no identity-based policy applies to the caller, so none allows {action_text}")
        elif not identity_ok:
            reasons.append(f"no identity-based policy allows {action_text}")
        if not boundary_ok:
            reasons.append(f"the permissions boundary does not allow {action_text}")
        if not session_ok:
            reasons.append(f"no session policy allows {action_text}")
        return reasons

    if cross_account:
        if grant is None:
            failures.append(
                f"cross-account request: no resource-based policy of account "
                f"{policy_set.resource_account} allows {action_text} for the caller"
            )
        failures.extend(chain_failures())
        if not failures:
            return Decision(
                Effect.ALLOW,
                tuple(matched),
                missing_keys,
                ("cross-account request allowed by both the resource-based and the identity-based policies",),
            )
        return Decision(Effect.IMPLICIT_DENY, tuple(matched), missing_keys, tuple(failures))

    if grant is Grant.DIRECT:
        return Decision(
            Effect.ALLOW,
            tuple(matched),
            missing_keys,
            ("allowed by a resource-based policy that names the caller",),
        )
    if grant is Grant.ROLE:
        if boundary_ok and session_ok:
            return Decision(
                Effect.ALLOW,
                tuple(matched),
                missing_keys,
                ("allowed by a resource-based policy that names the caller's role",),
            )
        if not boundary_ok:
            failures.append(
                f"a resource-based policy names the caller's role, but the permissions boundary "
                f"does not allow {action_text}"
            )
        if not session_ok:
            failures.append(
                f"a resource-based policy names the caller's role, but no session policy allows {action_text}"
            )
        return Decision(Effect.IMPLICIT_DENY, tuple(matched), missing_keys, tuple(failures))

    chain = chain_failures()
    if not chain:
        return Decision(
            Effect.ALLOW,
            tuple(matched),
            missing_keys,
            ("allowed by the identity-based policies",),
        )
    if grant is Grant.ACCOUNT:
        failures.append(
            "the resource-based policy names only the account, which delegates to identity-based policies"
        )
    elif policy_set.resource:
        failures.append(f"no resource-based policy allows {action_text} for the caller")
    failures.extend(chain)
    return Decision(Effect.IMPLICIT_DENY, tuple(matched), missing_keys, tuple(failures))
