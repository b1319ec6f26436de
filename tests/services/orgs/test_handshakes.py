"""Organizations invitations and departures through boto3: InviteAccountToOrganization and its
handshakes (list, describe, accept, decline, cancel), RemoveAccountFromOrganization,
LeaveOrganization and CloseAccount. Every answer is checked against botocore's model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services.api.organizations.test_actions import (
    admin_organizations,
    assume,
    failure,
    new_account,
    session_client,
    unique,
)
from tests.support.aws import (  # module_broker: the "broker" fixture
    ACCOUNT,
    BACKENDS,
    module_broker,  # noqa: F401
    running_broker,
)
from tests.support.brokers import LiveBroker


@dataclass
class Orgs:
    api: Any  # the management account's Organizations client
    id: str
    root: str


@pytest.fixture(scope="module")
def org(broker: LiveBroker) -> Orgs:
    api = admin_organizations(broker)
    organization = api.create_organization()["Organization"]
    root = api.list_roots()["Roots"][0]["Id"]
    return Orgs(api, organization["Id"], root)


def outsider(broker: LiveBroker, org: Orgs) -> tuple[str, Any]:
    """An account in no organization (created in this one, then removed), and its administrator's client."""
    account = new_account(org.api)
    credentials = assume(broker, account)
    org.api.remove_account_from_organization(AccountId=account)
    return account, session_client(broker, "organizations", credentials)


def member_ids(org: Orgs) -> dict[str, dict[str, Any]]:
    pages = org.api.get_paginator("list_accounts").paginate()
    return {account["Id"]: account for page in pages for account in page["Accounts"]}


def test_removed_account_is_outside(broker: LiveBroker, org: Orgs) -> None:
    account, client = outsider(broker, org)
    assert account not in member_ids(org)
    assert failure(client.describe_organization)[0] == "AWSOrganizationsNotInUseException"
    assert failure(org.api.remove_account_from_organization, AccountId=account)[0] == "AccountNotFoundException"
    assert failure(org.api.remove_account_from_organization, AccountId=ACCOUNT)[0] == (
        "MasterCannotLeaveOrganizationException"
    )
    assert failure(org.api.leave_organization)[0] == "MasterCannotLeaveOrganizationException"


