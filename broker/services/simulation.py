"""IAM policy simulation (SimulateCustomPolicy, SimulatePrincipalPolicy): the engine, explained.

Each (action, resource) pair is evaluated with the same engine that authorizes real calls;
the result names the statements that decided it (with their position in the policy text, as
AWS reports them), the context keys the policies wanted but the caller did not supply, and
whether a permissions boundary allowed the action.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from broker.iam import limits
from broker.iam.arn import Arn, InvalidArn
from broker.iam.entities import PolicyDocument, PrincipalPolicies
from broker.iam.errors import AwsError
from broker.policy import (
    Decision,
    Effect,
    MalformedPolicyDocument,
    Policy,
    PolicyKind,
    PolicySet,
    PolicyTooLarge,
    PolicyType,
    Principal,
    Request,
    evaluate,
    parse_policy,
)
from broker.store import Tx
from broker.store.iam import policies as stored_policies
from broker.store.iam import principals

# AWS's SourcePolicyType names, by the engine's policy type.
SOURCE_POLICY_TYPES = {
    PolicyType.IDENTITY: "IAM Policy",
    PolicyType.RESOURCE: "resource",
    PolicyType.BOUNDARY: "Permissions Boundary Policy",
    PolicyType.SESSION: "IAM Policy",
    PolicyType.SCP: "Service Control Policy",
}
DECISIONS = {Effect.ALLOW: "allowed", Effect.EXPLICIT_DENY: "explicitDeny", Effect.IMPLICIT_DENY: "implicitDeny"}
CONTEXT_TYPES = {
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
}
MAX_SIMULATIONS = 1000


@dataclass(frozen=True)
class SourcePolicy:
    """A policy document taking part in a simulation, and the id AWS reports it by."""

    policy_id: str
    text: str
    policy: Policy
    source_type: str = "IAM Policy"  # AWS's SourcePolicyType: user, group, role, aws-managed, user-managed...


@dataclass(frozen=True)
class ContextEntry:
    key: str
    values: tuple[str, ...]
    type: str


@dataclass
class SimulationInput:
    identity: list[SourcePolicy] = field(default_factory=list)
    boundaries: list[SourcePolicy] = field(default_factory=list)
    resource_policy: SourcePolicy | None = None
    actions: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    context: list[ContextEntry] = field(default_factory=list)
    caller_arn: str | None = None
    resource_owner: str | None = None
    principal_account: str | None = None
    # SimulatePrincipalPolicy of a principal whose account is in an organization: the SCP levels
    # that bind it (None for the management account) and OrganizationsDecisionDetail in results.
    in_organization: bool = False
    scps: tuple[tuple[Policy, ...], ...] | None = None


def parse_source_policies(texts: Sequence[str], kind: PolicyKind, prefix: str) -> list[SourcePolicy]:
    """``PolicyInputList.member.N`` documents; ids follow AWS (``PolicyInputList.1``...)."""
    policies = []
    for index, text in enumerate(texts, start=1):
        policy_id = f"{prefix}.{index}"
        try:
            policies.append(SourcePolicy(policy_id, text, parse_policy(text, kind, policy_id=policy_id)))
        except PolicyTooLarge as exc:
            raise AwsError("InvalidInput", f"{policy_id}: {exc}") from None
        except MalformedPolicyDocument as exc:
            raise AwsError("MalformedPolicyDocument", f"{policy_id}: {exc}") from None
    return policies


def _typed(entry: ContextEntry) -> Any:
    def one(value: str) -> Any:
        base = entry.type.removesuffix("List")
        if base == "numeric":
            try:
                return int(value) if value.lstrip("-").isdigit() else float(value)
            except ValueError:
                raise AwsError("InvalidInput", f"context key {entry.key}: {value!r} is not numeric") from None
        if base == "boolean":
            if value.lower() not in ("true", "false"):
                raise AwsError("InvalidInput", f"context key {entry.key}: {value!r} is not a boolean")
            return value.lower() == "true"
        return value

    values = [one(v) for v in entry.values]
    return values if entry.type.endswith("List") else (values[0] if values else None)


def context_from_entries(entries: Iterable[ContextEntry]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for entry in entries:
        if entry.type not in CONTEXT_TYPES:
            raise AwsError("InvalidInput", f"ContextKeyType {entry.type!r} is not one of {sorted(CONTEXT_TYPES)}")
        if any(existing.lower() == entry.key.lower() for existing in context):
            raise AwsError("InvalidInput", f"context key {entry.key} is given more than once")
        context[entry.key] = _typed(entry)
    return context


@lru_cache(maxsize=256)
def statement_positions(text: str) -> tuple[tuple[tuple[int, int], tuple[int, int]], ...]:
    """(start, end) line/column (1-based) of each statement object in a policy's JSON text.

    Cached: every matched statement of every (action, resource) result asks for its policy's."""
    positions: list[tuple[tuple[int, int], tuple[int, int]]] = []
    line, column = 1, 0
    depth = 0
    in_string = escaped = False
    last_key: str | None = None
    current = ""
    statement_depth: int | None = None  # depth of the container holding the statements
    start: tuple[int, int] | None = None
    expecting_statement_value = False
    for char in text:
        if char == "\n":
            line, column = line + 1, 0
        else:
            column += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                last_key = current
            else:
                current += char
            continue
        if char == '"':
            in_string, current = True, ""
        elif char == ":" and depth == 1 and last_key == "Statement":
            expecting_statement_value = True
        elif char in "[{":
            depth += 1
            if expecting_statement_value:
                expecting_statement_value = False
                if char == "[":
                    statement_depth = depth
                else:  # a single statement object
                    statement_depth = depth - 1
                    start = (line, column)
            elif statement_depth is not None and char == "{" and depth == statement_depth + 1 and start is None:
                start = (line, column)
        elif char in "]}":
            if start is not None and char == "}" and statement_depth is not None and depth == statement_depth + 1:
                positions.append((start, (line, column)))
                start = None
            if statement_depth is not None and depth == statement_depth and char == "]":
                statement_depth = None
            depth -= 1
    return tuple(positions)


