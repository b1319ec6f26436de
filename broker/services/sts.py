"""STS use cases: AssumeRoleWithSAML (unsigned, as in AWS), and for IAM principals AssumeRole,
GetSessionToken, GetAccessKeyInfo and DecodeAuthorizationMessage."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_policy_arn, parse_role_arn, parse_saml_provider_arn
from broker.iam.errors import AwsError
from broker.iam.names import (
    constraint_violation,
    name_key,
    validate_duration_seconds,
    validate_int_range,
    validate_role_session_name,
    validate_source_identity,
    validate_tags,
    validation_error,
)
from broker.policy import MalformedPolicyDocument, PolicyKind, PolicyTooLarge, PolicyType, parse_policy
from broker.saml.acs import validate_response
from broker.saml.errors import SamlError
from broker.services.audit import Actor, record_event
from broker.services.auth import Caller, access_denied, caller_model, decide
from broker.services.credentials import (
    TemporaryCredentials,
    account_of_temporary_key,
    issue_role_credentials,
    issue_user_session_credentials,
)
from broker.services.federation import TOKEN_CONTEXT_KEYS, ClientInfo, FederationService, saml_session_context
from broker.services.iam import mfa
from broker.services.iam.access_keys import validate_access_key_id
from broker.services.runtime import Runtime
from broker.services.saml_session import (
    name_qualifier,
    role_pairs,
    saml_context,
    session_attributes,
    session_duration,
)
from broker.services.trust import SET_SOURCE_IDENTITY, TAG_SESSION, compiled_trust_policy, saml_trust_decision
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
            actor = replace(actor, session_context=saml_session_context(False, attributes.source_identity))
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


# --- STS for IAM principals: AssumeRole, GetSessionToken, GetAccessKeyInfo, decoding ------------

ASSUME_ROLE = "sts:AssumeRole"
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_SERIAL_NUMBER = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_TOKEN_CODE = re.compile(r"\d*")
_MFA_FAILED = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)
SESSION_TOKEN_DURATION_MIN = 900
SESSION_TOKEN_DURATION_MAX = 129_600
SESSION_TOKEN_DURATION_DEFAULT = 43_200


def _pattern(name: str, value: str, pattern: re.Pattern[str], text: str) -> None:
    if not pattern.fullmatch(value):
        raise validation_error([constraint_violation(value, name, f"must satisfy regular expression pattern: {text}")])


def verify_mfa(
    runtime: Runtime, session: Session, caller: Caller, serial_number: str | None, token_code: str | None
) -> int | None:
    """SerialNumber + TokenCode: the MFA authentication time (Unix seconds) if given, else None.

    Malformed parameters get the ValidationError of their constraints; a device that is not the
    calling user's, a wrong, replayed or throttled code get STS's AccessDenied.
    """
    if serial_number is None and token_code is None:
        return None
    if serial_number is not None:
        _length("serialNumber", serial_number, limits.MFA_SERIAL_NUMBER_MIN, limits.MFA_SERIAL_NUMBER_MAX)
        _pattern("serialNumber", serial_number, _SERIAL_NUMBER, r"[\w+=/:,.@-]*")
    if token_code is not None:
        _length("tokenCode", token_code, 6, 6)
        _pattern("tokenCode", token_code, _TOKEN_CODE, r"[\d]*")
    if serial_number is None or token_code is None:
        raise AwsError("AccessDenied", _MFA_FAILED)
    return mfa.verify_session_code(
        session, runtime.box, caller_model(session, caller), serial_number, token_code, runtime.now()
    )


def _session_policy(policy: str | None) -> str | None:
    if policy is None:
        return None
    _length("policy", policy, 1, limits.POLICY_DOCUMENT_MAX)
    try:
        parse_policy(policy, PolicyKind.SESSION, policy_id="SessionPolicy")
    except PolicyTooLarge as exc:
        raise AwsError("PackedPolicyTooLarge", f"Session policy is too large: {exc}") from None
    except MalformedPolicyDocument as exc:
        raise AwsError("MalformedPolicyDocument", str(exc)) from None
    return policy


def _policy_arns(policy_arns: list[str]) -> tuple[str, ...]:
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
    return tuple(policy_arns)


@dataclass(frozen=True)
class AssumeRoleResult:
    credentials: TemporaryCredentials
    packed_policy_size: int | None
    source_identity: str | None


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


def assume_role(
    runtime: Runtime,
    session: Session,
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
    role_arn = _length("roleArn", role_arn, limits.ARN_MIN, limits.ARN_MAX)
    session_name = validate_role_session_name(role_session_name)
    if duration_seconds is not None:
        validate_duration_seconds(duration_seconds)
    if external_id is not None:
        _length("externalId", external_id, 2, 1224)
        _pattern("externalId", external_id, _EXTERNAL_ID, r"[\w+=,.@:\/-]*")
    if source_identity is not None:
        validate_source_identity(source_identity)
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
    session_policy = _session_policy(policy)
    arns_given = _policy_arns(policy_arns)
    try:
        parse_role_arn(role_arn)
    except InvalidArn as exc:
        raise AwsError("ValidationError", f"RoleArn is not a valid role ARN: {exc}") from None
    mfa_time = verify_mfa(runtime, session, caller, serial_number, token_code)

    chained = caller.is_role_session
    inherited = _inherited_tags(caller)
    for key in new_tags:
        if _folded_get(inherited, key) is not None:
            raise AwsError(
                "InvalidParameterValue",
                f"The session tag {key} would override a transitive tag inherited from the calling session.",
            )
    inherited_source = caller.claims.source_identity if chained and caller.claims else None
    if inherited_source and source_identity and source_identity != inherited_source:
        raise AwsError(
            "InvalidParameterValue",
            "The source identity of a role chain cannot be changed once it is set "
            f"(the calling session's is {inherited_source}).",
        )
    effective_source = inherited_source or source_identity
    session_tags = {**inherited, **new_tags}
    if len(session_tags) > limits.SESSION_TAGS_MAX:
        raise AwsError("InvalidParameterValue", f"A session can carry at most {limits.SESSION_TAGS_MAX} session tags.")
    named = [found[0] for key in transitive_tag_keys if (found := _folded_get(new_tags, key)) is not None]
    transitive = tuple(dict.fromkeys([*inherited, *named]))

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

    role = repo.role_by_arn(session, role_arn)
    trust = None
    if role is not None:
        try:
            trust = compiled_trust_policy(role.trust_policy)
        except MalformedPolicyDocument:
            trust = None
    if role is None or trust is None:
        # AWS does not say whether the role exists: a missing role is refused like an untrusting one.
        raise AwsError(
            "AccessDenied", f"User: {caller.arn} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
        )
    checks = [ASSUME_ROLE]
    if session_tags:
        checks.append(TAG_SESSION)
    if effective_source:
        checks.append(SET_SOURCE_IDENTITY)
    for action in checks:
        decision = decide(
            session,
            caller,
            action,
            role.arn,
            full_context,
            resource_policies=(trust,),
            resource_account=role.account_id,
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

    if chained:
        if duration_seconds is not None and duration_seconds > limits.ROLE_CHAINING_MAX_DURATION:
            raise AwsError(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            )
        seconds = duration_seconds or limits.ROLE_CHAINING_MAX_DURATION
    else:
        if duration_seconds is not None and duration_seconds > role.max_session_duration:
            raise AwsError(
                "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        seconds = duration_seconds or limits.DURATION_SECONDS_DEFAULT

    packed = None
    if session_policy is not None or session_tags or arns_given:
        packed = packed_policy_percent(session_policy, session_tags, list(arns_given))
        if packed > 100:
            raise AwsError(
                "PackedPolicyTooLarge",
                f"Packed policy consumes {packed}% of allotted space, please use smaller policy.",
            )
    credentials = issue_role_credentials(
        runtime,
        role,
        session_name=session_name,
        duration_seconds=seconds,
        auth_type="assume-role",
        source_identity=effective_source,
        session_tags=session_tags,
        transitive_tag_keys=transitive,
        session_policy=session_policy,
        policy_arns=arns_given,
        mfa=mfa_time is not None,
        mfa_auth_time=mfa_time,
    )
    role.last_used_at = runtime.now()
    role.last_used_region = runtime.settings.region
    return AssumeRoleResult(credentials, packed, effective_source)


def _not_with_session_credentials(caller: Caller, action: str) -> None:
    if caller.claims is not None:
        raise AwsError("AccessDenied", f"Cannot call {action} with session credentials")


def get_session_token(
    runtime: Runtime,
    session: Session,
    caller: Caller,
    *,
    duration_seconds: int | None,
    serial_number: str | None,
    token_code: str | None,
) -> TemporaryCredentials:
    """Temporary credentials for an IAM user; no policy governs this call (AWS: it authenticates)."""
    if duration_seconds is not None:
        validate_int_range(duration_seconds, "durationSeconds", SESSION_TOKEN_DURATION_MIN, SESSION_TOKEN_DURATION_MAX)
    _not_with_session_credentials(caller, "GetSessionToken")
    user = caller_model(session, caller)
    if user is None:
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.")
    mfa_time = verify_mfa(runtime, session, caller, serial_number, token_code)
    return issue_user_session_credentials(
        runtime,
        user,
        duration_seconds=duration_seconds or SESSION_TOKEN_DURATION_DEFAULT,
        mfa=mfa_time is not None,
        mfa_auth_time=mfa_time,
    )


def restrict_session_token_calls(caller: Caller, action: str) -> None:
    """GetSessionToken credentials may call no STS API but AssumeRole and GetCallerIdentity."""
    if caller.is_session_token:
        raise AwsError("AccessDenied", f"Cannot call {action} with session credentials")


def access_key_account(session: Session, access_key_id: str | None) -> str:
    """GetAccessKeyInfo: the account of any key the broker issued."""
    key_id = validate_access_key_id(access_key_id)
    if key_id.startswith("AKIA"):
        key = repo.access_key(session, key_id)
        if key is not None:
            return key.user.account_id
    else:
        account = account_of_temporary_key(key_id)
        if account is not None:
            return account
    raise AwsError("InvalidParameterValue", f"The access key ID {key_id} was not issued by this broker.")


def decode_authorization_message(caller: Caller, encoded_message: str | None) -> str:
    message = _length("encodedMessage", encoded_message, 1, 10240)
    if caller.messages is None:
        raise AwsError("InvalidAuthorizationMessageException", "The authorization message is invalid.")
    return caller.messages.decode(message)
