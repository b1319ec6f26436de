"""Tags of users, roles, managed policies, SAML providers and MFA devices: one implementation of
Tag, Untag and List...Tags for every taggable kind. A new taggable kind is one line in ``_TAGGABLE``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from broker.services.iam import mfa, policies, providers, roles, users
from broker.services.iam._common import merged_tags, without_tags
from broker.services.iam.paging import Entry
from broker.services.iam.resources import ResourceLabel
from broker.store import Tx, models

Tagged = models.User | models.Role | models.ManagedPolicy | models.SamlProvider | models.MfaDevice
_Find = Callable[[Tx, str, str], Tagged]

# Per kind: how a call that changes the tags finds the entity, and how one that lists them does
# (an AWS-managed policy's tags can be read, not changed).
_TAGGABLE: dict[str, tuple[_Find, _Find]] = {
    "User": (users.get_user, users.get_user),
    "Role": (roles.get_role, roles.get_role),
    "Policy": (policies.modifiable_policy, policies.get_policy),
    "SAMLProvider": (providers.get_saml_provider, providers.get_saml_provider),
    "MFADevice": (mfa.device_in_account, mfa.device_in_account),
}


def tag(tx: Tx, label: ResourceLabel, account_id: str, identifier: str, tags: Sequence[tuple[str, str]]) -> None:
    """Add or overwrite tags (keys compare case-insensitively), within the quota per entity."""
    entity = _TAGGABLE[label][0](tx, account_id, identifier)
    entity.tags = merged_tags(entity.tags, tags, label)


def untag(tx: Tx, label: ResourceLabel, account_id: str, identifier: str, keys: Sequence[str]) -> None:
    entity = _TAGGABLE[label][0](tx, account_id, identifier)
    entity.tags = without_tags(entity.tags, keys)


def tags_of(tx: Tx, label: ResourceLabel, account_id: str, identifier: str) -> list[Entry[dict[str, str]]]:
    """The entity's tags in the order they were set, as ListUserTags and friends page them."""
    tags = _TAGGABLE[label][1](tx, account_id, identifier).tags or {}
    return [Entry(f"{index:04d}", {"Key": key, "Value": value}) for index, (key, value) in enumerate(tags.items())]
