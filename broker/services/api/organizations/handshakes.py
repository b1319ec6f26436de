"""Invitations (handshakes) and accounts leaving an organization."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from broker.iam import orgs
from broker.iam.handshakes import Handshake
from broker.services.api.organizations.request import Request, action
from broker.services.orgs import handshakes
from broker.store import Tx


def _view(request: Request) -> Callable[[Handshake], dict[str, Any]]:
    now = request.now()
    return lambda found: handshakes.view(found, request.tx, now)


def _on_handshake(request: Request) -> str:
    """The handshake id the call names, once the action is allowed on the handshake's ARN.

    The invited account is in no organization yet: unlike other actions, these need none."""
    handshake_id = handshakes.handshake_id(request.get("HandshakeId"))
    found = handshakes.find(request.tx, handshake_id)
    request.call.authorize(request.action, found.arn if found is not None else "*")
    return handshake_id


def _changed(request: Request, change: Callable[[Tx, str, str, Any], Handshake]) -> dict[str, Any]:
    handshake_id = _on_handshake(request)
    changed = change(request.tx, request.account_id, handshake_id, request.now())
    return {"Handshake": _view(request)(changed)}


@action("InviteAccountToOrganization")
def invite_account_to_organization(request: Request) -> dict[str, Any]:
    tags = request.get("Tags")
    request.authorize(context=request.tag_context())
    target = orgs.required(request.body, "Target")  # AWS: INPUT_REQUIRED, like any required member left out
    created = request.run(handshakes.invite, target=target, notes=request.get("Notes"), tags=tags, now=request.now())
    return {"Handshake": _view(request)(created)}


@action("AcceptHandshake")
def accept_handshake(request: Request) -> dict[str, Any]:
    return _changed(request, handshakes.accept)


@action("DeclineHandshake")
def decline_handshake(request: Request) -> dict[str, Any]:
    return _changed(request, handshakes.decline)


@action("CancelHandshake")
def cancel_handshake(request: Request) -> dict[str, Any]:
    return _changed(request, handshakes.cancel)


@action("DescribeHandshake", read_only=True)
def describe_handshake(request: Request) -> dict[str, Any]:
    handshake_id = _on_handshake(request)
    return {"Handshake": _view(request)(request.run(handshakes.describe, handshake_id))}


def _by_time(found: Handshake) -> str:
    return f"{found.requested_at.isoformat()}:{found.id}"


@action("ListHandshakesForOrganization", read_only=True)
def list_handshakes_for_organization(request: Request) -> dict[str, Any]:
    request.authorize()
    found = request.run(handshakes.for_organization, request.get("Filter"))
    return request.listing("Handshakes", found, _by_time, _view(request))


@action("ListHandshakesForAccount", read_only=True)
def list_handshakes_for_account(request: Request) -> dict[str, Any]:
    request.call.authorize(request.action, "*")  # any account, in an organization or not
    found = request.run(handshakes.for_account, request.get("Filter"))
    return request.listing("Handshakes", found, _by_time, _view(request))


@action("RemoveAccountFromOrganization")
def remove_account_from_organization(request: Request) -> dict[str, Any]:
    request.run(handshakes.remove_account, request.authorized("AccountId", orgs.ACCOUNT_ID))
    return {}


@action("LeaveOrganization")
def leave_organization(request: Request) -> dict[str, Any]:
    request.authorize()
    request.run(handshakes.leave)
    return {}


@action("CloseAccount")
def close_account(request: Request) -> dict[str, Any]:
    request.run(handshakes.close_account, request.authorized("AccountId", orgs.ACCOUNT_ID), request.now())
    return {}
