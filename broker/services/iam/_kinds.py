"""What users, groups, roles and managed policies share: a name unique in the account (ignoring
case), a path, an ARN built from both, a unique id, and a quota per account."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from broker.iam import arn as arns
from broker.iam import limits
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
    check_deletable,
    check_quota,
    delete_or_conflict,
    insert_or_exists,
    save_or_exists,
)
from broker.store import Tx, models
from broker.store.iam import rows

Entity = TypeVar("Entity", models.User, models.Group, models.Role, models.ManagedPolicy)


@dataclass(frozen=True)
class EntityKind(Generic[Entity]):
    label: str  # as AWS's messages and quotas name the kind: "User"
    model: type[Entity]
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
        return rows.named(tx, self.model, account_id, name_key(name))

    def get(self, tx: Tx, account_id: str, name: str) -> Entity:
        found = self.find(tx, account_id, name)
        if found is None:
            raise AwsError("NoSuchEntity", f"The {self.label.lower()} with name {name} cannot be found.")
        return found

    def create(self, tx: Tx, account_id: str, name: str, path: str, **columns: Any) -> Entity:
        """A new entity (its name and path validated), unless the name is taken or the account is at its quota."""
        message = self.exists_message(name)
        if self.find(tx, account_id, name) is not None:
            raise AwsError("EntityAlreadyExists", message)
        check_quota(rows.count_in_account(tx, self.model, account_id), self.quota, self.limit)
        entity = self.model(
            account_id=account_id,
            name=name,
            name_key=name_key(name),
            path=path,
            arn=self.build_arn(account_id, name, path),
            **{self.id_column: new_unique_id(self.id_prefix)},
            **columns,
        )
        insert_or_exists(tx, entity, message)
        return entity

    def rename(self, tx: Tx, account_id: str, name: str, new_path: str | None, new_name: str | None) -> Entity:
        """UpdateUser, UpdateGroup: a new name, a new path, or both; the ARN follows."""
        entity = self.get(tx, account_id, name)
        path = self.validate_path(new_path) if new_path is not None else entity.path
        if new_name is not None:
            self.validate_name(new_name, f"new{self.label}Name")
            other = self.find(tx, account_id, new_name)
            if other is not None and other.id != entity.id:
                raise AwsError("EntityAlreadyExists", self.exists_message(new_name))
            entity.name = new_name
            entity.name_key = name_key(new_name)
        entity.path = path
        entity.arn = self.build_arn(account_id, entity.name, path)
        save_or_exists(tx, self.exists_message(entity.name))
        return entity

    def delete(
        self, tx: Tx, account_id: str, name: str, subordinates: Callable[[Entity], Sequence[tuple[object, str]]]
    ) -> None:
        """Delete the entity, unless it still has ``subordinates`` (see :func:`check_deletable`)."""
        entity = self.get(tx, account_id, name)
        check_deletable(subordinates(entity))
        delete_or_conflict(tx, entity)


USER = EntityKind(
    "User",
    models.User,
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
    models.Group,
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
    models.Role,
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
    models.ManagedPolicy,
    "policy_id",
    "ANPA",
    arns.policy_arn,
    validate_policy_name,
    validate_policy_path,
    "PoliciesPerAccount",
    limits.CUSTOMER_MANAGED_POLICIES_PER_ACCOUNT,
    exists="A policy called {name} already exists. Duplicate names are not allowed.",
)
