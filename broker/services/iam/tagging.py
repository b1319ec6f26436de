"""Tags of users, roles, managed policies, SAML providers and MFA devices: one implementation of
Tag, Untag and List...Tags for every taggable kind. A new taggable kind is one line in ``_TAGGABLE``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from broker.services.iam import mfa, policies, providers, roles, users
from broker.services.iam._common import merged_tags, without_tags
from broker.services.iam.paging import Entry
from broker.services.iam.resources import ResourceLabel
from broker.store import Tx
from broker.store.iam.attributes import TaggableKind, set_tags


class Tagged(Protocol):
    @property
    def tags(self) -> Mapping[str, str]: ...


_Find = Callable[[Tx, str, str], Tagged]


# Per kind: how a call that changes the tags finds the entity, how one that lists them does
# (an AWS-managed policy's tags can be read, not changed), and the handle the store names it by.
_TAGGABLE: dict[TaggableKind, tuple[_Find, _Find, Callable[[Any], str]]] = {
    "User": (users.get_user, users.get_user, lambda user: user.user_id),
    "Role": (roles.get_role, roles.get_role, lambda role: role.role_id),
    "Policy": (policies.modifiable_policy, policies.get_policy, lambda policy: policy.arn),
    "SAMLProvider": (providers.get_saml_provider, providers.get_saml_provider, lambda provider: provider.arn),
    "MFADevice": (mfa.device_in_account, mfa.device_in_account, lambda device: device.serial_number),
}


_KINDS: dict[str, TaggableKind] = {kind: kind for kind in _TAGGABLE}


def _retag(
    tx: Tx,
    label: ResourceLabel,
    account_id: str,
    identifier: str,
    change: Callable[[Mapping[str, str]], dict[str, str]],
) -> None:
    kind = _KINDS[label]
    find, _list, handle = _TAGGABLE[kind]
    entity = find(tx, account_id, identifier)
    set_tags(tx, kind, handle(entity), change(entity.tags))


def tag(tx: Tx, label: ResourceLabel, account_id: str, identifier: str, tags: Sequence[tuple[str, str]]) -> None:
    """Add or overwrite tags (keys compare case-insensitively), within the quota per entity."""
    _retag(tx, label, account_id, identifier, lambda existing: merged_tags(existing, tags, label))


def untag(tx: Tx, label: ResourceLabel, account_id: str, identifier: str, keys: Sequence[str]) -> None:
    _retag(tx, label, account_id, identifier, lambda existing: without_tags(existing, keys))


def tags_of(tx: Tx, label: ResourceLabel, account_id: str, identifier: str) -> list[Entry[dict[str, str]]]:
    """The entity's tags in the order they were set, as ListUserTags and friends page them."""
    tags = _TAGGABLE[_KINDS[label]][1](tx, account_id, identifier).tags or {}
    return [Entry(f"{index:04d}", {"Key": key, "Value": value}) for index, (key, value) in enumerate(tags.items())]
