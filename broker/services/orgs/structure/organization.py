"""The organization itself: create, describe and delete it, and its root."""

from __future__ import annotations

import datetime as dt

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Organization, OrganizationDescription, Root
from broker.services.orgs import lookup
from broker.services.orgs.policies import enable_policy_type
from broker.store import Tx
from broker.store import orgs as store
from broker.store.iam import accounts as iam_accounts


def caller_organization(tx: Tx, account_id: str) -> Organization | None:
    """The organization the account belongs to, if any (authorization names its resources' ARNs)."""
    return lookup.joined(tx, account_id)


def organization_of(tx: Tx, account_id: str) -> Organization:
    """The organization the account belongs to, or AWS's "not in use" error."""
    return lookup.organization(tx, account_id)


def root_of(tx: Tx, organization: Organization) -> Root:
    return lookup.root(tx, organization.id).as_root()


def create_organization(tx: Tx, account_id: str, feature_set: object, now: dt.datetime) -> Organization:
    feature = orgs.enum(feature_set if feature_set is not None else "ALL", "FeatureSet", orgs.FEATURE_SETS)
    if store.membership(tx, account_id) is not None:
        raise AwsError("AlreadyInOrganizationException")
    iam_accounts.ensure_account(tx, account_id, now=now)
    organization = store.add_organization(tx, orgs.new_organization_id(), account_id, feature, now)
    root = store.add_node(tx, orgs.new_root_id(), organization.id, orgs.ROOT, "Root", None, {}, now)
    lookup.flush_or(tx, AwsError("AlreadyInOrganizationException"))
    lookup.join(tx, organization, account_id, root.id, {}, now)
    lookup.flush_or(tx, AwsError("AlreadyInOrganizationException"))
    if feature == "ALL":
        # As AWS does: an organization with all features starts with SCPs enabled in its root
        # (FullAWSAccess attached everywhere, so nothing is denied until a policy says so).
        enable_policy_type(tx, account_id, root.id, orgs.SERVICE_CONTROL_POLICY)
    return organization


def describe_organization(tx: Tx, account_id: str) -> OrganizationDescription:
    """Every member account may describe its organization, as in AWS."""
    organization = organization_of(tx, account_id)
    management = iam_accounts.get_account(tx, organization.management_account_id)
    email = management.email if management is not None else None
    return OrganizationDescription(organization, email or None)


def delete_organization(tx: Tx, account_id: str) -> None:
    organization = lookup.managed(tx, account_id, lock=True)
    if store.count_members(tx, organization.id, besides=account_id):
        raise AwsError("OrganizationNotEmptyException")
    store.remove_organization(tx, organization.id)


def list_roots(tx: Tx, account_id: str) -> tuple[Organization, list[Root]]:
    organization = lookup.managed(tx, account_id)
    return organization, [lookup.root(tx, organization.id).as_root()]
