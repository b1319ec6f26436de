"""Member accounts: CreateAccount and its status records, listing, describing and moving accounts."""

from __future__ import annotations

from functools import partial
from typing import Any

from broker.iam import orgs
from broker.services.api.organizations import views
from broker.services.api.organizations.paging import by_id
from broker.services.api.organizations.request import Request, action
from broker.services.orgs import structure


@action("CreateAccount")
def create_account(request: Request) -> dict[str, Any]:
    request.authorize(context=request.tag_context())
    fields = request.arguments(email="Email", account_name="AccountName", role_name="RoleName", tags="Tags")
    status = request.run(structure.create_account, now=request.now(), **fields)
    return {"CreateAccountStatus": views.create_account_status(status)}


@action("DescribeCreateAccountStatus", read_only=True)
def describe_create_account_status(request: Request) -> dict[str, Any]:
    request.authorize()
    status = request.run(structure.create_account_status, request.get("CreateAccountRequestId"))
    return {"CreateAccountStatus": views.create_account_status(status)}


@action("ListCreateAccountStatus", read_only=True)
def list_create_account_status(request: Request) -> dict[str, Any]:
    request.authorize()
    statuses = request.run(structure.create_account_statuses, request.get("States"))
    return request.listing("CreateAccountStatuses", statuses, by_id, views.create_account_status)


@action("ListAccounts", read_only=True)
def list_accounts(request: Request) -> dict[str, Any]:
    request.authorize()
    organization, accounts = request.run(structure.list_accounts)
    return request.listing("Accounts", accounts, by_id, partial(views.account, organization))


@action("DescribeAccount", read_only=True)
def describe_account(request: Request) -> dict[str, Any]:
    organization, account = request.run(structure.describe_account, request.authorized("AccountId", orgs.ACCOUNT_ID))
    return {"Account": views.account(organization, account)}


@action("MoveAccount")
def move_account(request: Request) -> dict[str, Any]:
    account_id = request.id("AccountId", orgs.ACCOUNT_ID)
    source = request.id("SourceParentId", orgs.PARENT_ID)
    destination = request.id("DestinationParentId", orgs.PARENT_ID)
    # AWS authorizes the account and both parents.
    request.authorize(account_id, source, destination)
    request.run(structure.move_account, account_id, source, destination)
    return {}
