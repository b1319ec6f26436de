"""IAM actions: SAML providers and roles."""

from __future__ import annotations

from typing import Any

from broker.iam import arn as arns
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.services import iam_admin
from broker.store import repositories as repo
from broker.web.protocol import Call, action

# --- IAM: SAML providers -------------------------------------------------------------------------


@action("CreateSAMLProvider", "iam")
def create_saml_provider(call: Call) -> dict[str, Any]:
    name = call.params.required("Name")
    call.authorize("iam:CreateSAMLProvider", arns.saml_provider_arn(call.account_id, name))
    provider = iam_admin.create_saml_provider(
        call.session,
        call.account_id,
        name,
        call.params.required("SAMLMetadataDocument"),
        call.params.tags(),
        call.runtime.now(),
    )
    result: dict[str, Any] = {"SAMLProviderArn": provider.arn}
    if provider.tags:
        result["Tags"] = [{"Key": k, "Value": v} for k, v in provider.tags.items()]
    return result


@action("GetSAMLProvider", "iam", read_only=True)
def get_saml_provider(call: Call) -> dict[str, Any]:
    provider_arn = call.params.required("SAMLProviderArn")
    call.authorize("iam:GetSAMLProvider", provider_arn)
    provider = iam_admin.get_saml_provider(call.session, call.account_id, provider_arn)
    return {
        "SAMLMetadataDocument": provider.metadata_xml,
        "CreateDate": provider.created_at,
        "ValidUntil": provider.valid_until,
        "Tags": [{"Key": k, "Value": v} for k, v in provider.tags.items()] if provider.tags else None,
    }


@action("ListSAMLProviders", "iam", read_only=True)
def list_saml_providers(call: Call) -> dict[str, Any]:
    call.authorize("iam:ListSAMLProviders", "*")
    providers = repo.list_providers(call.session, call.account_id)
    return {
        "SAMLProviderList": [{"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.created_at} for p in providers]
    }


# --- IAM: roles ----------------------------------------------------------------------------------


@action("CreateRole", "iam")
def create_role(call: Call) -> dict[str, Any]:
    name = call.params.required("RoleName")
    path = call.params.get("Path") or "/"
    try:
        resource = arns.role_arn(call.account_id, name, path)
    except (arns.InvalidArn, AwsError):
        resource = f"arn:aws:iam::{call.account_id}:role/{name}"
    call.authorize("iam:CreateRole", resource)
    role = iam_admin.create_role(
        call.session,
        call.account_id,
        name=name,
        trust_policy=call.params.required("AssumeRolePolicyDocument"),
        path=path,
        description=call.params.get("Description"),
        max_session_duration=call.params.integer("MaxSessionDuration"),
        permissions_boundary=call.params.get("PermissionsBoundary"),
        tags=call.params.tags(),
        now=call.runtime.now(),
    )
    view = iam_admin.role_view(role)
    view.pop("RoleLastUsed", None)
    return {"Role": view}


def _role_resource(call: Call, name: str) -> str:
    role = repo.role_by_name(call.session, call.account_id, name_key(name))
    return role.arn if role is not None else f"arn:aws:iam::{call.account_id}:role/{name}"


@action("GetRole", "iam", read_only=True)
def get_role(call: Call) -> dict[str, Any]:
    name = call.params.required("RoleName")
    call.authorize("iam:GetRole", _role_resource(call, name))
    return {"Role": iam_admin.role_view(iam_admin.get_role(call.session, call.account_id, name))}


@action("UpdateAssumeRolePolicy", "iam")
def update_assume_role_policy(call: Call) -> None:
    name = call.params.required("RoleName")
    call.authorize("iam:UpdateAssumeRolePolicy", _role_resource(call, name))
    iam_admin.update_assume_role_policy(call.session, call.account_id, name, call.params.required("PolicyDocument"))
    return None


@action("PutRolePolicy", "iam")
def put_role_policy(call: Call) -> None:
    name = call.params.required("RoleName")
    call.authorize("iam:PutRolePolicy", _role_resource(call, name))
    iam_admin.put_role_policy(
        call.session, call.account_id, name, call.params.required("PolicyName"), call.params.required("PolicyDocument")
    )
    return None
