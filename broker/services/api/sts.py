"""STS actions: AssumeRoleWithSAML (unsigned), and for IAM principals AssumeRole, GetSessionToken,
GetAccessKeyInfo, DecodeAuthorizationMessage and GetCallerIdentity."""

from __future__ import annotations

from typing import Any

from broker.iam.errors import AwsError
from broker.services import sts
from broker.services.api.call import Call, UnsignedCall
from broker.services.api.params import Params
from broker.services.api.registry import action, unsigned_action
from broker.services.credentials import TemporaryCredentials


def credentials_view(credentials: TemporaryCredentials) -> dict[str, Any]:
    return {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": credentials.expiration,
    }


def _assumed_role(credentials: TemporaryCredentials, packed_policy_size: int | None) -> dict[str, Any]:
    """What every AssumeRole* result starts with."""
    return {
        "Credentials": credentials_view(credentials),
        "AssumedRoleUser": {"AssumedRoleId": credentials.assumed_role_id, "Arn": credentials.assumed_role_arn},
        "PackedPolicySize": packed_policy_size,
    }


@unsigned_action("AssumeRoleWithSAML", "sts")
def assume_role_with_saml(call: UnsignedCall) -> dict[str, Any]:
    params = call.params
    result = sts.assume_role_with_saml(
        call.runtime,
        role_arn=params.get("RoleArn"),
        principal_arn=params.get("PrincipalArn"),
        saml_assertion=params.get("SAMLAssertion"),
        duration_seconds=params.integer("DurationSeconds"),
        policy=params.get("Policy"),
        policy_arns=policy_arns(params),
        client=call.client,
    )
    return {
        **_assumed_role(result.credentials, result.packed_policy_size),
        "Subject": result.subject,
        "SubjectType": result.subject_type,
        "Issuer": result.issuer,
        "Audience": result.audience,
        "NameQualifier": result.name_qualifier,
        "SourceIdentity": result.source_identity,
    }


def policy_arns(params: Params) -> list[str]:
    """The managed session policies, every one given: a policy read past would leave the
    session with more than its caller asked for (``PolicyArns.member.2`` alone, or after a gap,
    was once dropped without a word)."""
    params.refuse_strays("PolicyArns", "PolicyArns.member.N.arn")
    arns_given: list[str] = []
    for index, fields in params.entries("PolicyArns").items():
        if set(fields) != {"arn"}:
            raise AwsError("ValidationError", f"PolicyArns.member.{index} must have exactly one field, arn")
        arns_given.append(fields["arn"])
    return arns_given


@action("GetCallerIdentity", "sts", read_only=True)
def get_caller_identity(call: Call) -> dict[str, Any]:
    # AWS answers GetCallerIdentity for any valid credentials; no policy can deny it.
    return {"UserId": call.caller.user_id, "Account": call.caller.account_id, "Arn": call.caller.arn}


@action("AssumeRole", "sts")
def assume_role(call: Call) -> dict[str, Any]:
    role_arn = call.params.get("RoleArn")
    if role_arn:
        call.audit.touch(role_arn)
    context = call.context()
    result = sts.assume_role(
        call.runtime,
        call.tx,
        call.caller,
        role_arn=role_arn,
        role_session_name=call.params.get("RoleSessionName"),
        duration_seconds=call.params.integer("DurationSeconds"),
        external_id=call.params.get("ExternalId"),
        serial_number=call.params.get("SerialNumber"),
        token_code=call.params.get("TokenCode"),
        source_identity=call.params.get("SourceIdentity"),
        tags=call.params.tags(),
        transitive_tag_keys=call.params.members("TransitiveTagKeys"),
        policy=call.params.get("Policy"),
        policy_arns=policy_arns(call.params),
        context=context,
    )
    return {**_assumed_role(result.credentials, result.packed_policy_size), "SourceIdentity": result.source_identity}


@action("GetSessionToken", "sts")
def get_session_token(call: Call) -> dict[str, Any]:
    credentials = sts.get_session_token(
        call.runtime,
        call.tx,
        call.caller,
        duration_seconds=call.params.integer("DurationSeconds"),
        serial_number=call.params.get("SerialNumber"),
        token_code=call.params.get("TokenCode"),
    )
    return {"Credentials": credentials_view(credentials)}


def _authorize(call: Call, action_name: str) -> None:
    """An STS action on no resource: never with GetSessionToken credentials, and as the policy engine decides."""
    sts.restrict_session_token_calls(call.caller, action_name)
    call.authorize(f"sts:{action_name}", "*")


@action("GetAccessKeyInfo", "sts", read_only=True)
def get_access_key_info(call: Call) -> dict[str, Any]:
    key_id = call.params.get("AccessKeyId")
    _authorize(call, "GetAccessKeyInfo")
    return {"Account": sts.access_key_account(call.tx, key_id)}


@action("DecodeAuthorizationMessage", "sts", read_only=True)
def decode_authorization_message(call: Call) -> dict[str, Any]:
    message = call.params.get("EncodedMessage")
    _authorize(call, "DecodeAuthorizationMessage")
    return {"DecodedMessage": sts.decode_authorization_message(call.caller, message)}
