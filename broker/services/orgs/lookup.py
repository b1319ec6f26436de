"""What an Organizations call names, found in the caller's organization or refused as AWS refuses it.

An account outside any organization gets ``AWSOrganizationsNotInUseException``; a member account
asking for what only the management account may do gets ``AccessDeniedException``; an id of
another organization is not found, exactly like an id that does not exist.
"""

from __future__ import annotations

import datetime as dt

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.services.orgs.context import scp_enabled
from broker.store import Tx, models
from broker.store import orgs as store

_NOT_MANAGEMENT = "You don't have permissions to access this resource. Only the organization's management account can."


def joined(tx: Tx, account_id: str) -> models.Organization | None:
    """The organization the account belongs to, if any."""
    member = store.membership(tx, account_id)
    return store.organization(tx, member.organization_id) if member is not None else None


def organization(tx: Tx, account_id: str) -> models.Organization:
    """The organization the account belongs to, or AWS's "not in use" error."""
    found = joined(tx, account_id)
    if found is None:
        raise AwsError("AWSOrganizationsNotInUseException")
    return found


def managed(tx: Tx, account_id: str, *, lock: bool = False) -> models.Organization:
    """The organization the account manages; member accounts are refused.

    ``lock`` holds the organization until the transaction ends, so the changes to one organization
    run one at a time: limits such as five SCPs per target, or at least one, hold under concurrent
    calls.
    """
    found = organization(tx, account_id)
    if found.management_account_id != account_id:
        raise AwsError("AccessDeniedException", _NOT_MANAGEMENT)
    if lock:
        locked = store.organization(tx, found.id, lock=True)
        assert locked is not None
        return locked
    return found


def flush_or(tx: Tx, error: AwsError) -> None:
    """Write the changes so far; a unique constraint hit by a concurrent call becomes ``error``."""
    if not store.flush_unique(tx):
        raise error


def root(tx: Tx, org_id: str) -> models.OrganizationNode:
    found = store.root(tx, org_id)
    assert found is not None, "an organization always has its root"
    return found


def scps_enabled(tx: Tx, organization: models.Organization) -> bool:
    return scp_enabled(root(tx, organization.id))


def attach_default_scp(tx: Tx, organization: models.Organization, target_id: str) -> None:
    """New roots, OUs and accounts get FullAWSAccess while SCPs are enabled, as in AWS."""
    store.attach(tx, organization.id, orgs.FULL_AWS_ACCESS_ID, target_id)


def join(
    tx: Tx, organization: models.Organization, account_id: str, parent_id: str, tags: dict[str, str], now: dt.datetime
) -> None:
    """Make the account a member (the management account when it creates the organization)."""
    store.add_member(tx, organization.id, account_id, parent_id, "CREATED", tags, now)


def node(tx: Tx, organization: models.Organization, node_id: str) -> models.OrganizationNode | None:
    found = store.node(tx, node_id)
    return found if found is not None and found.organization_id == organization.id else None


def parent(tx: Tx, organization: models.Organization, parent_id: object) -> models.OrganizationNode:
    parent_id = orgs.identifier(orgs.given(parent_id, "ParentId"), "ParentId", orgs.PARENT_ID)
    found = node(tx, organization, parent_id)
    if found is None:
        raise AwsError("ParentNotFoundException", f"We can't find a root or OU with the ParentId {parent_id}.")
    return found


def organizational_unit(tx: Tx, organization: models.Organization, ou_id: object) -> models.OrganizationNode:
    ou_id = orgs.identifier(orgs.given(ou_id, "OrganizationalUnitId"), "OrganizationalUnitId", orgs.OU_ID)
    found = node(tx, organization, ou_id)
    if found is None or found.kind != orgs.ORGANIZATIONAL_UNIT:
        raise AwsError("OrganizationalUnitNotFoundException", f"We can't find an OU with the id {ou_id}.")
    return found


def member(tx: Tx, organization: models.Organization, account_id: object) -> models.OrganizationAccount:
    account_id = orgs.identifier(orgs.given(account_id, "AccountId"), "AccountId", orgs.ACCOUNT_ID)
    found = store.membership(tx, account_id)
    if found is None or found.organization_id != organization.id:
        raise AwsError(
            "AccountNotFoundException", f"We can't find an account with the id {account_id} in this organization."
        )
    return found
