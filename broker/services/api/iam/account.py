"""The account: its alias, and GetAccountAuthorizationDetails."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.iam.support import page
from broker.services.api.registry import action
from broker.services.iam import account


def _alias(call: Call, action_name: str) -> str:
    """CreateAccountAlias, DeleteAccountAlias: the alias, once the action is allowed."""
    alias = call.params.required("AccountAlias")
    call.authorize(action_name, "*")
    return alias


@action("CreateAccountAlias", "iam")
def create_account_alias(call: Call) -> None:
    account.create_account_alias(call.tx, call.account_id, _alias(call, "iam:CreateAccountAlias"))


@action("DeleteAccountAlias", "iam")
def delete_account_alias(call: Call) -> None:
    account.delete_account_alias(call.tx, call.account_id, _alias(call, "iam:DeleteAccountAlias"))


@action("ListAccountAliases", "iam", read_only=True)
def list_account_aliases(call: Call) -> dict[str, Any]:
    call.authorize("iam:ListAccountAliases", "*")
    return page(call, account.account_aliases(call.tx, call.account_id), "AccountAliases")


@action("GetAccountAuthorizationDetails", "iam", read_only=True)
def get_account_authorization_details(call: Call) -> dict[str, Any]:
    filters = call.params.members("Filter")
    call.authorize("iam:GetAccountAuthorizationDetails", "*")
    listed = page(call, account.authorization_details(call.tx, call.account_id, filters), "Details")
    chosen: list[account.Detail] = listed.pop("Details")
    lists: dict[str, list[dict[str, Any]]] = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    }
    for detail in chosen:
        lists[detail.list_name].append(detail.value)
    return {**lists, **listed}
