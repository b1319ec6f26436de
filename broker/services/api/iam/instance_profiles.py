"""IAM actions on instance profiles: lifecycle, the role each holds, tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.iam import arn as arns
from broker.iam.names import validate_instance_profile_name
from broker.services.api.call import Call
from broker.services.api.iam.support import (
    ROLE,
    authorize_on,
    list_resource,
    page,
    request_tags,
    required_members,
    required_tags,
    resource_tags,
)
from broker.services.api.registry import action
from broker.services.iam import instance_profiles as profiles


def _profile_arn(account_id: str, name: str, path: str | None) -> str:
    """The ARN an action on the profile is authorized on, even when the name or path is invalid."""
    try:
        return arns.instance_profile_arn(account_id, name, path or "/")
    except arns.InvalidArn:
        return f"arn:aws:iam::{account_id}:instance-profile{path or '/'}{name}"


def _name(call: Call) -> str:
    return validate_instance_profile_name(call.params.required("InstanceProfileName"))


def _authorized(call: Call, action_name: str, extra: Mapping[str, Any] | None = None) -> str:
    """The profile the action names, once the action on it (its tags as condition keys) is allowed."""
    name = _name(call)
    found = profiles.find_instance_profile(call.tx, call.account_id, name)
    if found is None:
        call.authorize(action_name, _profile_arn(call.account_id, name, "/"), extra)
    else:
        call.authorize(action_name, found.arn, {**resource_tags(found.tags), **(extra or {})})
    return name


@action("CreateInstanceProfile", "iam")
def create_instance_profile(call: Call) -> dict[str, Any]:
    name = _name(call)
    path = call.params.get("Path")
    tags = call.params.tags()
    call.authorize("iam:CreateInstanceProfile", _profile_arn(call.account_id, name, path), request_tags(tags))
    profile = profiles.create_instance_profile(
        call.tx, call.account_id, name=name, path=path, tags=tags, now=call.runtime.now()
    )
    return {"InstanceProfile": profiles.instance_profile_view(profile)}


@action("GetInstanceProfile", "iam", read_only=True)
def get_instance_profile(call: Call) -> dict[str, Any]:
    name = _authorized(call, "iam:GetInstanceProfile")
    return {
        "InstanceProfile": profiles.instance_profile_view(profiles.get_instance_profile(call.tx, call.account_id, name))
    }


@action("DeleteInstanceProfile", "iam")
def delete_instance_profile(call: Call) -> None:
    profiles.delete_instance_profile(call.tx, call.account_id, _authorized(call, "iam:DeleteInstanceProfile"))


@action("ListInstanceProfiles", "iam", read_only=True)
def list_instance_profiles(call: Call) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix")
    call.authorize("iam:ListInstanceProfiles", list_resource(call, "instance-profile", prefix))
    return page(call, profiles.list_instance_profiles(call.tx, call.account_id, prefix), "InstanceProfiles")


@action("ListInstanceProfilesForRole", "iam", read_only=True)
def list_instance_profiles_for_role(call: Call) -> dict[str, Any]:
    role_name = ROLE.authorized(call, "iam:ListInstanceProfilesForRole")
    found = profiles.list_instance_profiles_for_role(call.tx, call.account_id, role_name)
    return page(call, found, "InstanceProfiles")


@action("AddRoleToInstanceProfile", "iam")
def add_role_to_instance_profile(call: Call) -> None:
    role_name = ROLE.read(call.params)
    name = _authorized(call, "iam:AddRoleToInstanceProfile")
    # AWS also asks for iam:PassRole on the role: the profile hands it to whatever runs with it.
    authorize_on(call, "Role", "iam:PassRole", role_name)
    profiles.add_role(call.tx, call.account_id, name, role_name)


@action("RemoveRoleFromInstanceProfile", "iam")
def remove_role_from_instance_profile(call: Call) -> None:
    role_name = ROLE.read(call.params)
    name = _authorized(call, "iam:RemoveRoleFromInstanceProfile")
    profiles.remove_role(call.tx, call.account_id, name, role_name)


@action("TagInstanceProfile", "iam")
def tag_instance_profile(call: Call) -> None:
    tags = required_tags(call)
    name = _authorized(call, "iam:TagInstanceProfile", request_tags(tags))
    profiles.tag(call.tx, call.account_id, name, tags)


@action("UntagInstanceProfile", "iam")
def untag_instance_profile(call: Call) -> None:
    keys = required_members(call, "TagKeys")
    name = _authorized(call, "iam:UntagInstanceProfile", {"aws:TagKeys": keys})
    profiles.untag(call.tx, call.account_id, name, keys)


@action("ListInstanceProfileTags", "iam", read_only=True)
def list_instance_profile_tags(call: Call) -> dict[str, Any]:
    name = _authorized(call, "iam:ListInstanceProfileTags")
    return page(call, profiles.tags_of(call.tx, call.account_id, name), "Tags")
