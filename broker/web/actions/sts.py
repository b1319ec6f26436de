"""STS actions."""

from __future__ import annotations

from typing import Any

from flask import Response

from broker.iam.errors import AwsError
from broker.services import sts
from broker.services.federation import ClientInfo
from broker.web.protocol import Call, action, runtime, unsigned_action, xml_response
from broker.web.wire import STS_NS, Params, error_xml, success_xml


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
        "Credentials": {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token,
            "Expiration": credentials.expiration,
        },
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
