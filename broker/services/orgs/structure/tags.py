"""Tags on a root, OU, member account or customer managed policy (TagResource, UntagResource, ListTagsForResource)."""

from __future__ import annotations

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Organization
from broker.services.orgs import lookup
from broker.store import Tx
from broker.store import orgs as store
from broker.store.orgs import Tagged


def _taggable(tx: Tx, account_id: str, resource_id: object, *, lock: bool = False) -> Tagged:
    """The root, OU, account or (customer managed) policy a tag call names."""
    organization = lookup.managed(tx, account_id, lock=lock)
    resource_id = orgs.identifier(orgs.given(resource_id, "ResourceId"), "ResourceId", orgs.TAGGABLE_ID)
    found = lookup.within(organization, store.tagged(tx, resource_id))
    if found is None:
        raise AwsError(
            "TargetNotFoundException", f"We can't find a root, OU, account or policy with the id {resource_id}."
        )
    return found


def tag_resource(tx: Tx, account_id: str, resource_id: object, tags: object) -> None:
    resource = _taggable(tx, account_id, resource_id, lock=True)
    new = orgs.tags(orgs.given(tags, "Tags"))
    merged = {**resource.tags, **new}
    if len(merged) > orgs.TAGS_MAX:
        raise AwsError(
            "ConstraintViolationException",
            f"A resource can have at most {orgs.TAGS_MAX} tags.",
            reason="MAX_TAG_LIMIT_EXCEEDED",
        )
    store.set_tags(tx, resource.id, merged)


def untag_resource(tx: Tx, account_id: str, resource_id: object, keys: object) -> None:
    resource = _taggable(tx, account_id, resource_id, lock=True)
    keys = orgs.given(keys, "TagKeys")
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise orgs.invalid_input("INVALID_SYNTAX", "TagKeys must be a list of strings.")
    store.set_tags(tx, resource.id, {key: value for key, value in resource.tags.items() if key not in set(keys)})


def resource_tags(tx: Tx, account_id: str, resource_id: object) -> list[tuple[str, str]]:
    return sorted(_taggable(tx, account_id, resource_id).tags.items())


def tags_of(tx: Tx, organization: Organization, resource_id: str) -> dict[str, str]:
    """The tags of a root, OU, account or policy of ``organization`` that a call is authorized on,
    for ``aws:ResourceTag/*``; none for an id it does not hold (or AWS's own FullAWSAccess)."""
    if not orgs.TAGGABLE_ID.fullmatch(resource_id):
        return {}
    found = lookup.within(organization, store.tagged(tx, resource_id))
    return found.tags if found is not None else {}
