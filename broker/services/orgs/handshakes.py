"""Inviting accounts (handshakes), and accounts leaving: InviteAccountToOrganization, Accept/Decline/
CancelHandshake, DescribeHandshake, ListHandshakesFor{Organization,Account}, RemoveAccountFromOrganization,
LeaveOrganization and CloseAccount."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from broker.iam import handshakes as rules
from broker.iam import orgs
from broker.iam.errors import AwsError
from broker.iam.handshakes import Handshake
from broker.services.orgs import lookup
from broker.store import Tx
from broker.store import org_handshakes as store
from broker.store import orgs as org_store
from broker.store.iam import accounts


def _not_found(handshake_id: str) -> AwsError:
    return AwsError("HandshakeNotFoundException", f"We can't find a handshake with the id {handshake_id}.")


def _constraint(reason: str, message: str) -> AwsError:
    return AwsError("HandshakeConstraintViolationException", message, reason=reason)


def handshake_id(value: object) -> str:
    return orgs.identifier(orgs.given(value, "HandshakeId"), "HandshakeId", rules.HANDSHAKE_ID)


def find(tx: Tx, handshake_id_: str) -> Handshake | None:
    return store.handshake(tx, handshake_id_)


def _target(tx: Tx, target: object) -> tuple[str, str, str]:
    """(type, id as given, the account it reaches) of InviteAccountToOrganization's ``Target``."""
    if not isinstance(target, Mapping):
        raise orgs.invalid_input("INVALID_SYNTAX", "Target must be an object with Id and Type.")
    target_type = orgs.given(target.get("Type"), "Target.Type")
    if target_type not in rules.TARGET_TYPES:
        # ORGANIZATION is a party type, but not one an invitation can target.
        orgs.enum(target_type, "Target.Type", (*rules.TARGET_TYPES, "ORGANIZATION"))
        raise orgs.invalid_input("INVALID_PARTY_TYPE_TARGET", "An invitation targets an ACCOUNT or an EMAIL.")
    if target_type == "ACCOUNT":
        account_id = orgs.identifier(orgs.given(target.get("Id"), "Target.Id"), "Target.Id", orgs.ACCOUNT_ID)
        if not store.account_exists(tx, account_id):
            raise _constraint("TARGET_ACCOUNT_VALIDATION_FAILURE", f"There is no account {account_id} to invite.")
        return "ACCOUNT", account_id, account_id
    email = orgs.email(orgs.given(target.get("Id"), "Target.Id"))
    found = store.account_with_email(tx, email)
    if found is None:
        raise orgs.invalid_input("INVALID_EMAIL_ADDRESS_TARGET", f"No account is registered with {email}.")
    return "EMAIL", email, found


def invite(tx: Tx, account_id: str, *, target: object, notes: object, tags: object, now: dt.datetime) -> Handshake:
    organization = lookup.managed(tx, account_id, lock=True)
    target_type, target_id, target_account = _target(tx, target)
    note = orgs.string(notes, "Notes", min_len=0, max_len=rules.NOTES_MAX) if notes is not None else None
    tag_map = orgs.tags(tags)
    if lookup.joined(tx, target_account) is not None:
        raise _constraint("ALREADY_IN_AN_ORGANIZATION", f"The account {target_account} is already in an organization.")
    for existing in store.for_organization(tx, organization.id):
        if existing.target_account_id == target_account and existing.state_at(now) == rules.OPEN:
            raise AwsError(
                "DuplicateHandshakeException", f"An open invitation of account {target_account} already exists."
            )
    if org_store.count_members(tx, organization.id) >= orgs.ACCOUNTS_PER_ORGANIZATION:
        raise _constraint("ACCOUNT_NUMBER_LIMIT_EXCEEDED", "The organization has as many accounts as it may.")
    new_id = rules.new_handshake_id()
    store.add(
        tx,
        handshake_id=new_id,
        organization_id=organization.id,
        target_type=target_type,
        target=target_id,
        target_account_id=target_account,
        notes=note,
        tags=tag_map,
        now=now,
        expires_at=now + rules.INVITE_LIFETIME,
        action=rules.INVITE,
    )
    created = store.handshake(tx, new_id)
    assert created is not None
    return created


