"""AssumeRoleWithSAML: unsigned, as in AWS; the assertion is the caller's only credential."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_role_arn, parse_saml_provider_arn
from broker.iam.errors import AwsError
from broker.saml.errors import EXPIRED_TOKEN, IDP_REJECTED_CLAIM, SamlError
from broker.services.audit import Actor, AuditScope, ClientInfo
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.federation.providers import replay_window_end, validate
from broker.services.federation.sign_in import saml_session_context, token_context
from broker.services.runtime import Runtime
from broker.services.saml_session import name_qualifier, role_pairs, saml_context, session_attributes, session_duration
from broker.services.sts._params import (
    check_role_arn,
    packed_policy_size,
    required_length,
    valid_policy_arns,
    valid_session_policy,
)
from broker.services.trust import saml_trust_decision
from broker.store import federation as store

log = logging.getLogger("broker.sts")

EVENT_NAME = "AssumeRoleWithSAML"
EVENT_SOURCE = "sts.amazonaws.com"

# What STS says of a refused assertion, by the error it answers with; otherwise the SAML refusal's own words.
_STS_WORDING = {
    EXPIRED_TOKEN: "The SAML assertion is not valid at this time",
    IDP_REJECTED_CLAIM: "The identity provider did not authenticate the user",
}


def sts_error_for(exc: SamlError) -> AwsError:
    wording = _STS_WORDING.get(exc.sts_code)
    message = f"{wording}: {exc.detail}" if wording else f"{exc.user_message} ({exc.code}: {exc.detail})"
    return AwsError(exc.sts_code, message)


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


def _validate_parameters(
    role_arn: str | None,
    principal_arn: str | None,
    saml_assertion: str | None,
    policy: str | None,
    policy_arns: list[str],
) -> tuple[str, str, str]:
    role_arn = required_length("roleArn", role_arn, limits.ARN_MIN, limits.ARN_MAX)
    principal_arn = required_length("principalArn", principal_arn, limits.ARN_MIN, limits.ARN_MAX)
    saml_assertion = required_length(
        "sAMLAssertion", saml_assertion, limits.SAML_ASSERTION_MIN, limits.SAML_ASSERTION_MAX, sensitive=True
    )
    valid_policy_arns(policy_arns)
    check_role_arn(role_arn)
    try:
        parse_saml_provider_arn(principal_arn)
    except InvalidArn as exc:
        raise AwsError("ValidationError", f"PrincipalArn is not a valid SAML provider ARN: {exc}") from None
    valid_session_policy(policy, limits.SESSION_POLICY_SIZE)
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
    """Credentials for the role an assertion names, if its trust policy allows the sign-in; audited either way."""
    now = runtime.now()
    scope = _scope(runtime, client, role_arn, principal_arn, duration_seconds)
    try:
        role_arn, principal_arn, saml_assertion = _validate_parameters(
            role_arn, principal_arn, saml_assertion, policy, policy_arns
        )
        with runtime.db.transaction() as tx:
            provider = store.provider_by_arn(tx, principal_arn)
            if provider is None:
                raise AwsError("InvalidIdentityToken", f"SAML provider {principal_arn} does not exist.")
            try:
                assertion, _trust = validate(runtime, tx, saml_assertion, now, pinned_arn=principal_arn)
            except SamlError as exc:
                raise sts_error_for(exc) from None
            scope.actor = Actor(
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
            role = store.trusting_role(tx, role_arn)
            if role is None:
                raise AwsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithSAML")
            attributes = session_attributes(assertion)
            scope.actor = replace(scope.actor, session_context=saml_session_context(False, attributes.source_identity))
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
            packed = packed_policy_size(policy, attributes.tags, policy_arns)
            if not store.remember_assertion(
                tx, assertion.issuer, assertion.assertion_id, replay_window_end(runtime, assertion)
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
                federated=token_context(context),
            )
            store.mark_role_used(tx, role.role_id, now, runtime.settings.region)
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
            scope.request_parameters = _request_parameters(role_arn, principal_arn, seconds)
            scope.additional = {
                "assertionId": assertion.assertion_id,
                "issuer": assertion.issuer,
                "assertionDigest": assertion.digest,
            }
            response = {
                **credentials.audit_elements(),
                "subject": result.subject,
                "subjectType": result.subject_type,
                "issuer": result.issuer,
            }
            scope.record(tx, now, response=response)
            return result
    except AwsError as exc:
        log.info("AssumeRoleWithSAML refused: %s: %s", exc.code, exc.message)
        # The request's transaction rolled back; its refusal is recorded in one of its own.
        with runtime.db.transaction() as tx:
            scope.record(tx, now, error=exc)
        raise


def _scope(
    runtime: Runtime, client: ClientInfo, role_arn: str | None, principal_arn: str | None, duration: int | None
) -> AuditScope:
    """The call's audit scope; the trail of the role's account, or the default account's for a malformed ARN."""
    try:
        account = parse_role_arn(role_arn or "")[0]
    except InvalidArn:
        account = runtime.settings.default_account_id
    return AuditScope(
        event_name=EVENT_NAME,
        event_source=EVENT_SOURCE,
        client=client,
        region=runtime.settings.region,
        actor=Actor(type="SAMLUser"),
        request_parameters=_request_parameters(role_arn, principal_arn, duration),
        recipient_account_id=account,
    )


def _request_parameters(role_arn: str | None, principal_arn: str | None, duration: int | None) -> dict[str, Any]:
    return {
        "roleArn": (role_arn or "")[:2048],
        "principalArn": (principal_arn or "")[:2048],
        "durationSeconds": duration,
    }
