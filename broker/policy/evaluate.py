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

Speed: a :class:`PolicySet` memoises, per action, the flat list of statements
of all its policies whose Action matches, so a decision walks only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from broker.policy.document import StatementEffect
from broker.policy.kinds import PolicyKind
from broker.policy.policy import CompiledStatement, Policy, ResourceTest
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
    """The outcome of :func:`evaluate`, with what matched and why.

    ``reasons`` is built on first use from constant templates: most decisions
    are never explained, so none of them pays for formatting.
    """

    effect: Effect
    matched: tuple[MatchedStatement, ...] = ()
    missing_context_keys: tuple[str, ...] = ()
    reason_templates: tuple[str, ...] = field(default=(), repr=False)
    # (action, resource, resource account) the templates are filled with.
    subject: tuple[str, str, str] = field(default=("", "", ""), repr=False)

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW

    @property
    def reasons(self) -> tuple[str, ...]:
        """Human-readable: which statements denied, or which policy types failed to allow."""
        action, resource, account = self.subject
        filled = tuple(
            template.format(request=f"{action} on {resource}", account=account) for template in self.reason_templates
        )
        if self.effect is Effect.EXPLICIT_DENY:
            return tuple(f"explicitly denied by {deny.describe()}" for deny in self.matched) + filled
        return filled


# Reason templates ({request} is "action on resource", {account} the resource account).
_SCP_LEVEL = "no service control policy at organization level {level} allows {{request}}"
_NO_IDENTITY_POLICY = "no identity-based policy applies to the caller, so none allows {request}"
_IDENTITY_DENIES = "no identity-based policy allows {request}"
_BOUNDARY_DENIES = "the permissions boundary does not allow {request}"
_SESSION_DENIES = "no session policy allows {request}"
_CROSS_ACCOUNT_NO_RESOURCE = (
    "cross-account request: no resource-based policy of account {account} allows {request} for the caller"
)
_CROSS_ACCOUNT_ALLOWED = "cross-account request allowed by both the resource-based and the identity-based policies"
_RESOURCE_NAMES_CALLER = "allowed by a resource-based policy that names the caller"
_RESOURCE_NAMES_ROLE = "allowed by a resource-based policy that names the caller's role"
_ROLE_BOUNDARY_DENIES = (
    "a resource-based policy names the caller's role, but the permissions boundary does not allow {request}"
)
_ROLE_SESSION_DENIES = "a resource-based policy names the caller's role, but no session policy allows {request}"
_IDENTITY_ALLOWS = "allowed by the identity-based policies"
_ACCOUNT_ONLY = "the resource-based policy names only the account, which delegates to identity-based policies"
_NO_RESOURCE_ALLOWS = "no resource-based policy allows {request} for the caller"


_RESOURCE_KINDS = frozenset({PolicyKind.RESOURCE, PolicyKind.TRUST})
_IDENTITY_KINDS = frozenset(kind for kind in PolicyKind if kind.is_identity_like)
_SCP_KINDS = frozenset({PolicyKind.SCP})

# Slots of a plan entry; SCP level n is slot _SCP + n.
_IDENTITY = 0
_RESOURCE = 1
_BOUNDARY = 2
_SESSION = 3
_SCP = 4

# Distinct actions remembered per policy set.
_PLAN_CACHE_SIZE = 4096

# (statement, its report record, slot, its Resource test or None, whether it has conditions)
_Candidate = tuple[CompiledStatement, MatchedStatement, int, ResourceTest | None, bool]