def simulate(simulation: SimulationInput) -> list[dict[str, Any]]:
    """One EvaluationResults member per (action, resource), in AWS's shape."""
    actions = simulation.actions
    resources = simulation.resources or ["*"]
    if not actions:
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value null at 'actionNames' failed to "
            "satisfy constraint: Member must not be null",
        )
    if len(actions) * len(resources) > MAX_SIMULATIONS:
        raise AwsError("InvalidInput", f"at most {MAX_SIMULATIONS} action/resource pairs per simulation")
    context = context_from_entries(simulation.context)
    caller = simulation.caller_arn
    account = simulation.principal_account or (caller.split(":")[4] if caller and caller.count(":") >= 5 else None)
    principal = Principal(arn=caller, account=account) if caller else Principal(account=account)
    by_id = {p.policy_id: p for p in [*simulation.identity, *simulation.boundaries]}
    if simulation.resource_policy is not None:
        by_id[simulation.resource_policy.policy_id] = simulation.resource_policy
    identity = tuple(p.policy for p in simulation.identity)
    boundary = simulation.boundaries[0].policy if simulation.boundaries else None
    resource_policies = (simulation.resource_policy.policy,) if simulation.resource_policy else ()
    results = []
    for action in actions:
        for resource in resources:
            request = Request(principal=principal, action=action, resource=resource, context=context)
            decision = evaluate(
                request,
                PolicySet(
                    identity=identity,
                    boundary=boundary,
                    resource=resource_policies,
                    scps=simulation.scps,
                    resource_account=simulation.resource_owner or account,
                ),
            )
            results.append(_result(action, resource, decision, by_id, simulation, request))
    return results


def _result(
    action: str,
    resource: str,
    decision: Decision,
    by_id: dict[str, SourcePolicy],
    simulation: SimulationInput,
    request: Request,
) -> dict[str, Any]:
    matched = []
    for statement in decision.matched:
        source = by_id.get(statement.policy_id)
        position = None
        if source is not None:
            spans = statement_positions(source.text)
            if statement.index < len(spans):
                position = spans[statement.index]
        entry: dict[str, Any] = {
            "SourcePolicyId": statement.policy_id,
            "SourcePolicyType": source.source_type
            if source is not None
            else SOURCE_POLICY_TYPES[statement.policy_type],
        }
        if position is not None:
            entry["StartPosition"] = {"Line": position[0][0], "Column": position[0][1]}
            entry["EndPosition"] = {"Line": position[1][0], "Column": position[1][1]}
        matched.append(entry)
    verdict = DECISIONS[decision.effect]
    missing = list(decision.missing_context_keys)
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": verdict,
        "MatchedStatements": matched,
        "MissingContextValues": missing,
    }
    if _cross_account(simulation):
        # AWS details the decision per policy type only for a cross-account simulation.
        details = {"IAM Policy": _identity_verdict(request, simulation)}
        if simulation.resource_policy is not None:
            details["Resource Policy"] = _resource_verdict(request, simulation)
        result["EvalDecisionDetails"] = details
    boundary_detail = None
    if simulation.boundaries:
        boundary_only = evaluate(request, PolicySet(identity=(simulation.boundaries[0].policy,)))
        boundary_detail = {"AllowedByPermissionsBoundary": boundary_only.allowed}
        result["PermissionsBoundaryDecisionDetail"] = boundary_detail
    allowed = True
    if simulation.scps is not None and simulation.in_organization:
        scps_only = PolicySet(identity=(_allow_all(),), scps=simulation.scps)
        allowed = evaluate(request, scps_only).allowed
    # Present in every result, as AWS answers (true when no service control policy binds).
    result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": allowed}
    specific: list[dict[str, Any]] = []
    if simulation.resources:
        # One entry per named resource: AWS lists what decided each resource the result covers.
        entry = {
            "EvalResourceName": resource,
            "EvalResourceDecision": verdict,
            "MatchedStatements": matched,
            "MissingContextValues": missing,
        }
        if boundary_detail is not None:
            entry["PermissionsBoundaryDecisionDetail"] = boundary_detail
        specific.append(entry)
    result["ResourceSpecificResults"] = specific
    return result


