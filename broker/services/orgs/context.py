"""What an account's organization adds to a decision: SCP levels and the org condition keys.

AWS's rules: a member account's principals are bound by the service control policies of every
level from the root down to the account (each level must allow); the management account is not;
SCPs apply only while the SERVICE_CONTROL_POLICY type is enabled on the root. ``aws:PrincipalOrgID``
and ``aws:PrincipalOrgPaths`` describe the caller's account, ``aws:ResourceOrgID`` the account
owning the resource.

Reads, once per principal per request: the membership row (the only read for an account outside
any organization), the organization, the parent node (its ``path`` holds the whole chain), the
root, and the attachments joined with their policies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.iam import orgs
from broker.iam.arn import Arn, InvalidArn
from broker.policy import Policy, PolicyKind
from broker.services.policy_cache import compile_stored, grants_nothing
from broker.store import models

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


def scp_enabled(root: models.OrganizationNode) -> bool:
    return (root.policy_types or {}).get(orgs.SERVICE_CONTROL_POLICY) == "ENABLED"


def account_context(session: Session, account_id: str) -> OrgContext:
    membership = session.get(models.OrganizationAccount, account_id)
    if membership is None:
        return NO_ORGANIZATION
    organization = session.get(models.Organization, membership.organization_id)
    parent = session.get(models.OrganizationNode, membership.parent_id)
    chain = parent.path.split("/") if parent is not None else []
    root = parent if parent is not None and parent.kind == orgs.ROOT else None
    if root is None and chain:
        root = session.get(models.OrganizationNode, chain[0])
    if organization is None or parent is None or root is None:
        # Foreign keys make this unreachable; should it happen, the account's principals get
        # nothing rather than everything.
        log.error("organization data of account %s is inconsistent; denying its principals", account_id)
        return OrgContext(membership.organization_id, None, ((grants_nothing("inconsistent", PolicyKind.SCP),),))
    path = f"{organization.id}/{parent.path}/"
    if organization.management_account_id == account_id or not scp_enabled(root):
        return OrgContext(organization.id, path)
    targets = [*chain, account_id]
    rows = session.execute(
        select(models.OrganizationPolicyAttachment.target_id, models.OrganizationPolicy)
        .join(models.OrganizationPolicy, models.OrganizationPolicy.id == models.OrganizationPolicyAttachment.policy_id)
        .where(
            models.OrganizationPolicyAttachment.organization_id == organization.id,
            models.OrganizationPolicyAttachment.target_id.in_(targets),
            models.OrganizationPolicy.type == orgs.SERVICE_CONTROL_POLICY,
        )
    ).all()
    by_target: dict[str, list[Policy]] = {target: [] for target in targets}
    for target_id, policy in sorted(rows, key=lambda row: (row[0], row[1].id)):
        arn = policy_arn(organization, policy)
        by_target[target_id].append(
            compile_stored(policy.content, PolicyKind.SCP, arn) or grants_nothing(arn, PolicyKind.SCP)
        )
    # A level with nothing attached allows nothing (AWS never lets that happen through its API).
    return OrgContext(organization.id, path, tuple(tuple(by_target[target]) for target in targets))


def policy_arn(organization: models.Organization, policy: models.OrganizationPolicy) -> str:
    if policy.aws_managed:
        return orgs.aws_managed_policy_arn(policy.id, policy.type)
    return orgs.policy_arn(organization.management_account_id, organization.id, policy.id, policy.type)


def _organization_id(session: Session, account_id: str, memo: MutableMapping[str, str | None]) -> str | None:
    if account_id not in memo:
        membership = session.get(models.OrganizationAccount, account_id)
        memo[account_id] = membership.organization_id if membership is not None else None
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


def resource_keys(
    session: Session, resource: str, memo: MutableMapping[str, str | None] | None = None
) -> Mapping[str, str]:
    """``aws:ResourceAccount`` and ``aws:ResourceOrgID`` of a resource ARN that names its account."""
    account = resource_account(resource)
    if account is None:
        return {}
    keys = {"aws:ResourceAccount": account}
    org_id = _organization_id(session, account, {} if memo is None else memo)
    if org_id is not None:
        keys["aws:ResourceOrgID"] = org_id
    return keys