def _checked(policies: Sequence[Policy], allowed: frozenset[PolicyKind], slot: str) -> tuple[Policy, ...]:
    result = tuple(policies)
    for policy in result:
        if not isinstance(policy, Policy):
            raise TypeError(f"PolicySet.{slot}: expected Policy objects, got {type(policy).__name__}")
        if policy.kind not in allowed:
            raise ValueError(f"PolicySet.{slot}: {policy.kind.value} policies cannot be used here")
    return result


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The policies that apply to one principal (build once per principal and reuse).

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
    _plans: dict[str, tuple[_Candidate, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity", _checked(self.identity, _IDENTITY_KINDS, "identity"))
        object.__setattr__(self, "resource", _checked(self.resource, _RESOURCE_KINDS, "resource"))
        if self.boundary is not None:
            _checked((self.boundary,), _IDENTITY_KINDS, "boundary")
        object.__setattr__(self, "session", _checked(self.session, _IDENTITY_KINDS, "session"))
        if self.scps is not None:
            levels = tuple(_checked(level, _SCP_KINDS, "scps") for level in self.scps)
            object.__setattr__(self, "scps", levels)

    def _groups(self) -> list[tuple[int, PolicyType, Sequence[Policy]]]:
        groups: list[tuple[int, PolicyType, Sequence[Policy]]] = [
            (_IDENTITY, PolicyType.IDENTITY, self.identity),
            (_RESOURCE, PolicyType.RESOURCE, self.resource),
        ]
        if self.boundary is not None:
            groups.append((_BOUNDARY, PolicyType.BOUNDARY, (self.boundary,)))
        groups.append((_SESSION, PolicyType.SESSION, self.session))
        for depth, level in enumerate(self.scps or ()):
            groups.append((_SCP + depth, PolicyType.SCP, level))
        return groups

    def candidates(self, action: str) -> tuple[_Candidate, ...]:
        """Statements of every policy whose Action matches ``action`` (lower-case)."""
        plan = self._plans.get(action)
        if plan is not None:
            return plan
        found: list[_Candidate] = []
        for slot, policy_type, policies in self._groups():
            for policy in policies:
                for statement in policy.statements_for(action):
                    record = MatchedStatement(
                        policy.policy_id, statement.sid, statement.index, statement.effect, policy_type
                    )
                    found.append((statement, record, slot, statement.resource_test, bool(statement.conditions)))
        plan = tuple(found)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        self._plans[action] = plan
        return plan


def evaluate(request: Request, policy_set: PolicySet) -> Decision:
    """Decide one request. Pure: no I/O, no clock, no randomness."""
    context = request.normalized_context
    resource = request.resource
    principal = request.principal
    has_boundary = policy_set.boundary is not None
    missing: list[str] = []
    denies: list[MatchedStatement] = []
    allows: list[MatchedStatement] = []
    allowed_slots: set[int] = set()
    grant: Grant | None = None

    for statement, record, slot, test, has_conditions in policy_set.candidates(request.action_key):
        statement_grant = Grant.DIRECT
        if slot == _RESOURCE:
            found = statement.grant_for(principal, has_boundary)
            if found is None:
                continue
            statement_grant = found
        if test is not None and not test(resource, context, missing):
            continue
        if has_conditions and not statement.conditions_hold(context, missing):
            continue
        if statement.is_deny:
            denies.append(record)
        else:
            allows.append(record)
            allowed_slots.add(slot)
            if slot == _RESOURCE and (grant is None or statement_grant > grant):
                grant = statement_grant

    missing_keys = tuple(dict.fromkeys(missing)) if missing else ()
    subject = (request.action, request.resource, policy_set.resource_account or "")
    if denies:
        return Decision(Effect.EXPLICIT_DENY, tuple(denies), missing_keys, (), subject)
    effect, templates = _allow_or_implicit_deny(request, policy_set, allowed_slots, grant)
    return Decision(effect, tuple(allows), missing_keys, templates, subject)


def _allow_or_implicit_deny(
    request: Request, policy_set: PolicySet, allowed_slots: set[int], grant: Grant | None
) -> tuple[Effect, tuple[str, ...]]:
    """Steps 2 to 6, once no Deny matched: the effect and its reason templates."""
    if policy_set.scps is not None:
        failures = tuple(
            _SCP_LEVEL.format(level=depth) for depth in range(len(policy_set.scps)) if _SCP + depth not in allowed_slots
        )
        if failures:
            return Effect.IMPLICIT_DENY, failures

    boundary_ok = policy_set.boundary is None or _BOUNDARY in allowed_slots
    session_ok = not policy_set.session or _SESSION in allowed_slots
    chain: list[str] = []
    if not policy_set.identity:
        chain.append(_NO_IDENTITY_POLICY)
    elif _IDENTITY not in allowed_slots:
        chain.append(_IDENTITY_DENIES)
    if not boundary_ok:
        chain.append(_BOUNDARY_DENIES)
    if not session_ok:
        chain.append(_SESSION_DENIES)

    principal_account = request.principal.account
    resource_account = policy_set.resource_account
    if principal_account is not None and resource_account is not None and principal_account != resource_account:
        if grant is None:
            chain.insert(0, _CROSS_ACCOUNT_NO_RESOURCE)
        if chain:
            return Effect.IMPLICIT_DENY, tuple(chain)
        return Effect.ALLOW, (_CROSS_ACCOUNT_ALLOWED,)

    if grant is Grant.DIRECT:
        return Effect.ALLOW, (_RESOURCE_NAMES_CALLER,)
    if grant is Grant.ROLE:
        if boundary_ok and session_ok:
            return Effect.ALLOW, (_RESOURCE_NAMES_ROLE,)
        role_failures = []
        if not boundary_ok:
            role_failures.append(_ROLE_BOUNDARY_DENIES)
        if not session_ok:
            role_failures.append(_ROLE_SESSION_DENIES)
        return Effect.IMPLICIT_DENY, tuple(role_failures)
    if not chain:
        return Effect.ALLOW, (_IDENTITY_ALLOWS,)
    if grant is Grant.ACCOUNT:
        chain.insert(0, _ACCOUNT_ONLY)
    elif policy_set.resource:
        chain.insert(0, _NO_RESOURCE_ALLOWS)
    return Effect.IMPLICIT_DENY, tuple(chain)