def test_invitation_accepted(broker: LiveBroker, org: Orgs) -> None:
    account, client = outsider(broker, org)
    handshake = org.api.invite_account_to_organization(Target={"Id": account, "Type": "ACCOUNT"}, Notes="join us")[
        "Handshake"
    ]
    assert handshake["Id"].startswith("h-") and handshake["State"] == "OPEN" and handshake["Action"] == "INVITE"
    assert handshake["Arn"] == f"arn:aws:organizations::{ACCOUNT}:handshake/{org.id}/invite/{handshake['Id']}"
    assert handshake["Parties"] == [{"Id": org.id, "Type": "ORGANIZATION"}, {"Id": account, "Type": "ACCOUNT"}]
    lifetime = handshake["ExpirationTimestamp"] - handshake["RequestedTimestamp"]
    assert lifetime.days == 15
    organization_resource, account_resource, notes = handshake["Resources"]
    assert organization_resource["Type"] == "ORGANIZATION" and organization_resource["Value"] == org.id
    assert {r["Type"] for r in organization_resource["Resources"]} == {
        "MASTER_EMAIL",
        "MASTER_NAME",
        "ORGANIZATION_FEATURE_SET",
    }
    assert account_resource == {"Value": account, "Type": "ACCOUNT"}
    assert notes == {"Value": "join us", "Type": "NOTES"}

    assert failure(org.api.invite_account_to_organization, Target={"Id": account, "Type": "ACCOUNT"})[0] == (
        "DuplicateHandshakeException"
    )
    assert handshake["Id"] in {h["Id"] for h in org.api.list_handshakes_for_organization()["Handshakes"]}
    mine = client.list_handshakes_for_account()["Handshakes"]
    assert [h["Id"] for h in mine] == [handshake["Id"]]
    assert client.describe_handshake(HandshakeId=handshake["Id"])["Handshake"]["State"] == "OPEN"

    accepted = client.accept_handshake(HandshakeId=handshake["Id"])["Handshake"]
    assert accepted["State"] == "ACCEPTED"
    joined = member_ids(org)[account]
    assert joined["JoinedMethod"] == "INVITED" and joined["Status"] == "ACTIVE"
    assert client.describe_organization()["Organization"]["Id"] == org.id
    # With SCPs enabled, the new member gets FullAWSAccess, as created accounts do.
    attached = org.api.list_policies_for_target(TargetId=account, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert [p["Id"] for p in attached] == ["p-FullAWSAccess"]
    assert failure(client.accept_handshake, HandshakeId=handshake["Id"])[0] == "HandshakeAlreadyInStateException"

    # And it may leave again.
    client.leave_organization()
    assert account not in member_ids(org)
    assert failure(client.leave_organization)[0] == "AWSOrganizationsNotInUseException"


def test_declined_and_canceled_invitations(broker: LiveBroker, org: Orgs) -> None:
    account, client = outsider(broker, org)
    first = org.api.invite_account_to_organization(Target={"Id": account, "Type": "ACCOUNT"})["Handshake"]
    assert client.decline_handshake(HandshakeId=first["Id"])["Handshake"]["State"] == "DECLINED"
    assert failure(client.decline_handshake, HandshakeId=first["Id"])[0] == "HandshakeAlreadyInStateException"
    assert failure(client.accept_handshake, HandshakeId=first["Id"])[0] == "InvalidHandshakeTransitionException"
    assert org.api.describe_handshake(HandshakeId=first["Id"])["Handshake"]["State"] == "DECLINED"

    second = org.api.invite_account_to_organization(Target={"Id": account, "Type": "ACCOUNT"})["Handshake"]
    # Only the organization cancels; only the invited account accepts or declines.
    assert failure(client.cancel_handshake, HandshakeId=second["Id"])[0] == "HandshakeNotFoundException"
    assert failure(org.api.accept_handshake, HandshakeId=second["Id"])[0] == "HandshakeNotFoundException"
    assert org.api.cancel_handshake(HandshakeId=second["Id"])["Handshake"]["State"] == "CANCELED"
    assert failure(client.accept_handshake, HandshakeId=second["Id"])[0] == "InvalidHandshakeTransitionException"
    states = {h["Id"]: h["State"] for h in client.list_handshakes_for_account()["Handshakes"]}
    assert states == {first["Id"]: "DECLINED", second["Id"]: "CANCELED"}
    invites = org.api.list_handshakes_for_organization(Filter={"ActionType": "INVITE"})["Handshakes"]
    assert {first["Id"], second["Id"]} <= {h["Id"] for h in invites}
    assert account not in member_ids(org)


def test_invitation_by_email_and_refusals(broker: LiveBroker, org: Orgs) -> None:
    email = f"{unique('mail')}@example.com"
    account = new_account(org.api, email=email)
    client = session_client(broker, "organizations", assume(broker, account))
    # A member already: it cannot be invited.
    code, reason = failure(org.api.invite_account_to_organization, Target={"Id": account, "Type": "ACCOUNT"})
    assert (code, reason) == ("HandshakeConstraintViolationException", "ALREADY_IN_AN_ORGANIZATION")
    org.api.remove_account_from_organization(AccountId=account)
    handshake = org.api.invite_account_to_organization(Target={"Id": email, "Type": "EMAIL"})["Handshake"]
    assert handshake["Parties"][1] == {"Id": email, "Type": "EMAIL"}
    assert client.accept_handshake(HandshakeId=handshake["Id"])["Handshake"]["State"] == "ACCEPTED"
    assert account in member_ids(org)

    assert failure(org.api.invite_account_to_organization, Target={"Id": "999999999999", "Type": "ACCOUNT"}) == (
        "HandshakeConstraintViolationException",
        "TARGET_ACCOUNT_VALIDATION_FAILURE",
    )
    assert failure(org.api.invite_account_to_organization, Target={"Id": "x", "Type": "ORGANIZATION"}) == (
        "InvalidInputException",
        "INVALID_PARTY_TYPE_TARGET",
    )
    assert failure(org.api.invite_account_to_organization, Target={"Id": "nobody@example.com", "Type": "EMAIL"}) == (
        "InvalidInputException",
        "INVALID_EMAIL_ADDRESS_TARGET",
    )
    assert failure(org.api.describe_handshake, HandshakeId="h-doesnotexist1")[0] == "HandshakeNotFoundException"
    assert failure(org.api.describe_handshake, HandshakeId="not-a-handshake") == (
        "InvalidInputException",
        "INVALID_PATTERN",
    )
    # A member account may not invite.
    assert failure(client.invite_account_to_organization, Target={"Id": ACCOUNT, "Type": "ACCOUNT"})[0] == (
        "AccessDeniedException"
    )


def test_close_account(org: Orgs) -> None:
    account = new_account(org.api)
    org.api.close_account(AccountId=account)
    closed = member_ids(org)[account]
    assert closed["Status"] == "SUSPENDED"
    assert org.api.describe_account(AccountId=account)["Account"]["Status"] == "SUSPENDED"
    assert failure(org.api.close_account, AccountId=account)[0] == "AccountAlreadyClosedException"
    assert failure(org.api.close_account, AccountId=ACCOUNT) == (
        "ConstraintViolationException",
        "CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
    )
    assert failure(org.api.close_account, AccountId="999999999999")[0] == "AccountNotFoundException"


@pytest.mark.parametrize("backend", BACKENDS)
def test_deleting_the_organization_takes_its_handshakes(tmp_path: Path, keys_dir: Path, backend: str) -> None:
    with running_broker(tmp_path, keys_dir, backend) as broker:
        api = admin_organizations(broker)
        api.create_organization()
        account = new_account(api)
        client = session_client(broker, "organizations", assume(broker, account))
        api.remove_account_from_organization(AccountId=account)
        handshake = api.invite_account_to_organization(Target={"Id": account, "Type": "ACCOUNT"})["Handshake"]
        api.delete_organization()
        assert failure(client.describe_handshake, HandshakeId=handshake["Id"])[0] == "HandshakeNotFoundException"
        assert client.list_handshakes_for_account()["Handshakes"] == []
        # The account is free to make an organization of its own.
        assert client.create_organization()["Organization"]["MasterAccountId"] == account


def test_close_account_needs_all_features(tmp_path: Path, keys_dir: Path) -> None:
    # "You can close an account when all features are enabled." (CloseAccount, AWS API reference)
    with running_broker(tmp_path, keys_dir, "sqlite") as broker:
        api = admin_organizations(broker)
        api.create_organization(FeatureSet="CONSOLIDATED_BILLING")
        account = new_account(api)
        assert failure(api.close_account, AccountId=account) == (
            "ConstraintViolationException",
            "ORGANIZATION_NOT_IN_ALL_FEATURES_MODE",
        )
        assert api.describe_account(AccountId=account)["Account"]["Status"] == "ACTIVE"
