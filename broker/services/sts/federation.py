"""GetFederationToken: temporary credentials for a federated user, issued by an IAM user.

The federated user may do what both its issuing user's policies and the session policies passed
here allow; passed none, it may do nothing (AWS's rule since session policies became required:
only a resource-based policy naming the federated user session can grant it anything).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.iam import limits
from broker.iam.arn import federated_user_arn
from broker.iam.errors import AwsError
from broker.iam.names import (
    constraint_violation,
    length_violations,
    name_key,
    validate_int_range,
    validate_tags,
    validation_error,
)
from broker.services.auth import Caller, caller_user
from broker.services.credentials import TemporaryCredentials, issue_federated_user_credentials
from broker.services.runtime import Runtime
from broker.services.sts._params import packed_policy_size, valid_policy_arns, valid_session_policy
from broker.store import Tx

FEDERATION_DURATION_MIN = 900
FEDERATION_DURATION_MAX = 129_600
FEDERATION_DURATION_DEFAULT = 43_200
_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
_NAME_MIN, _NAME_MAX = 2, 32


@dataclass(frozen=True)
class FederationRequest:
    """GetFederationToken's parameters, validated; what authorization needs to see of them."""

    name: str
    federated_user_arn: str
    duration_seconds: int
    session_policy: str | None
    policy_arns: tuple[str, ...]
    tags: dict[str, str]

    def tag_context(self) -> dict[str, Any]:
        if not self.tags:
            return {}
        return {**{f"aws:RequestTag/{k}": v for k, v in self.tags.items()}, "aws:TagKeys": list(self.tags)}


@dataclass(frozen=True)
class FederationResult:
    credentials: TemporaryCredentials
    packed_policy_size: int | None


def _validate_name(name: str | None) -> str:
    if name is None:
        raise validation_error([constraint_violation(None, "name", "must not be null")])
    violations = []
    violations.extend(length_violations(name, "name", _NAME_MIN, _NAME_MAX))
    if not _NAME.fullmatch(name):
        violations.append(
            constraint_violation(name, "name", f"must satisfy regular expression pattern: {_NAME.pattern}")
        )
    if violations:
        raise validation_error(violations)
    return name


def federation_request(
    caller: Caller,
    *,
    name: str | None,
    duration_seconds: int | None,
    policy: str | None,
    policy_arns: list[str],
    tags: list[tuple[str, str]],
) -> FederationRequest:
    """The request, validated in AWS's order; refused for any caller but an IAM user's long-term key."""
    name = _validate_name(name)
    if duration_seconds is not None:
        validate_int_range(duration_seconds, "durationSeconds", FEDERATION_DURATION_MIN, FEDERATION_DURATION_MAX)
    if len({name_key(key) for key, _ in tags}) < len(tags):
        raise AwsError(
            "InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    tag_map = validate_tags(tags, field="tags", limit=limits.SESSION_TAGS_MAX)
    session_policy = valid_session_policy(policy, limits.SESSION_POLICY_SIZE)  # sessionPolicyDocumentType
    arns_given = valid_policy_arns(policy_arns)
    if caller.claims is not None:
        raise AwsError("AccessDenied", "Cannot call GetFederationToken with session credentials")
    return FederationRequest(
        name=name,
        federated_user_arn=federated_user_arn(caller.account_id, name),
        duration_seconds=duration_seconds or FEDERATION_DURATION_DEFAULT,
        session_policy=session_policy,
        policy_arns=arns_given,
        tags=tag_map,
    )


def get_federation_token(runtime: Runtime, tx: Tx, caller: Caller, request: FederationRequest) -> FederationResult:
    """Credentials for the federated user (the caller has been authorized for it)."""
    user = caller_user(tx, caller)
    if user is None:
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.")
    packed = packed_policy_size(request.session_policy, request.tags, request.policy_arns)
    credentials = issue_federated_user_credentials(
        runtime,
        user,
        name=request.name,
        duration_seconds=request.duration_seconds,
        session_policy=request.session_policy,
        policy_arns=request.policy_arns,
        session_tags=request.tags,
    )
    return FederationResult(credentials, packed)


def federated_user(credentials: TemporaryCredentials) -> Mapping[str, str]:
    """GetFederationToken's ``FederatedUser``."""
    return {"FederatedUserId": credentials.assumed_role_id, "Arn": credentials.assumed_role_arn}
