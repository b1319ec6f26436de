"""AssumeRole for IAM principals: an IAM user, or a role session (role chaining)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import (
    constraint_violation,
    name_key,
    validate_duration_seconds,
    validate_role_session_name,
    validate_source_identity,
    validate_tags,
    validation_error,
)
from broker.policy import MalformedPolicyDocument, PolicyType
from broker.services.auth import Caller, access_denied, decide
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.runtime import Runtime
from broker.services.sts._params import (
    check_role_arn,
    matching,
    packed_policy_size,
    required_length,
    valid_policy_arns,
    valid_session_policy,
)
from broker.services.sts.mfa import verify_mfa
from broker.services.trust import SET_SOURCE_IDENTITY, TAG_SESSION, compiled_trust_policy
from broker.store import Tx
from broker.store import federation as store
from broker.store.iam import named

ASSUME_ROLE = "sts:AssumeRole"
# AWS's pattern, spelled as its messages show it.
_EXTERNAL_ID = re.compile(r"[\w+=,.@:\/-]*", re.ASCII)


@dataclass(frozen=True)
class AssumeRoleResult:
    credentials: TemporaryCredentials
    packed_policy_size: int | None
    source_identity: str | None


@dataclass(frozen=True)
class _SessionTags:
    """The tags a new session carries: those the calling session passes on, then the request's."""

    tags: dict[str, str]
    transitive_keys: tuple[str, ...]


def _folded_get(mapping: Mapping[str, str], key: str) -> tuple[str, str] | None:
    for existing, value in mapping.items():
        if name_key(existing) == name_key(key):
            return existing, value
    return None


def _inherited_tags(caller: Caller) -> dict[str, str]:
    """Transitive tags a chained session passes on (AWS: they persist down the whole chain)."""
    claims = caller.claims
    if not caller.is_role_session or claims is None:
        return {}
    inherited: dict[str, str] = {}
    for key in claims.transitive_tag_keys:
        found = _folded_get(claims.session_tags, key)
        if found is not None:
            inherited[found[0]] = found[1]
    return inherited


