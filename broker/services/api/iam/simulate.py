"""IAM policy simulation actions."""

from __future__ import annotations

from typing import Any

from broker.iam.errors import AwsError
from broker.iam.numbers import parse_ascii_int
from broker.policy import PolicyKind
from broker.services.api.call import Call
from broker.services.api.iam.support import arn_parameter
from broker.services.api.params import Params
from broker.services.api.registry import action
from broker.services.api.shapes import XmlMap
from broker.services.orgs.context import account_context
from broker.services.simulation import (
    ContextEntry,
    SimulationInput,
    SourcePolicy,
    check_sizes,
    parse_source_policies,
    principal_sources,
    simulate,
)


def _context_entries(params: Params) -> list[ContextEntry]:
    """Every ``ContextEntries.member.N``, its values read from their own nested list: the cost is
    the entries' own (each entry used to scan every parameter: quadratic in their number)."""
    entries = []
    for index, fields in params.entries("ContextEntries").items():
        key = fields.get("ContextKeyName")
        if key is None:
            raise AwsError("ValidationError", f"ContextEntries.member.{index} has no ContextKeyName")
        values = params.members(f"ContextEntries.member.{index}.ContextKeyValues")
        entries.append(ContextEntry(key, tuple(values), fields.get("ContextKeyType") or "string"))
    return entries


def _page(call: Call, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Marker/MaxItems pagination over the evaluation results."""
    given = call.params.integer("MaxItems")
    max_items = 100 if given is None else given  # 0 is a value, refused below, not the default
    if not 1 <= max_items <= 1000:
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value at 'maxItems' failed to satisfy "
            "constraint: Member must have value between 1 and 1000",
        )
    marker = call.params.get("Marker")
    start = 0
    if marker:
        position = parse_ascii_int(marker, max_digits=7)
        if position is None or position > len(results):
            raise AwsError("InvalidInput", "Marker is not valid for this simulation.")
        start = position
    page = results[start : start + max_items]
    for result in page:
        if "EvalDecisionDetails" in result:
            result["EvalDecisionDetails"] = XmlMap(result["EvalDecisionDetails"])
    body: dict[str, Any] = {"EvaluationResults": page, "IsTruncated": start + max_items < len(results)}
    if body["IsTruncated"]:
        body["Marker"] = str(start + max_items)
    return body


def _owner_account(owner: str | None) -> str | None:
    """``ResourceOwner`` is an account's ARN (``arn:aws:iam::ACCOUNT:root``); a bare account id is taken too."""
    if owner is None or owner.isdigit():
        return owner
    parts = owner.split(":")
    if len(parts) < 6 or not parts[4]:
        raise AwsError("InvalidInput", f"ResourceOwner {owner[:2048]} is not an account ARN.")
    return parts[4]


def _common(call: Call, simulation: SimulationInput) -> None:
    params = call.params
    simulation.actions = params.members("ActionNames")
    simulation.resources = params.members("ResourceArns")
    simulation.context = _context_entries(params)
    simulation.caller_arn = params.get("CallerArn")
    simulation.resource_owner = _owner_account(params.get("ResourceOwner"))
    boundary_texts = params.members("PermissionsBoundaryPolicyInputList")
    check_sizes(boundary_texts)
    simulation.boundaries = parse_source_policies(
        boundary_texts, PolicyKind.BOUNDARY, "PermissionsBoundaryPolicyInputList"
    )
    resource_text = params.get("ResourcePolicy")
    if resource_text is not None:
        check_sizes([resource_text])
        [policy] = parse_source_policies([resource_text], PolicyKind.RESOURCE, "ResourcePolicy")
        simulation.resource_policy = SourcePolicy(policy.policy_id, resource_text, policy.policy, "resource")
        if not simulation.caller_arn:
            raise AwsError("InvalidInput", "CallerArn is required when ResourcePolicy is given.")


@action("SimulateCustomPolicy", "iam", read_only=True)
def simulate_custom_policy(call: Call) -> dict[str, Any]:
    call.authorize("iam:SimulateCustomPolicy", "*")
    texts = call.params.members("PolicyInputList")
    if not texts:
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value null at 'policyInputList' failed to "
            "satisfy constraint: Member must not be null",
        )
    check_sizes(texts)
    simulation = SimulationInput(
        identity=parse_source_policies(texts, PolicyKind.IDENTITY, "PolicyInputList"), principal_account=call.account_id
    )
    _common(call, simulation)
    return _page(call, simulate(simulation))


@action("SimulatePrincipalPolicy", "iam", read_only=True)
def simulate_principal_policy(call: Call) -> dict[str, Any]:
    source_arn = arn_parameter(call.params, "PolicySourceArn")
    call.authorize("iam:SimulatePrincipalPolicy", source_arn)
    identity, boundary, account = principal_sources(call.tx, source_arn)
    if account != call.account_id:
        raise AwsError("NoSuchEntity", f"The entity {source_arn} cannot be found.")
    extra = call.params.members("PolicyInputList")
    check_sizes(extra)
    identity += parse_source_policies(extra, PolicyKind.IDENTITY, "PolicyInputList")
    organization = account_context(call.tx, account)
    simulation = SimulationInput(
        identity=identity,
        principal_account=account,
        in_organization=organization.org_id is not None,
        scps=organization.scp_levels,
    )
    _common(call, simulation)
    if not simulation.boundaries and boundary is not None:
        simulation.boundaries = [boundary]
    if simulation.caller_arn is None and ":group/" not in source_arn:
        simulation.caller_arn = source_arn  # a user or role simulates as itself
    return _page(call, simulate(simulation))
