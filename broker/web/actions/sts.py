"""STS actions: AssumeRoleWithSAML (unsigned), and for IAM principals AssumeRole, GetSessionToken,
GetAccessKeyInfo, DecodeAuthorizationMessage and GetCallerIdentity."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from broker.iam.errors import AwsError
from broker.services import sts
from broker.services.auth import request_context
from broker.services.credentials import TemporaryCredentials
from broker.services.federation import ClientInfo
from broker.web.protocol import Call, action, runtime, unsigned_action, xml_response
from broker.web.wire import STS_NS, Params, error_xml, success_xml


def _credentials(credentials: TemporaryCredentials) -> dict[str, Any]:
    return {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "SessionToken": credentials.session_token,
        "Expiration": credentials.expiration,
    }


@unsigned_action("AssumeRoleWithSAML", "sts")
def assume_role_with_saml(params: Params, client: ClientInfo) -> Response:
    try:
        result = sts.assume_role_with_saml(
            runtime(),
            role_arn=params.get("RoleArn"),
            principal_arn=params.get("PrincipalArn"),
            saml_assertion=params.get("SAMLAssertion"),
            duration_seconds=params.integer("DurationSeconds"),
            policy=params.get("Policy"),
            policy_arns=_policy_arns(params),
            client=client,
        )
    except AwsError as exc:
        return xml_response(error_xml(exc, STS_NS, client.request_id), exc.status)
    credentials = result.credentials
    body: dict[str, Any] = {
        "Credentials": _credentials(credentials),
        "AssumedRoleUser": {"AssumedRoleId": credentials.assumed_role_id, "Arn": credentials.assumed_role_arn},
        "PackedPolicySize": result.packed_policy_size,
        "Subject": result.subject,
        "SubjectType": result.subject_type,
        "Issuer": result.issuer,
        "Audience": result.audience,
        "NameQualifier": result.name_qualifier,
        "SourceIdentity": result.source_identity,
    }
    return xml_response(success_xml("AssumeRoleWithSAML", STS_NS, body, client.request_id))


def _policy_arns(params: Params) -> list[str]:
    arns_given: list[str] = []
    index = 1
    while (value := params.get(f"PolicyArns.member.{index}.arn")) is not None:
        arns_given.append(value)
        index += 1
    return arns_given


@action("GetCallerIdentity", "sts", read_only=True)
def get_caller_identity(call: Call) -> dict[str, Any]:
    # AWS answers GetCallerIdentity for any valid credentials; no policy can deny it.
    return {"UserId": call.caller.user_id, "Account": call.caller.account_id, "Arn": call.caller.arn}


@action("AssumeRole", "sts")
def assume_role(call: Call) -> dict[str, Any]:
    role_arn = call.params.get("RoleArn")
    if role_arn:
        call.resources.append({"ARN": role_arn})
    context = request_context(call.caller, call.client.source_ip, call.runtime.now(), request.is_secure, call.session)
    result = sts.assume_role(
        call.runtime,
        call.session,
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
        policy_arns=_policy_arns(call.params),
        context=context,
    )
    credentials = result.credentials
    return {
        "Credentials": _credentials(credentials),
        "AssumedRoleUser": {"AssumedRoleId": credentials.assumed_role_id, "Arn": credentials.assumed_role_arn},
        "PackedPolicySize": result.packed_policy_size,
        "SourceIdentity": result.source_identity,
    }


@action("GetSessionToken", "sts")
def get_session_token(call: Call) -> dict[str, Any]:
    credentials = sts.get_session_token(
        call.runtime,
        call.session,
        call.caller,
        duration_seconds=call.params.integer("DurationSeconds"),
        serial_number=call.params.get("SerialNumber"),
        token_code=call.params.get("TokenCode"),
    )
    return {"Credentials": _credentials(credentials)}


@action("GetAccessKeyInfo", "sts", read_only=True)
def get_access_key_info(call: Call) -> dict[str, Any]:
    key_id = call.params.get("AccessKeyId")
    sts.restrict_session_token_calls(call.caller, "GetAccessKeyInfo")
    call.authorize("sts:GetAccessKeyInfo", "*")
    return {"Account": sts.access_key_account(call.session, key_id)}


@action("DecodeAuthorizationMessage", "sts", read_only=True)
def decode_authorization_message(call: Call) -> dict[str, Any]:
    message = call.params.get("EncodedMessage")
    sts.restrict_session_token_calls(call.caller, "DecodeAuthorizationMessage")
    call.authorize("sts:DecodeAuthorizationMessage", "*")
    return {"DecodedMessage": sts.decode_authorization_message(call.caller, message)}