def _request_tags(tags: list[tuple[str, str]], transitive_tag_keys: list[str]) -> dict[str, str]:
    """The request's ``Tags``; each of its ``TransitiveTagKeys`` must name one of them."""
    if len({name_key(key) for key, _ in tags}) < len(tags):
        raise AwsError(
            "InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    new_tags = validate_tags(tags, field="tags", limit=limits.SESSION_TAGS_MAX)
    if len(transitive_tag_keys) > limits.TRANSITIVE_TAG_KEYS_MAX:
        raise validation_error(
            [
                constraint_violation(
                    f"[{len(transitive_tag_keys)} keys]",
                    "transitiveTagKeys",
                    f"must have length less than or equal to {limits.TRANSITIVE_TAG_KEYS_MAX}",
                )
            ]
        )
    for key in transitive_tag_keys:
        if _folded_get(new_tags, key) is None:
            raise AwsError(
                "InvalidParameterValue", f"The transitive tag key {key} is not the key of a session tag in the request."
            )
    return new_tags


def _session_tags(caller: Caller, new_tags: dict[str, str], transitive_tag_keys: list[str]) -> _SessionTags:
    inherited = _inherited_tags(caller)
    for key in new_tags:
        if _folded_get(inherited, key) is not None:
            raise AwsError(
                "InvalidParameterValue",
                "One of the specified transitive tag keys can't be set because it conflicts with a transitive "
                "tag key from the calling session.",
            )
    named = [found[0] for key in transitive_tag_keys if (found := _folded_get(new_tags, key)) is not None]
    return _SessionTags({**inherited, **new_tags}, tuple(dict.fromkeys([*inherited, *named])))


def _source_identity(caller: Caller, requested: str | None) -> str | None:
    """A role chain keeps the source identity its first session set; it cannot be changed."""
    inherited = caller.claims.source_identity if caller.is_role_session and caller.claims else None
    if inherited and requested and requested != inherited:
        raise AwsError(
            "InvalidParameterValue",
            "The source identity of a role chain cannot be changed once it is set "
            f"(the calling session's is {inherited}).",
        )
    return inherited or requested


def _duration(caller: Caller, requested: int | None, max_session_duration: int) -> int:
    if caller.is_role_session:
        if requested is not None and requested > limits.ROLE_CHAINING_MAX_DURATION:
            raise AwsError(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            )
        return requested or limits.ROLE_CHAINING_MAX_DURATION
    if requested is not None and requested > max_session_duration:
        raise AwsError(
            "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return requested or limits.DURATION_SECONDS_DEFAULT


def assume_role(
    runtime: Runtime,
    tx: Tx,
    caller: Caller,
    *,
    role_arn: str | None,
    role_session_name: str | None,
    duration_seconds: int | None,
    external_id: str | None,
    serial_number: str | None,
    token_code: str | None,
    source_identity: str | None,
    tags: list[tuple[str, str]],
    transitive_tag_keys: list[str],
    policy: str | None,
    policy_arns: list[str],
    context: Mapping[str, Any],
) -> AssumeRoleResult:
    """AssumeRole for an IAM user or a role session (role chaining), decided as AWS decides it.

    The role's trust policy is the resource-based policy of the request and the caller's own
    policies are the identity side, in one evaluation: in the same account a trust policy that
    names the caller grants on its own, one that names the account defers to the caller's
    identity policies, and across accounts both must allow.
    """
    role_arn = required_length("roleArn", role_arn, limits.ARN_MIN, limits.ARN_MAX)
    if caller.is_federated_user:
        # AWS: a federated user's credentials call no STS API but GetCallerIdentity.
        raise AwsError(
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn} "
            "because federated user credentials cannot call the IAM or STS API",
        )
    session_name = validate_role_session_name(role_session_name)
    if duration_seconds is not None:
        validate_duration_seconds(duration_seconds)
    if external_id is not None:
        required_length("externalId", external_id, 2, 1224)
        matching("externalId", external_id, _EXTERNAL_ID)
    if source_identity is not None:
        validate_source_identity(source_identity)
    new_tags = _request_tags(tags, transitive_tag_keys)
    session_policy = valid_session_policy(policy, limits.POLICY_DOCUMENT_MAX)
    arns_given = valid_policy_arns(policy_arns)
    check_role_arn(role_arn)
    mfa_time = verify_mfa(runtime, tx, caller, serial_number, token_code)

    session_tags = _session_tags(caller, new_tags, transitive_tag_keys)
    effective_source = _source_identity(caller, source_identity)
    if len(session_tags.tags) > limits.SESSION_TAGS_MAX:
        raise AwsError("InvalidParameterValue", f"A session can carry at most {limits.SESSION_TAGS_MAX} session tags.")

    full_context = dict(context)
    if mfa_time is not None:
        # The request itself is MFA-authenticated: the trust policy sees it so.
        full_context["aws:MultiFactorAuthPresent"] = "true"
        full_context["aws:MultiFactorAuthAge"] = "0"
    elif caller.claims is not None and caller.claims.mfa:
        # Role chaining (and GetSessionToken credentials) keep the MFA of the calling session.
        mfa_time = caller.claims.mfa_auth_time or caller.claims.issued_at
    full_context["sts:RoleSessionName"] = session_name
    if external_id is not None:
        full_context["sts:ExternalId"] = external_id
    if effective_source:
        full_context["sts:SourceIdentity"] = effective_source
    if new_tags:
        for key, value in new_tags.items():
            full_context[f"aws:RequestTag/{key}"] = value
        full_context["aws:TagKeys"] = list(new_tags)
    if transitive_tag_keys:
        full_context["sts:TransitiveTagKeys"] = list(transitive_tag_keys)

    role = named.assumable_role(tx, role_arn)
    trust = None
    if role is not None:
        try:
            trust = compiled_trust_policy(role.trust_policy)
        except MalformedPolicyDocument:
            trust = None
    if role is None or trust is None:
        # AWS does not say whether the role exists: a missing role (or one in a closed account) is
        # refused like an untrusting one.
        raise AwsError(
            "AccessDenied", f"User: {caller.arn} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
        )
    checks = [ASSUME_ROLE]
    if session_tags.tags:
        checks.append(TAG_SESSION)
    if effective_source:
        checks.append(SET_SOURCE_IDENTITY)
    for action in checks:
        decision = decide(
            tx, caller, action, role.arn, full_context, resource_policies=(trust,), resource_account=role.account_id
        )
        if not decision.allowed:
            raise access_denied(caller, action, role.arn, full_context, decision)
        # Unlike other resource-based policies, a trust policy is required: identity policies
        # alone never let anyone assume a role.
        if not any(m.policy_type is PolicyType.RESOURCE for m in decision.matched):
            raise access_denied(
                caller,
                action,
                role.arn,
                full_context,
                decision,
                why=f"because the role's trust policy does not allow the {action} action",
            )

    seconds = _duration(caller, duration_seconds, role.max_session_duration)
    packed = packed_policy_size(session_policy, session_tags.tags, arns_given)
    credentials = issue_role_credentials(
        runtime,
        role,
        session_name=session_name,
        duration_seconds=seconds,
        auth_type="assume-role",
        source_identity=effective_source,
        session_tags=session_tags.tags,
        transitive_tag_keys=session_tags.transitive_keys,
        session_policy=session_policy,
        policy_arns=arns_given,
        mfa=mfa_time is not None,
        mfa_auth_time=mfa_time,
    )
    store.mark_role_used(tx, role.role_id, runtime.now(), runtime.settings.region)
    return AssumeRoleResult(credentials, packed, effective_source)
