"""Parameter checks the STS actions share, with the messages AWS gives, and the packed-policy size."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_policy_arn, parse_role_arn
from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, length_violations, validation_error
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy


def required_length(name: str, value: str | None, low: int, high: int, *, sensitive: bool = False) -> str:
    if value is None:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value null at '{name}' failed to satisfy "
            "constraint: Member must not be null",
        )
    violations = length_violations(value, name, low, high, sensitive=sensitive)
    if violations:
        raise validation_error(violations)
    return value


def matching(name: str, value: str, pattern: re.Pattern[str]) -> None:
    """``value`` matches ``pattern`` whole, or the ValidationError that names the pattern."""
    if not pattern.fullmatch(value):
        raise validation_error(
            [constraint_violation(value, name, f"must satisfy regular expression pattern: {pattern.pattern}")]
        )


def check_role_arn(value: str) -> None:
    """AWS's answer for a RoleArn that is not a role's ARN names only the value."""
    try:
        parse_role_arn(value)
    except InvalidArn:
        raise AwsError("ValidationError", f"{value} is invalid") from None


def valid_session_policy(policy: str | None, max_length: int) -> str | None:
    """The ``Policy`` parameter: an inline session policy, parsed to be sure it is one."""
    if policy is None:
        return None
    required_length("policy", policy, 1, max_length)
    try:
        parse_policy(policy, PolicyKind.SESSION, policy_id="SessionPolicy")
    except PolicyTooLarge as exc:
        raise AwsError("PackedPolicyTooLarge", f"Session policy is too large: {exc}") from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None
    return policy


def valid_policy_arns(arns: Sequence[str]) -> tuple[str, ...]:
    """The ``PolicyArns`` parameter: managed session policies, by ARN."""
    if len(arns) > limits.POLICY_ARNS_MAX:
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value at 'policyArns' failed to satisfy "
            f"constraint: Member must have length less than or equal to {limits.POLICY_ARNS_MAX}",
        )
    for index, policy_arn in enumerate(arns, start=1):
        try:
            parse_policy_arn(policy_arn)
        except InvalidArn as exc:
            raise AwsError("ValidationError", f"PolicyArns.member.{index} is not a valid policy ARN: {exc}") from None
    return tuple(arns)


def packed_policy_percent(policy: str | None, tags: Mapping[str, str], arns: Sequence[str]) -> int:
    """How full the packed session policy blob is, in percent, as STS reports it."""
    used = 0
    if policy:
        used += len(json.dumps(json.loads(policy), separators=(",", ":")))
    used += sum(len(k) + len(v) + 4 for k, v in tags.items()) + sum(len(a) for a in arns)
    return (used * 100 + limits.SESSION_POLICY_SIZE - 1) // limits.SESSION_POLICY_SIZE


def packed_policy_size(policy: str | None, tags: Mapping[str, str], arns: Sequence[str]) -> int | None:
    """``PackedPolicySize`` of a session with session policies or tags (None without); too large is refused."""
    if policy is None and not tags and not arns:
        return None
    packed = packed_policy_percent(policy, tags, arns)
    if packed > 100:
        raise AwsError(
            "PackedPolicyTooLarge", f"Packed policy consumes {packed}% of allotted space, please use smaller policy."
        )
    return packed
