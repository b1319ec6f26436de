"""Instance profiles: create, read, list, delete, the one role each may hold, and tags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from broker.iam import arn as arns
from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_instance_profile_id
from broker.iam.instance_profile import InstanceProfile
from broker.iam.names import name_key, validate_instance_profile_name, validate_path, validate_tags
from broker.services.iam._common import (
    QuotaOwner,
    check_quota,
    created_or_exists,
    merged_tags,
    validate_path_prefix,
    without_tags,
    written_or_conflict,
)
from broker.services.iam.paging import Entry
from broker.services.iam.roles import get_role
from broker.services.iam.views import role_view, tag_list
from broker.store import Tx
from broker.store.iam import instance_profiles as store


def instance_profile_view(profile: InstanceProfile, *, listing: bool = False) -> dict[str, Any]:
    """IAM's ``InstanceProfile``; the roles as ListRoles shows them. Listings leave out the tags, as AWS's do."""
    view: dict[str, Any] = {
        "Path": profile.path,
        "InstanceProfileName": profile.name,
        "InstanceProfileId": profile.instance_profile_id,
        "Arn": profile.arn,
        "CreateDate": profile.create_date,
        "Roles": [role_view(role, listing=True) for role in profile.roles],
    }
    if not listing:
        view["Tags"] = tag_list(profile.tags) or None
    return view


def find_instance_profile(tx: Tx, account_id: str, name: str) -> InstanceProfile | None:
    return store.find(tx, account_id, name_key(name))


def get_instance_profile(tx: Tx, account_id: str, name: str) -> InstanceProfile:
    validate_instance_profile_name(name)
    found = find_instance_profile(tx, account_id, name)
    if found is None:
        raise AwsError("NoSuchEntity", f"Instance Profile {name} cannot be found.")
    return found


def create_instance_profile(
    tx: Tx,
    account_id: str,
    *,
    name: str,
    path: str | None,
    tags: Sequence[tuple[str, str]],
    now: dt.datetime,
) -> InstanceProfile:
    validate_instance_profile_name(name)
    path = validate_path(path or "/")
    tag_map = validate_tags(list(tags))
    exists = f"Instance Profile {name} already exists."
    if find_instance_profile(tx, account_id, name) is not None:
        raise AwsError("EntityAlreadyExists", exists)
    check_quota(
        tx,
        QuotaOwner.account(account_id),
        lambda: store.count(tx, account_id),
        "InstanceProfilesPerAccount",
        limits.INSTANCE_PROFILES_PER_ACCOUNT,
    )
    profile = InstanceProfile(
        account_id=account_id,
        name=name,
        path=path,
        instance_profile_id=new_instance_profile_id(),
        arn=arns.instance_profile_arn(account_id, name, path),
        create_date=now,
        tags=tag_map,
    )
    return created_or_exists(profile if store.add(tx, profile) else None, exists)


def delete_instance_profile(tx: Tx, account_id: str, name: str) -> None:
    profile = get_instance_profile(tx, account_id, name)
    if profile.roles:
        raise AwsError("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
    # A role added meanwhile makes the database refuse (the link does not cascade from the role side).
    written_or_conflict(store.delete_profile(tx, profile.instance_profile_id))


def list_instance_profiles(tx: Tx, account_id: str, path_prefix: str | None) -> list[Entry[dict[str, Any]]]:
    found = store.listing(tx, account_id, validate_path_prefix(path_prefix))
    return [Entry(name_key(p.name), instance_profile_view(p, listing=True)) for p in found]


def profiles_by_role(tx: Tx, account_id: str) -> dict[str, list[dict[str, Any]]]:
    """Role id -> the profiles holding it (GetAccountAuthorizationDetails' InstanceProfileList)."""
    held: dict[str, list[dict[str, Any]]] = {}
    for profile in store.listing(tx, account_id, "/"):
        for role in profile.roles:
            held.setdefault(role.role_id, []).append(instance_profile_view(profile, listing=True))
    return held


def list_instance_profiles_for_role(tx: Tx, account_id: str, role_name: str) -> list[Entry[dict[str, Any]]]:
    role = get_role(tx, account_id, role_name)
    return [Entry(name_key(p.name), instance_profile_view(p, listing=True)) for p in store.for_role(tx, role.role_id)]


def add_role(tx: Tx, account_id: str, profile_name: str, role_name: str) -> None:
    profile = get_instance_profile(tx, account_id, profile_name)
    role = get_role(tx, account_id, role_name)
    check_quota(
        tx,
        QuotaOwner("InstanceProfile", profile.instance_profile_id, profile.name),
        lambda: store.count_roles(tx, profile.instance_profile_id),
        "InstanceSessionsPerInstanceProfile",  # AWS's name for this quota
        limits.ROLES_PER_INSTANCE_PROFILE,
    )
    written_or_conflict(store.add_role(tx, profile.instance_profile_id, role.role_id))


def remove_role(tx: Tx, account_id: str, profile_name: str, role_name: str) -> None:
    profile = get_instance_profile(tx, account_id, profile_name)
    role = get_role(tx, account_id, role_name)
    if not any(held.role_id == role.role_id for held in profile.roles):
        raise AwsError(
            "NoSuchEntity", f"The role with name {role_name} cannot be found in instance profile {profile_name}."
        )
    store.remove_role(tx, profile.instance_profile_id, role.role_id)


# --- tags -----------------------------------------------------------------------------------------


def tag(tx: Tx, account_id: str, name: str, tags: Sequence[tuple[str, str]]) -> None:
    profile = get_instance_profile(tx, account_id, name)
    store.set_tags(tx, profile.instance_profile_id, merged_tags(profile.tags, tags, "InstanceProfile"))


def untag(tx: Tx, account_id: str, name: str, keys: Sequence[str]) -> None:
    profile = get_instance_profile(tx, account_id, name)
    store.set_tags(tx, profile.instance_profile_id, without_tags(profile.tags, keys))


def tags_of(tx: Tx, account_id: str, name: str) -> list[Entry[dict[str, str]]]:
    tags = get_instance_profile(tx, account_id, name).tags
    return [Entry(f"{index:04d}", {"Key": key, "Value": value}) for index, (key, value) in enumerate(tags.items())]
