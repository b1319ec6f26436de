"""STS use cases: AssumeRoleWithSAML (unsigned, as in AWS) and GetCallerIdentity."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_policy_arn, parse_role_arn, parse_saml_provider_arn
from broker.iam.errors import AwsError
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, parse_policy
from broker.saml.acs import validate_response
from broker.saml.errors import SamlError
from broker.services.audit import Actor, record_event
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.federation import TOKEN_CONTEXT_KEYS, ClientInfo, FederationService
from broker.services.runtime import Runtime
from broker.services.saml_session import (
    name_qualifier,
    role_pairs,
    saml_context,
    session_attributes,
    session_duration,
)
from broker.services.trust import saml_trust_decision
from broker.store import repositories as repo

log = logging.getLogger("broker.sts")

# SAML refusal -> the STS error AWS gives for it.
_EXPIRY_CODES = {"Expired", "NotYetValid"}


def sts_error_for(exc: SamlError) -> AwsError:
    if exc.code in _EXPIRY_CODES:
        return AwsError("ExpiredTokenException", f"The SAML assertion is not valid at this time: {exc.detail}")
    if exc.code == "StatusNotSuccess":
        return AwsError("IDPRejectedClaim", f"The identity provider did not authenticate the user: {exc.detail}")
    return AwsError("InvalidIdentityToken", f"{exc.user_message} ({exc.code}: {exc.detail})")


@dataclass(frozen=True)
class SamlAssumeResult:
    credentials: TemporaryCredentials
    audience: str
    issuer: str
    subject: str
    subject_type: str
    name_qualifier: str
    source_identity: str | None
    packed_policy_size: int | None


def _length(name: str, value: str | None, low: int, high: int) -> str:
    if value is None:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value null at '{name}' failed to satisfy "
            "constraint: Member must not be null",
        )
    if not low <= len(value) <= high:
        raise AwsError(
            "ValidationError",
            f"1 validation error detected: Value at '{name}' failed to satisfy "
            f"constraint: Member must have length between {low} and {high}",
        )
    return value


def packed_policy_percent(session_policy: str | None, tags: dict[str, str], policy_arns: list[str]) -> int:
    """How full the packed session policy blob is, in percent, as STS reports it."""
    used = 0
    if session_policy:
        used += len(json.dumps(json.loads(session_policy), separators=(",", ":")))
    used += sum(len(k) + len(v) + 4 for k, v in tags.items()) + sum(len(a) for a in policy_arns)
    return (used * 100 + limits.SESSION_POLICY_SIZE - 1) // limits.SESSION_POLICY_SIZE


def _validate_parameters(
    role_arn: str | None,
    principal_arn: str | None,
    saml_assertion: str | None,
    policy: str | None,
    policy_arns: list[str],
) -> tuple[str, str, str]:
    role_arn = _length("roleArn", role_arn, limits.ARN_MIN, limits.ARN_MAX)
    principal_arn = _length("principalArn", principal_arn, limits.ARN_MIN, limits.ARN_MAX)
    saml_assertion = _length("sAMLAssertion", saml_assertion, limits.SAML_ASSERTION_MIN, limits.SAML_ASSERTION_MAX)
    if len(policy_arns) > limits.POLICY_ARNS_MAX:
        raise AwsError(
            "ValidationError",
            "1 validation error detected: Value at 'policyArns' failed to satisfy "
            f"constraint: Member must have length less than or equal to {limits.POLICY_ARNS_MAX}",
        )
    for index, policy_arn in enumerate(policy_arns, start=1):
        try:
            parse_policy_arn(policy_arn)
        except InvalidArn as exc:
            raise AwsError("ValidationError", f"PolicyArns.member.{index} is not a valid policy ARN: {exc}") from None
    try:
        parse_role_arn(role_arn)
    except InvalidArn as exc:
        raise AwsError("ValidationError", f"RoleArn is not a valid role ARN: {exc}") from None
    try:
        parse_saml_provider_arn(principal_arn)
    except InvalidArn as exc:
        raise AwsError("ValidationError", f"PrincipalArn is not a valid SAML provider ARN: {exc}") from None
    if policy is not None:
        _length("policy", policy, 1, limits.SESSION_POLICY_SIZE)
        try:
            parse_policy(policy, PolicyKind.SESSION, policy_id="SessionPolicy")
        except PolicyTooLarge as exc:
            raise AwsError("PackedPolicyTooLarge", f"Session policy is too large: {exc}") from None
        except MalformedPolicyDocument as exc:
            raise AwsError("MalformedPolicyDocument", str(exc)) from None
    return role_arn, principal_arn, saml_assertion


def assume_role_with_saml(
    runtime: Runtime,
    *,
    role_arn: str | None,
    principal_arn: str | None,
    saml_assertion: str | None,
    duration_seconds: int | None,
    policy: str | None,
    policy_arns: list[str],
    client: ClientInfo,
) -> SamlAssumeResult:
    federation = FederationService(runtime)
    now = runtime.now()
    actor = Actor(type="SAMLUser")
    try:
        role_arn, principal_arn, saml_assertion = _validate_parameters(
            role_arn, principal_arn, saml_assertion, policy, policy_arns
        )
        with runtime.db.transaction() as session:
            provider = repo.provider_by_arn(session, principal_arn)
            if provider is None:
                raise AwsError("InvalidIdentityToken", f"SAML provider {principal_arn} does not exist.")
            try:
                assertion, _trust = _validate(federation, session, saml_assertion, principal_arn, now)
            except SamlError as exc:
                raise sts_error_for(exc) from None
            actor = Actor(
                type="SAMLUser",
                principal_id=f"{principal_arn}:{assertion.subject}",
                user_name=assertion.subject,
                account_id=provider.account_id,
                extra={"identityProvider": principal_arn},
            )
            pairs = role_pairs(assertion)
            if pairs is not None and not any(p.role_arn == role_arn and p.provider_arn == principal_arn for p in pairs):
                raise AwsError(
                    "AccessDenied",
                    "Not authorized to perform sts:AssumeRoleWithSAML: the assertion's "
                    "Role attribute does not list this role and provider",
                )
            role = repo.role_by_arn(session, role_arn)
            if role is None:
                raise AwsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML")
            attributes = session_attributes(assertion)
            context = saml_context(assertion, provider.account_id, provider.name)
            decision = saml_trust_decision(role, principal_arn, context, attributes.tags, attributes.source_identity)
            if not decision.allowed:
                raise AwsError("AccessDenied", f"Not authorized to perform sts:AssumeRoleWithSAML: {decision.reason}")
            seconds = session_duration(
                duration_seconds,
                attributes.requested_duration,
                role.max_session_duration,
                assertion.session_not_on_or_after,
                now,
            )
            packed = None
            if policy is not None or attributes.tags or policy_arns:
                packed = packed_policy_percent(policy, attributes.tags, policy_arns)
                if packed > 100:
                    raise AwsError(
                        "PackedPolicyTooLarge",
                        f"Packed policy consumes {packed}% of allotted space, please use smaller policy.",
                    )
            if not repo.remember_assertion(
                session,
                assertion.issuer,
                assertion.assertion_id,
                assertion.not_on_or_after + federation.acs_policy().clock_skew,
            ):
                raise AwsError("InvalidIdentityToken", "The SAML assertion was already used (replay).")
            credentials = issue_role_credentials(
                runtime,
                role,
                session_name=attributes.session_name,
                duration_seconds=seconds,
                auth_type="saml",
                provider_arn=principal_arn,
                source_identity=attributes.source_identity,
                session_tags=attributes.tags,
                transitive_tag_keys=attributes.transitive_tag_keys,
                session_policy=policy,
                policy_arns=tuple(policy_arns),
                federated={k: context[k] for k in TOKEN_CONTEXT_KEYS if k in context},
            )
            role.last_used_at = now
            role.last_used_region = runtime.settings.region
            result = SamlAssumeResult(
                credentials=credentials,
                audience=assertion.recipient,
                issuer=assertion.issuer,
                subject=assertion.subject,
                subject_type=assertion.aws_subject_type,
                name_qualifier=name_qualifier(assertion.issuer, provider.account_id, provider.name),
                source_identity=attributes.source_identity,
                packed_policy_size=packed,
            )
            _audit(
                runtime,
                session,
                actor,
                client,
                now,
                role_arn,
                principal_arn,
                seconds,
                result=result,
                assertion_info={
                    "assertionId": assertion.assertion_id,
                    "issuer": assertion.issuer,
                    "assertionDigest": assertion.digest,
                },
            )
            return result
    except AwsError as exc:
        log.info("AssumeRoleWithSAML refused: %s: %s", exc.code, exc.message)
        with runtime.db.transaction() as session:
            _audit(runtime, session, actor, client, now, role_arn, principal_arn, duration_seconds, error=exc)
        raise


def _validate(federation: FederationService, session: Any, saml_assertion: str, principal_arn: str, now: Any) -> Any:
    return validate_response(
        saml_assertion, federation.acs_policy(), federation.provider_finder(session, pinned_arn=principal_arn), now=now
    )


def _audit(
    runtime: Runtime,
    session: Any,
    actor: Actor,
    client: ClientInfo,
    now: Any,
    role_arn: str | None,
    principal_arn: str | None,
    duration: int | None,
    result: SamlAssumeResult | None = None,
    error: AwsError | None = None,
    assertion_info: dict[str, str] | None = None,
) -> None:
    response = None
    if result is not None:
        response = {
            "credentials": {
                "accessKeyId": result.credentials.access_key_id,
                "expiration": result.credentials.expiration_iso(),
            },
            "assumedRoleUser": {
                "arn": result.credentials.assumed_role_arn,
                "assumedRoleId": result.credentials.assumed_role_id,
            },
            "subject": result.subject,
            "subjectType": result.subject_type,
            "issuer": result.issuer,
        }
    try:
        account = parse_role_arn(role_arn or "")[0]
    except InvalidArn:
        account = runtime.settings.default_account_id
    record_event(
        session,
        event_name="AssumeRoleWithSAML",
        event_source="sts.amazonaws.com",
        actor=actor,
        now=now,
        region=runtime.settings.region,
        source_ip=client.source_ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
        request_parameters={
            "roleArn": (role_arn or "")[:2048],
            "principalArn": (principal_arn or "")[:2048],
            "durationSeconds": duration,
        },
        response_elements=response,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        recipient_account_id=account,
        additional=assertion_info,
    )
