"""What an account's organization adds to a decision: SCP levels and the org condition keys.

AWS's rules: a member account's principals are bound by the service control policies of every
level from the root down to the account (each level must allow); the management account is not;
SCPs apply only while the SERVICE_CONTROL_POLICY type is enabled on the root. ``aws:PrincipalOrgID``
and ``aws:PrincipalOrgPaths`` describe the caller's account, ``aws:ResourceOrgID`` the account
owning the resource.

Reads, once per principal per request: one row joining the membership, the organization, the
parent node (its ``path`` holds the whole chain) and the root (the only read for an account
outside any organization or while SCPs are off), then the attachments joined with their policies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from broker.iam import orgs
from broker.iam.arn import Arn, InvalidArn
from broker.iam.org_entities import Node, policy_arn
from broker.policy import Policy, PolicyKind
from broker.services.policy_cache import compile_stored, grants_nothing
from broker.store import Tx
from broker.store import orgs as store

log = logging.getLogger("broker.orgs")


@dataclass(frozen=True)
class OrgContext:
    """An account's place in an organization, as decisions need it."""

    org_id: str | None = None
    path: str | None = None  # "o-…/r-…/ou-…/" : aws:PrincipalOrgPaths of the account's principals
    # One tuple of SCPs per level, root first and the account last; None when SCPs do not
    # apply (no organization, the management account, or the SCP type not enabled).
    scp_levels: tuple[tuple[Policy, ...], ...] | None = None

    def principal_keys(self) -> dict[str, Any]:
        if self.org_id is None or self.path is None:
            return {}
        return {"aws:PrincipalOrgID": self.org_id, "aws:PrincipalOrgPaths": [self.path]}


NO_ORGANIZATION = OrgContext()


def scp_enabled(root: Node) -> bool:
    return scps_on(root.policy_types)


def scps_on(policy_types: Mapping[str, str] | None) -> bool:
    """Whether a root's policy types (type -> status) have service control policies enabled."""
    return (policy_types or {}).get(orgs.SERVICE_CONTROL_POLICY) == "ENABLED"


def account_context(tx: Tx, account_id: str) -> OrgContext:
    found = store.placement(tx, account_id)
    if found is None:
        return NO_ORGANIZATION
    org_id, management, parent_path, policy_types = found
    if management is None or parent_path is None or policy_types is None:
        # Foreign keys make this unreachable; should it happen, the account's principals get
        # nothing rather than everything.
        log.error("organization data of account %s is inconsistent; denying its principals", account_id)
        return OrgContext(org_id, None, ((grants_nothing("inconsistent", PolicyKind.SCP),),))
    path = f"{org_id}/{parent_path}/"
    if management == account_id or not scps_on(policy_types):
        return OrgContext(org_id, path)
    targets = [*parent_path.split("/"), account_id]
    by_target: dict[str, list[Policy]] = {target: [] for target in targets}
    for attached in store.policies_attached_to(tx, org_id, targets, orgs.SERVICE_CONTROL_POLICY):
        arn = policy_arn(management, org_id, attached.policy_id, attached.aws_managed)
        compiled = compile_stored(attached.content, PolicyKind.SCP, arn)
        by_target[attached.target_id].append(compiled or grants_nothing(arn, PolicyKind.SCP))
    # A level with nothing attached allows nothing (AWS never lets that happen through its API).
    return OrgContext(org_id, path, tuple(tuple(by_target[target]) for target in targets))


def organization_of(tx: Tx, account_id: str) -> str | None:
    """The id of the organization ``account_id`` is a member of, if any."""
    membership = store.membership(tx, account_id)
    return membership.organization_id if membership is not None else None


def _organization_id(tx: Tx, account_id: str, memo: MutableMapping[str, str | None]) -> str | None:
    if account_id not in memo:
        memo[account_id] = organization_of(tx, account_id)
    return memo[account_id]


def resource_account(resource: str) -> str | None:
    """The 12-digit account an ARN names, if it names one."""
    if not resource.startswith("arn:"):
        return None
    try:
        account = Arn.parse(resource).account
    except InvalidArn:
        return None
    return account if orgs.ACCOUNT_ID.fullmatch(account) else None


def resource_keys(tx: Tx, resource: str, memo: MutableMapping[str, str | None] | None = None) -> Mapping[str, str]:
    """``aws:ResourceAccount`` and ``aws:ResourceOrgID`` of a resource ARN that names its account."""
    account = resource_account(resource)
    if account is None:
        return {}
    keys = {"aws:ResourceAccount": account}
    org_id = _organization_id(tx, account, {} if memo is None else memo)
    if org_id is not None:
        keys["aws:ResourceOrgID"] = org_id
    return keys
