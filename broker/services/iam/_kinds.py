"""What users, groups, roles and managed policies share: a name unique in the account (ignoring
case), a path, an ARN built from both, a unique id, and a quota per account."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from broker.iam import arn as arns
from broker.iam import entities, limits
from broker.iam.errors import AwsError
from broker.iam.ids import UniqueIdPrefix, new_unique_id
from broker.iam.names import (
    name_key,
    validate_group_name,
    validate_path,
    validate_policy_name,
    validate_policy_path,
    validate_role_name,
    validate_user_name,
)
from broker.services.iam._common import (
    QuotaOwner,
    check_deletable,
    check_quota,
    created_or_exists,
    hold_quota_owner,
    written_or_conflict,
)
from broker.store import Tx
from broker.store.iam.named import GROUPS, POLICIES, ROLES, USERS, Dependents, NamedTable
from broker.store.iam.quota_owners import QuotaOwnerKind

# The kinds other entities are added under (keys, memberships, policies), locked before a delete.
_OWNER_KINDS: Mapping[str, QuotaOwnerKind] = {"User": "User", "Group": "Group", "Role": "Role"}

Entity = TypeVar("Entity", entities.User, entities.Group, entities.Role, entities.ManagedPolicy)


def unique_id(entity: entities.User | entities.Group | entities.Role | entities.ManagedPolicy) -> str:
    """The id AWS gives the entity (``AIDA...``, ``AGPA...``, ``AROA...``, ``ANPA...``): the store's handle."""
    if isinstance(entity, entities.User):
        return entity.user_id
    if isinstance(entity, entities.Group):
        return entity.group_id
    if isinstance(entity, entities.Role):
        return entity.role_id
    return entity.policy_id


@dataclass(frozen=True)
class EntityKind(Generic[Entity]):
    label: str  # as AWS's messages and quotas name the kind: "User"
    table: NamedTable[Any, Entity]
    id_column: str
    id_prefix: UniqueIdPrefix
    build_arn: Callable[[str, str, str], str]
    validate_name: Callable[[str | None, str], str]
    validate_path: Callable[[str | None], str]
    quota: str
    limit: int
    exists: str = "{label} with name {name} already exists."

    def validated(self, name: str, path: str | None) -> str:
        """Check a new entity's name; return its path, validated ("/" when omitted)."""
        self.validate_name(name, f"{self.label[:1].lower()}{self.label[1:]}Name")
        return self.validate_path(path or "/")

    def exists_message(self, name: str) -> str:
        return self.exists.format(label=self.label, name=name)

    def find(self, tx: Tx, account_id: str, name: str) -> Entity | None:
        return self.table.find(tx, account_id, name_key(name))

    def get(self, tx: Tx, account_id: str, name: str) -> Entity:
        found = self.find(tx, account_id, name)
        if found is None:
            raise AwsError("NoSuchEntity", f"The {self.label.lower()} with name {name} cannot be found.")
        return found

    def create(
        self,
        tx: Tx,
        account_id: str,
        name: str,
        path: str,
        add: Callable[[Tx, Mapping[str, Any]], Entity | None] | None = None,
        **fields: Any,
    ) -> Entity:
        """A new entity (its name and path validated), unless the name is taken or the account is at its quota.

        ``fields`` are the entity's other fields; ``add`` writes it (the kind's table by default)."""
        message = self.exists_message(name)
        if self.find(tx, account_id, name) is not None:
            raise AwsError("EntityAlreadyExists", message)
        check_quota(
            tx, QuotaOwner.account(account_id), lambda: self.table.count(tx, account_id), self.quota, self.limit
        )
        identity = {
            "account_id": account_id,
            "name": name,
            "path": path,
            "arn": self.build_arn(account_id, name, path),
            self.id_column: new_unique_id(self.id_prefix),
        }
        return created_or_exists((add or self.table.add)(tx, {**identity, **fields}), message)

    def rename(self, tx: Tx, account_id: str, name: str, new_path: str | None, new_name: str | None) -> Entity:
        """UpdateUser, UpdateGroup: a new name, a new path, or both; the ARN follows."""
        entity = self.get(tx, account_id, name)
        handle = unique_id(entity)
        path = self.validate_path(new_path) if new_path is not None else entity.path
        if new_name is not None:
            self.validate_name(new_name, f"new{self.label}Name")
            other = self.find(tx, account_id, new_name)
            if other is not None and unique_id(other) != handle:
                raise AwsError("EntityAlreadyExists", self.exists_message(new_name))
        final_name = new_name if new_name is not None else entity.name
        arn = self.build_arn(account_id, final_name, path)
        renamed = self.table.rename(tx, handle, name=final_name, name_key=name_key(final_name), path=path, arn=arn)
        written_or_conflict(renamed, "EntityAlreadyExists", self.exists_message(final_name))
        return dataclasses.replace(entity, name=final_name, path=path, arn=arn)

    def delete(self, tx: Tx, account_id: str, name: str, dependents: Callable[[Tx, str], Dependents]) -> None:
        """Delete the entity, unless it still has subordinate entities (``dependents`` by its unique id).

        A user, group or role is locked first, as a quota check locks it before adding under it: a
        key or policy added meanwhile is then either seen by the check (DeleteConflict) or added
        after the deletion (NoSuchEntity), never deleted with the entity unseen."""
        entity = self.get(tx, account_id, name)
        owner_kind = _OWNER_KINDS.get(self.label)
        if owner_kind is not None:
            hold_quota_owner(tx, QuotaOwner(owner_kind, unique_id(entity), entity.name))
        check_deletable(dependents(tx, unique_id(entity)))
        written_or_conflict(self.table.delete(tx, unique_id(entity)))


USER = EntityKind(
    "User",
    USERS,
    "user_id",
    "AIDA",
    arns.user_arn,
    validate_user_name,
    validate_path,
    "UsersPerAccount",
    limits.USERS_PER_ACCOUNT,
)
GROUP = EntityKind(
    "Group",
    GROUPS,
    "group_id",
    "AGPA",
    arns.group_arn,
    validate_group_name,
    validate_path,
    "GroupsPerAccount",
    limits.GROUPS_PER_ACCOUNT,
)
ROLE = EntityKind(
    "Role",
    ROLES,
    "role_id",
    "AROA",
    arns.role_arn,
    validate_role_name,
    validate_path,
    "RolesPerAccount",
    limits.ROLES_PER_ACCOUNT,
)
POLICY = EntityKind(
    "Policy",
    POLICIES,
    "policy_id",
    "ANPA",
    arns.policy_arn,
    validate_policy_name,
    validate_policy_path,
    "PoliciesPerAccount",
    limits.CUSTOMER_MANAGED_POLICIES_PER_ACCOUNT,
    exists="A policy called {name} already exists. Duplicate names are not allowed.",
)
