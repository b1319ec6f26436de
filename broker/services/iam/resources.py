"""The entity an IAM action names, as authorization sees it: the ARN the action is authorized on,
and the entity's tags and permissions boundary (condition keys), whether it exists or not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from broker.iam import arn as arns
from broker.iam.entities import Group, MfaDevice, Role, SamlProvider, User
from broker.iam.errors import AwsError
from broker.services.iam._kinds import GROUP, ROLE, USER, EntityKind
from broker.services.iam.policies import find_policy
from broker.store import Tx
from broker.store.iam import credentials
from broker.store.iam import providers as provider_store

# The kinds of entity an action names, as AWS spells them in action names (TagUser, TagMFADevice...).
ResourceLabel = Literal["User", "Group", "Role", "Policy", "SAMLProvider", "MFADevice"]


T = TypeVar("T")
# A use case on the entity an action names: (transaction, account, identifier) -> its result.
EntityUseCase = Callable[[Tx, str, str], T]


@dataclass(frozen=True)
class Resource:
    arn: str
    tags: Mapping[str, str] = field(default_factory=dict)
    permissions_boundary: str | None = None
    path: str = "/"


_ARNS: dict[str, Callable[[str, str, str], str]] = {
    "user": arns.user_arn,
    "group": arns.group_arn,
    "role": arns.role_arn,
    "policy": arns.policy_arn,
    "mfa": arns.mfa_arn,
    "saml-provider": lambda account_id, name, _path: arns.saml_provider_arn(account_id, name),
}


def resource_arn(resource_type: str, account_id: str, name: str, path: str | None = "/") -> str:
    """The ARN an action on ``resource_type/NAME`` is authorized on, even when the name or path is invalid."""
    try:
        return _ARNS[resource_type](account_id, name, path or "/")
    except (arns.InvalidArn, AwsError):
        return f"arn:aws:iam::{account_id}:{resource_type}{path or '/'}{name}"


def _principal(
    kind: EntityKind[User] | EntityKind[Group] | EntityKind[Role],
    tx: Tx,
    account_id: str,
    name: str,
) -> Resource:
    entity = kind.find(tx, account_id, name)
    if entity is None:
        return Resource(resource_arn(kind.label.lower(), account_id, name))
    if isinstance(entity, Group):
        return Resource(entity.arn, path=entity.path)  # groups have neither tags nor a boundary
    return Resource(entity.arn, dict(entity.tags), entity.permissions_boundary_arn, entity.path)


def _policy(tx: Tx, account_id: str, policy_arn: str) -> Resource:
    policy = find_policy(tx, account_id, policy_arn)
    return Resource(policy_arn, dict(policy.tags or {}) if policy is not None else {})


def _in_account(arn: str, entity: SamlProvider | MfaDevice | None, account_id: str) -> Resource:
    if entity is None or entity.account_id != account_id:
        return Resource(arn)  # another account's entity is not the caller's to see: no condition keys from it
    return Resource(arn, dict(entity.tags or {}))


_FINDERS: dict[str, Callable[[Tx, str, str], Resource]] = {
    "User": lambda tx, account_id, name: _principal(USER, tx, account_id, name),
    "Group": lambda tx, account_id, name: _principal(GROUP, tx, account_id, name),
    "Role": lambda tx, account_id, name: _principal(ROLE, tx, account_id, name),
    "Policy": _policy,
    "SAMLProvider": lambda tx, account_id, arn: _in_account(arn, provider_store.saml_provider(tx, arn), account_id),
    "MFADevice": lambda tx, account_id, serial: _in_account(
        serial, credentials.mfa_device_value(tx, serial), account_id
    ),
}


def resource(tx: Tx, label: ResourceLabel, account_id: str, identifier: str) -> Resource:
    """The ``label`` entity ``identifier`` (a name, an ARN, a serial number) names in the account."""
    return _FINDERS[label](tx, account_id, identifier)
