"""The IAM API's data types (``User``, ``Role``, ``Policy``...) as dicts in AWS's element order.

The Query protocol renders a dict as nested elements and a list as ``<member>`` items; ``None``
values are left out, as AWS leaves out absent optional elements. Policy documents go out
URL-encoded, as IAM sends them (the SDKs decode them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from broker.services.iam._common import tag_list
from broker.store import models


def document_out(document: str) -> str:
    return quote(document, safe="")


def boundary_view(arn: str | None) -> dict[str, str] | None:
    if not arn:
        return None
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def user_view(user: models.User, *, listing: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
    }
    if not listing:
        # ListUsers leaves these out, as AWS documents.
        view["PermissionsBoundary"] = boundary_view(user.permissions_boundary_arn)
        view["Tags"] = tag_list(user.tags) or None
    return view


def group_view(group: models.Group) -> dict[str, Any]:
    return {
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.group_id,
        "Arn": group.arn,
        "CreateDate": group.created_at,
    }


def role_view(role: models.Role, *, listing: bool = False, last_used: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": document_out(role.trust_policy),
        "Description": role.description or None,
        "MaxSessionDuration": role.max_session_duration,
    }
    if listing:
        return view
    view["PermissionsBoundary"] = boundary_view(role.permissions_boundary_arn)
    view["Tags"] = tag_list(role.tags) or None
    if last_used:
        used: dict[str, Any] = {}
        if role.last_used_at:
            used = {"LastUsedDate": role.last_used_at, "Region": role.last_used_region}
        view["RoleLastUsed"] = used
    return view


def policy_view(
    policy: models.ManagedPolicy, attachments: int, boundaries: int, *, listing: bool = False
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": boundaries,
        "IsAttachable": True,
    }
    if not listing:
        view["Description"] = policy.description or None
    view["CreateDate"] = policy.created_at
    view["UpdateDate"] = policy.updated_at
    if not listing:
        view["Tags"] = tag_list(policy.tags) or None
    return view


def version_view(version: models.PolicyVersion, default_version_id: str, *, document: bool = True) -> dict[str, Any]:
    return {
        "Document": document_out(version.document) if document else None,
        "VersionId": version.version_id,
        "IsDefaultVersion": version.version_id == default_version_id,
        "CreateDate": version.created_at,
    }


def attached_view(policy: models.ManagedPolicy) -> dict[str, str]:
    return {"PolicyName": policy.name, "PolicyArn": policy.arn}


def access_key_view(key: models.AccessKey) -> dict[str, Any]:
    return {
        "UserName": key.user.name,
        "AccessKeyId": key.access_key_id,
        "Status": key.status,
        "CreateDate": key.created_at,
    }


def inline_detail(name: str, document: str) -> dict[str, str]:
    return {"PolicyName": name, "PolicyDocument": document_out(document)}