def _cross_account(simulation: SimulationInput) -> bool:
    owner = simulation.resource_owner
    account = simulation.principal_account
    return simulation.resource_policy is not None and owner is not None and account is not None and owner != account


def _identity_verdict(request: Request, simulation: SimulationInput) -> str:
    identity = tuple(p.policy for p in simulation.identity)
    return DECISIONS[evaluate(request, PolicySet(identity=identity)).effect]


def _resource_verdict(request: Request, simulation: SimulationInput) -> str:
    assert simulation.resource_policy is not None
    # What the resource policy says on its own (as if in the caller's account, where it can grant alone).
    only = PolicySet(resource=(simulation.resource_policy.policy,), resource_account=simulation.principal_account)
    return DECISIONS[evaluate(request, only).effect]


@lru_cache(maxsize=1)
def _allow_all() -> Policy:
    text = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
    return parse_policy(text, PolicyKind.IDENTITY, policy_id="allow-all")


def check_sizes(texts: Sequence[str]) -> None:
    for text in texts:
        if len(text) > limits.POLICY_DOCUMENT_MAX:
            raise AwsError(
                "ValidationError", f"a policy in the input list is longer than {limits.POLICY_DOCUMENT_MAX} characters"
            )


# --- SimulatePrincipalPolicy: the policies a user, group or role has -------------------------------


def _inline_sources(owner: PrincipalPolicies, kind: PolicyKind) -> list[SourcePolicy]:
    sources = []
    for item in owner.inline:
        policy_id = f"{owner.kind}_{owner.name}_{item.name}"
        try:
            policy = parse_policy(item.document, kind, policy_id)
            sources.append(SourcePolicy(policy_id, item.document, policy, owner.kind))
        except MalformedPolicyDocument:
            continue  # validated on the way in; a corrupt stored document grants nothing
    return sources


def _managed_source(policy: PolicyDocument, kind: PolicyKind = PolicyKind.MANAGED) -> SourcePolicy | None:
    if policy.document is None:
        return None
    source_type = "aws-managed" if policy.is_aws_managed else "user-managed"
    if policy.is_aws_managed:
        kind = PolicyKind.AWS_MANAGED
    try:
        return SourcePolicy(policy.arn, policy.document, parse_policy(policy.document, kind, policy.arn), source_type)
    except MalformedPolicyDocument:
        return None


def _managed_sources(attached: Iterable[PolicyDocument]) -> list[SourcePolicy]:
    return [source for policy in attached if (source := _managed_source(policy)) is not None]


_INLINE_KINDS = {"user": PolicyKind.INLINE_USER, "group": PolicyKind.INLINE_GROUP, "role": PolicyKind.INLINE_ROLE}


def principal_sources(tx: Tx, principal_arn: str) -> tuple[list[SourcePolicy], SourcePolicy | None, str]:
    """(identity policies, permissions boundary, account) of a user, group or role by ARN."""
    try:
        parsed = Arn.parse(principal_arn)
    except InvalidArn as exc:
        raise AwsError("InvalidInput", f"PolicySourceArn is not a valid ARN: {exc}") from None
    kind = parsed.resource.split("/", 1)[0]
    if parsed.service != "iam" or kind not in ("user", "group", "role"):
        raise AwsError("InvalidInput", "PolicySourceArn must name an IAM user, group or role.")
    owner = principals.principal_policies_by_arn(tx, kind, principal_arn)
    if owner is None:
        raise AwsError("NoSuchEntity", f"The {kind} {principal_arn} cannot be found.")
    identity = _inline_sources(owner, _INLINE_KINDS[kind])
    identity += _managed_sources(owner.attached)
    for group in owner.groups:
        identity += _inline_sources(group, PolicyKind.INLINE_GROUP)
        identity += _managed_sources(group.attached)
    boundary = None
    if owner.permissions_boundary_arn:
        found = stored_policies.policy_documents(tx, [owner.permissions_boundary_arn])
        boundary = _managed_source(found[0], PolicyKind.BOUNDARY) if found else None
    return identity, boundary, owner.account_id