def _as_party(tx: Tx, account_id: str, handshake_id_: str) -> Handshake:
    """The handshake, if the caller is one of its parties (the management account or the invited account)."""
    found = store.handshake(tx, handshake_id_)
    if found is None or account_id not in (found.management_account_id, found.target_account_id):
        raise _not_found(handshake_id_)
    return found


def describe(tx: Tx, account_id: str, handshake_id_: str) -> Handshake:
    return _as_party(tx, account_id, handshake_id_)


def _transition(found: Handshake, now: dt.datetime, new_state: str) -> None:
    state = found.state_at(now)
    if state == new_state:
        raise AwsError("HandshakeAlreadyInStateException", f"The handshake {found.id} is already {new_state}.")
    if state != rules.OPEN:
        raise AwsError(
            "InvalidHandshakeTransitionException",
            f"The handshake {found.id} is {state}: it can no longer be {new_state.lower()}.",
        )


def _as_recipient(tx: Tx, account_id: str, handshake_id_: str) -> Handshake:
    found = store.handshake(tx, handshake_id_)
    if found is None or found.target_account_id != account_id:
        raise _not_found(handshake_id_)
    return found


def accept(tx: Tx, account_id: str, handshake_id_: str, now: dt.datetime) -> Handshake:
    """The invited account joins the organization, under its root."""
    found = _as_recipient(tx, account_id, handshake_id_)
    _transition(found, now, "ACCEPTED")
    if lookup.joined(tx, account_id) is not None:
        raise _constraint("ALREADY_IN_AN_ORGANIZATION", f"The account {account_id} is already in an organization.")
    organization = org_store.lock_organization(tx, found.organization_id)
    assert organization is not None, "a handshake goes with its organization"
    if org_store.count_members(tx, organization.id) >= orgs.ACCOUNTS_PER_ORGANIZATION:
        raise _constraint("ACCOUNT_NUMBER_LIMIT_EXCEEDED", "The organization has as many accounts as it may.")
    root = lookup.root(tx, organization.id)
    org_store.add_member(tx, organization.id, account_id, root.id, "INVITED", {}, now)
    if lookup.scps_enabled(tx, organization):
        lookup.attach_default_scp(tx, organization, account_id)
    store.set_state(tx, found.id, "ACCEPTED")
    return _with_state(found, "ACCEPTED")


def decline(tx: Tx, account_id: str, handshake_id_: str, now: dt.datetime) -> Handshake:
    found = _as_recipient(tx, account_id, handshake_id_)
    _transition(found, now, "DECLINED")
    store.set_state(tx, found.id, "DECLINED")
    return _with_state(found, "DECLINED")


def cancel(tx: Tx, account_id: str, handshake_id_: str, now: dt.datetime) -> Handshake:
    found = store.handshake(tx, handshake_id_)
    if found is None or found.management_account_id != account_id:
        raise _not_found(handshake_id_)
    _transition(found, now, "CANCELED")
    store.set_state(tx, found.id, "CANCELED")
    return _with_state(found, "CANCELED")


def _with_state(found: Handshake, state: str) -> Handshake:
    return Handshake(**{**found.__dict__, "state": state})


def _filtered(found: list[Handshake], handshake_filter: object) -> list[Handshake]:
    if handshake_filter is None:
        return found
    if not isinstance(handshake_filter, Mapping):
        raise orgs.invalid_input("INVALID_SYNTAX", "Filter must be an object.")
    action_type = handshake_filter.get("ActionType")
    parent = handshake_filter.get("ParentHandshakeId")
    if action_type is not None and parent is not None:
        raise orgs.invalid_input("INPUT_REQUIRED", "Specify either ActionType or ParentHandshakeId, not both.")
    if action_type is not None:
        wanted = orgs.enum(action_type, "Filter.ActionType", rules.ACTION_TYPES)
        return [h for h in found if h.action == wanted]
    if parent is not None:
        handshake_id(parent)
        return []  # no handshake of this broker has a parent
    return found


