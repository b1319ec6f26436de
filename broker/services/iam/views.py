"""The IAM API's data types (``User``, ``Role``, ``Policy``...) as dicts in AWS's element order.

The Query protocol renders a dict as nested elements and a list as ``<member>`` items; ``None``
values are left out, as AWS leaves out absent optional elements. Policy documents go out
URL-encoded, as IAM sends them (the SDKs decode them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from broker.iam import entities
from broker.store.iam.details import Owned


def tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]


def document_out(document: str) -> str:
    return quote(document, safe="")


def boundary_view(arn: str | None) -> dict[str, str] | None:
    if not arn:
        return None
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def _identity(label: str, entity: entities.User | entities.Group | entities.Role, unique_id: str) -> dict[str, Any]:
    """The elements every user, group and role structure starts with."""
    return {
        "Path": entity.path,
        f"{label}Name": entity.name,
        f"{label}Id": unique_id,
        "Arn": entity.arn,
        "CreateDate": entity.create_date,
    }


def _last_used(role: entities.Role) -> dict[str, Any]:
    if not role.last_used_date:
        return {}
    return {"LastUsedDate": role.last_used_date, "Region": role.last_used_region}


def _inline_list(policies: Iterable[entities.InlinePolicy]) -> list[dict[str, str]]:
    return [{"PolicyName": p.name, "PolicyDocument": document_out(p.document)} for p in policies]


def user_view(user: entities.User, *, listing: bool = False) -> dict[str, Any]:
    view = _identity("User", user, user.user_id)
    if not listing:
        # ListUsers leaves these out, as AWS documents.
        view["PermissionsBoundary"] = boundary_view(user.permissions_boundary_arn)
        view["Tags"] = tag_list(user.tags) or None
    return view


def group_view(group: entities.Group) -> dict[str, Any]:
    return _identity("Group", group, group.group_id)


def role_view(role: entities.Role, *, listing: bool = False, created: bool = False) -> dict[str, Any]:
    """``created``: as CreateRole's result, which AWS gives without MaxSessionDuration and RoleLastUsed."""
    view = _identity("Role", role, role.role_id)
    view["AssumeRolePolicyDocument"] = document_out(role.trust_policy)
    view["Description"] = role.description or None
    view["MaxSessionDuration"] = None if created else role.max_session_duration
    if listing:
        return view
    view["PermissionsBoundary"] = boundary_view(role.permissions_boundary_arn)
    view["Tags"] = tag_list(role.tags) or None
    if not created:
        view["RoleLastUsed"] = _last_used(role)
    return view


def _policy_identity(policy: entities.ManagedPolicy, attachments: int, boundaries: int) -> dict[str, Any]:
    return {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundaries,
        "IsAttachable": True,
    }


def policy_view(
    policy: entities.ManagedPolicy,
    attachments: int,
    boundaries: int,
    *,
    listing: bool = False,
    description: bool = True,
) -> dict[str, Any]:
    """``listing``: as ListPolicies shows it; ``description`` False: as CreatePolicy's result (without one)."""
    view = _policy_identity(policy, attachments, boundaries)
    if description and not listing:
        view["Description"] = policy.description or None
    view["CreateDate"] = policy.create_date
    view["UpdateDate"] = policy.update_date
    if not listing:
        view["Tags"] = tag_list(policy.tags) or None
    return view


def version_view(version: entities.PolicyVersion, *, document: bool = True) -> dict[str, Any]:
    return {
        "Document": document_out(version.document) if document else None,
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "CreateDate": version.create_date,
    }


def attached_view(policy: entities.ManagedPolicy) -> dict[str, str]:
    return {"PolicyName": policy.name, "PolicyArn": policy.arn}


def access_key_view(key: entities.AccessKey) -> dict[str, Any]:
    return {
        "UserName": key.user_name,
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": key.create_date,
    }


def saml_provider_view(provider: entities.SamlProvider) -> dict[str, Any]:
    """GetSAMLProvider's result."""
    return {
        "SAMLMetadataDocument": provider.metadata_xml,
        "CreateDate": provider.create_date,
        "ValidUntil": provider.valid_until,
        "Tags": tag_list(provider.tags) or None,
    }


def new_saml_provider_view(provider: entities.SamlProvider) -> dict[str, Any]:
    """CreateSAMLProvider's result."""
    return {"SAMLProviderArn": provider.arn, "Tags": tag_list(provider.tags) or None}


def virtual_mfa_device_view(device: entities.MfaDevice) -> dict[str, Any]:
    return {
        "SerialNumber": device.serial_number,
        "User": user_view(device.user, listing=True) if device.user is not None else None,
        "EnableDate": device.enable_date,
        "Tags": tag_list(device.tags) or None,
    }


# --- GetAccountAuthorizationDetails -----------------------------------------------------------


def user_detail(user: entities.User, owned: Owned) -> dict[str, Any]:
    return {
        **_identity("User", user, user.user_id),
        "UserPolicyList": _inline_list(owned.inline),
        "GroupList": [g.name for g in owned.groups],
        "AttachedManagedPolicies": [attached_view(p) for p in owned.attached],
        "PermissionsBoundary": boundary_view(user.permissions_boundary_arn),
        "Tags": tag_list(user.tags),
    }


def group_detail(group: entities.Group, owned: Owned) -> dict[str, Any]:
    return {
        **group_view(group),
        "GroupPolicyList": _inline_list(owned.inline),
        "AttachedManagedPolicies": [attached_view(p) for p in owned.attached],
    }


def role_detail(
    role: entities.Role, owned: Owned, instance_profiles: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """``instance_profiles``: the profiles holding the role, as InstanceProfile structures."""
    return {
        **_identity("Role", role, role.role_id),
        "AssumeRolePolicyDocument": document_out(role.trust_policy),
        "InstanceProfileList": list(instance_profiles),
        "RolePolicyList": _inline_list(owned.inline),
        "AttachedManagedPolicies": [attached_view(p) for p in owned.attached],
        "PermissionsBoundary": boundary_view(role.permissions_boundary_arn),
        "Tags": tag_list(role.tags),
        "RoleLastUsed": _last_used(role),
    }


def policy_detail(
    policy: entities.ManagedPolicy, versions: Iterable[entities.PolicyVersion], attachments: int, boundaries: int
) -> dict[str, Any]:
    return {
        **_policy_identity(policy, attachments, boundaries),
        "Description": policy.description or None,
        "CreateDate": policy.create_date,
        "UpdateDate": policy.update_date,
        "PolicyVersionList": [version_view(v) for v in versions],
    }
