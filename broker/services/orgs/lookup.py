"""What an Organizations call names, found in the caller's organization or refused as AWS refuses it.

An account outside any organization gets ``AWSOrganizationsNotInUseException``; a member account
asking for what only the management account may do gets ``AccessDeniedException``; an id of
another organization is not found, exactly like an id that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, TypeVar

from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.org_entities import Membership, Node, Organization
from broker.services.orgs.context import scp_enabled
from broker.store import Tx
from broker.store import orgs as store

_NOT_MANAGEMENT = "You don't have permissions to access this resource. Only the organization's management account can."


def joined(tx: Tx, account_id: str) -> Organization | None:
    """The organization the account belongs to, if any."""
    member = store.membership(tx, account_id)
    return store.organization(tx, member.organization_id) if member is not None else None


def organization(tx: Tx, account_id: str) -> Organization:
    """The organization the account belongs to, or AWS's "not in use" error."""
    found = joined(tx, account_id)
    if found is None:
        raise AwsError("AWSOrganizationsNotInUseException")
    return found


def managed(tx: Tx, account_id: str, *, lock: bool = False) -> Organization:
    """The organization the account manages; member accounts are refused.

    ``lock`` holds the organization until the transaction ends, so the changes to one organization
    run one at a time: limits such as five SCPs per target, or at least one, hold under concurrent
    calls.
    """
    found = organization(tx, account_id)
    if found.management_account_id != account_id:
        raise AwsError("AccessDeniedException", _NOT_MANAGEMENT)
    if lock:
        locked = store.lock_organization(tx, found.id)
        assert locked is not None
        return locked
    return found


def flush_or(tx: Tx, error: AwsError) -> None:
    """Write the changes so far; a unique constraint hit by a concurrent call becomes ``error``."""
    if not store.flush_unique(tx):
        raise error


def root(tx: Tx, org_id: str) -> Node:
    found = store.root(tx, org_id)
    assert found is not None, "an organization always has its root"
    return found


def scps_enabled(tx: Tx, organization: Organization) -> bool:
    return scp_enabled(root(tx, organization.id))


def attach_default_scp(tx: Tx, organization: Organization, target_id: str) -> None:
    """New roots, OUs and accounts get FullAWSAccess while SCPs are enabled, as in AWS."""
    store.attach(tx, organization.id, orgs.FULL_AWS_ACCESS_ID, target_id)


def join(
    tx: Tx, organization: Organization, account_id: str, parent_id: str, tags: dict[str, str], now: dt.datetime
) -> None:
    """Make the account a member (the management account when it creates the organization)."""
    store.add_member(tx, organization.id, account_id, parent_id, "CREATED", tags, now)


class _Owned(Protocol):
    @property
    def organization_id(self) -> str | None: ...


Owned = TypeVar("Owned", bound=_Owned)


def within(organization: Organization, found: Owned | None) -> Owned | None:
    """``found`` if it belongs to ``organization``: another organization's id is not found."""
    return found if found is not None and found.organization_id == organization.id else None


def node(tx: Tx, organization: Organization, node_id: str) -> Node | None:
    return within(organization, store.node(tx, node_id))


def parent(tx: Tx, organization: Organization, parent_id: object) -> Node:
    parent_id = orgs.identifier(orgs.given(parent_id, "ParentId"), "ParentId", orgs.PARENT_ID)
    found = node(tx, organization, parent_id)
    if found is None:
        raise AwsError("ParentNotFoundException", f"We can't find a root or OU with the ParentId {parent_id}.")
    return found


def organizational_unit(tx: Tx, organization: Organization, ou_id: object) -> Node:
    ou_id = orgs.identifier(orgs.given(ou_id, "OrganizationalUnitId"), "OrganizationalUnitId", orgs.OU_ID)
    found = node(tx, organization, ou_id)
    if found is None or found.kind != orgs.ORGANIZATIONAL_UNIT:
        raise AwsError("OrganizationalUnitNotFoundException", f"We can't find an OU with the id {ou_id}.")
    return found


def member(tx: Tx, organization: Organization, account_id: object) -> Membership:
    account_id = orgs.identifier(orgs.given(account_id, "AccountId"), "AccountId", orgs.ACCOUNT_ID)
    found = within(organization, store.membership(tx, account_id))
    if found is None:
        raise AwsError(
            "AccountNotFoundException", f"We can't find an account with the id {account_id} in this organization."
        )
    return found