def for_organization(tx: Tx, account_id: str, handshake_filter: object) -> list[Handshake]:
    organization = lookup.managed(tx, account_id)
    return _filtered(store.for_organization(tx, organization.id), handshake_filter)


def for_account(tx: Tx, account_id: str, handshake_filter: object) -> list[Handshake]:
    return _filtered(store.for_account(tx, account_id), handshake_filter)


# --- accounts leaving ------------------------------------------------------------------------------


def _management_cannot_leave() -> AwsError:
    return AwsError("MasterCannotLeaveOrganizationException")


def remove_account(tx: Tx, account_id: str, member_id: object) -> None:
    organization = lookup.managed(tx, account_id, lock=True)
    member = lookup.member(tx, organization, member_id)
    if member.account_id == organization.management_account_id:
        raise _management_cannot_leave()
    store.remove_member(tx, organization.id, member.account_id)


def leave(tx: Tx, account_id: str) -> None:
    organization = lookup.organization(tx, account_id)
    if account_id == organization.management_account_id:
        raise _management_cannot_leave()
    store.remove_member(tx, organization.id, account_id)


def close_account(tx: Tx, account_id: str, member_id: object, now: dt.datetime) -> None:
    """The member account closes (AWS shows it SUSPENDED, still in the organization, until it goes)."""
    organization = lookup.managed(tx, account_id, lock=True)
    member = lookup.member(tx, organization, member_id)
    if organization.feature_set != "ALL":  # "You can close an account when all features are enabled."
        raise AwsError(
            "ConstraintViolationException",
            "You can close a member account only in an organization with all features enabled.",
            reason="ORGANIZATION_NOT_IN_ALL_FEATURES_MODE",
        )
    if member.account_id == organization.management_account_id:
        raise AwsError(
            "ConstraintViolationException",
            "You can't close the management account with CloseAccount.",
            reason="CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
        )
    if store.closed_at(tx, member.account_id) is not None:
        raise AwsError("AccountAlreadyClosedException")
    store.close_account(tx, member.account_id, now)


def view(found: Handshake, tx: Tx, now: dt.datetime) -> dict[str, Any]:
    """AWS's ``Handshake``: parties, state, timestamps (epoch seconds) and resources."""
    feature_set = "FULL" if found.feature_set == "ALL" else "CONSOLIDATED_BILLING"
    manager = _account_fields(tx, found.management_account_id)
    resources: list[dict[str, Any]] = [
        {
            "Value": found.organization_id,
            "Type": "ORGANIZATION",
            "Resources": [
                {"Value": manager[0] or "", "Type": "MASTER_EMAIL"},
                {"Value": manager[1], "Type": "MASTER_NAME"},
                {"Value": feature_set, "Type": "ORGANIZATION_FEATURE_SET"},
            ],
        },
        {"Value": found.target, "Type": found.target_type},
    ]
    if found.notes:
        resources.append({"Value": found.notes, "Type": "NOTES"})
    return {
        "Id": found.id,
        "Arn": found.arn,
        "Parties": [
            {"Id": found.organization_id, "Type": "ORGANIZATION"},
            {"Id": found.target, "Type": found.target_type},
        ],
        "State": found.state_at(now),
        "RequestedTimestamp": float(found.requested_at.timestamp()),
        "ExpirationTimestamp": float(found.expires_at.timestamp()),
        "Action": found.action,
        "Resources": resources,
    }


def _account_fields(tx: Tx, account_id: str) -> tuple[str | None, str]:
    account = accounts.get_account(tx, account_id)
    if account is None:
        return None, account_id
    return account.email, account.name or account.alias or account_id
