"""Member accounts: CreateAccount and its status records, listing, describing and moving accounts."""

from __future__ import annotations

import datetime as dt
import json

from broker.iam import arn as iam_arns
from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.ids import new_account_id
from broker.iam.org_entities import Account, CreateAccountStatus, Organization
from broker.services.iam import policies as iam_policies
from broker.services.iam import roles as iam_roles
from broker.services.orgs import lookup
from broker.services.orgs.context import scp_enabled
from broker.store import Tx
from broker.store import orgs as store
from broker.store.iam import accounts as iam_accounts

_CREATE_ACCOUNT_STATES = ("IN_PROGRESS", "SUCCEEDED", "FAILED")


def _access_role_trust(management_account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": iam_arns.account_root_arn(management_account)},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _new_account_id(tx: Tx) -> str:
    while True:
        candidate = new_account_id()
        if iam_accounts.get_account(tx, candidate) is None:
            return candidate


def create_account(
    tx: Tx,
    account_id: str,
    *,
    email: object,
    account_name: object,
    role_name: object,
    tags: object,
    now: dt.datetime,
) -> CreateAccountStatus:
    """Create a member account under the root with its administrator role, in one transaction.

    AWS does this asynchronously; the broker finishes before answering, so the status it returns
    is already SUCCEEDED (or FAILED with AWS's reason) and DescribeCreateAccountStatus agrees.
    """
    organization = lookup.managed(tx, account_id, lock=True)
    email = orgs.email(orgs.given(email, "Email"))
    name = orgs.account_name(orgs.given(account_name, "AccountName"))
    role = orgs.role_name(role_name) if role_name is not None else orgs.DEFAULT_ACCESS_ROLE
    tag_map = orgs.tags(tags)
    request_id = orgs.new_create_account_request_id()
    store.add_create_account_request(tx, request_id, organization.id, name, now)
    failure = None
    if store.email_in_use(tx, email):
        failure = "EMAIL_ALREADY_EXISTS"
    elif store.count_members(tx, organization.id) >= orgs.ACCOUNTS_PER_ORGANIZATION:
        failure = "ACCOUNT_LIMIT_EXCEEDED"
    if failure is not None:
        return store.finish_create_account_request(tx, request_id, failure_reason=failure, completed_at=now)
    new_id = _new_account_id(tx)
    store.add_account(tx, new_id, name, email, now)
    root = lookup.root(tx, organization.id)
    lookup.join(tx, organization, new_id, root.id, tag_map, now)
    if scp_enabled(root):
        lookup.attach_default_scp(tx, organization, new_id)
    _add_access_role(tx, organization, new_id, role, now)
    return store.finish_create_account_request(tx, request_id, account_id=new_id, completed_at=now)


def _add_access_role(tx: Tx, organization: Organization, account_id: str, role: str, now: dt.datetime) -> None:
    """The role the management account assumes to administer the new account, as in AWS."""
    access_role = iam_roles.create_role(
        tx,
        account_id,
        name=role,
        trust_policy=_access_role_trust(organization.management_account_id),
        path="/",
        description="Lets the organization's management account administer this account.",
        max_session_duration=None,
        permissions_boundary=None,
        tags=None,
        now=now,
    )
    iam_policies.attach_policy(
        tx,
        account_id=account_id,
        entity=access_role,
        policy_arn=iam_arns.aws_managed_policy_arn("AdministratorAccess"),
    )


def create_account_status(tx: Tx, account_id: str, request_id: object) -> CreateAccountStatus:
    organization = lookup.managed(tx, account_id)
    request_id = orgs.identifier(
        orgs.given(request_id, "CreateAccountRequestId"),
        "CreateAccountRequestId",
        orgs.CREATE_ACCOUNT_REQUEST_ID,
    )
    request = store.create_account_request(tx, organization.id, request_id)
    if request is None:
        raise AwsError("CreateAccountStatusNotFoundException")
    return request


def create_account_statuses(tx: Tx, account_id: str, states: object) -> list[CreateAccountStatus]:
    organization = lookup.managed(tx, account_id)
    wanted: set[str] | None = None
    if states is not None:
        if not isinstance(states, list):
            raise orgs.invalid_input("INVALID_SYNTAX", "States must be a list.")
        wanted = {orgs.enum(state, "States", _CREATE_ACCOUNT_STATES) for state in states}
    requests = store.create_account_requests(tx, organization.id)
    return [r for r in requests if wanted is None or r.state in wanted]


def list_accounts(tx: Tx, account_id: str) -> tuple[Organization, list[Account]]:
    organization = lookup.managed(tx, account_id)
    return organization, store.members(tx, organization.id)


def accounts_for_parent(tx: Tx, account_id: str, parent_id: object) -> tuple[Organization, list[Account]]:
    organization = lookup.managed(tx, account_id)
    parent = lookup.parent(tx, organization, parent_id)
    return organization, store.child_members(tx, parent.id)


def describe_account(tx: Tx, account_id: str, member_id: object) -> tuple[Organization, Account]:
    organization = lookup.managed(tx, account_id)
    member = lookup.member(tx, organization, member_id)
    return organization, store.members_among(tx, organization.id, [member.account_id])[0]


def move_account(
    tx: Tx, account_id: str, target_account: object, source_parent: object, destination_parent: object
) -> None:
    organization = lookup.managed(tx, account_id, lock=True)
    member = lookup.member(tx, organization, target_account)
    source_id = orgs.identifier(orgs.given(source_parent, "SourceParentId"), "SourceParentId", orgs.PARENT_ID)
    destination_id = orgs.identifier(
        orgs.given(destination_parent, "DestinationParentId"),
        "DestinationParentId",
        orgs.PARENT_ID,
    )
    if lookup.node(tx, organization, source_id) is None:
        raise AwsError("SourceParentNotFoundException", f"We can't find a root or OU with the id {source_id}.")
    destination = lookup.node(tx, organization, destination_id)
    if destination is None:
        raise AwsError(
            "DestinationParentNotFoundException", f"We can't find a root or OU with the id {destination_id}."
        )
    if member.parent_id != source_id:
        raise AwsError(
            "SourceParentNotFoundException", f"Account {member.account_id} is not in the source parent {source_id}."
        )
    if destination_id == source_id:
        raise AwsError("DuplicateAccountException", f"Account {member.account_id} is already in {destination_id}.")
    store.move_member(tx, member.account_id, destination.id)
