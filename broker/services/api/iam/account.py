"""The account: its alias, and GetAccountAuthorizationDetails."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.iam.support import page
from broker.services.api.registry import action
from broker.services.iam import account


@action("CreateAccountAlias", "iam")
def create_account_alias(call: Call) -> None:
    alias = call.params.required("AccountAlias")
    call.authorize("iam:CreateAccountAlias", "*")
    account.create_account_alias(call.session, call.account_id, alias)
    return None


@action("DeleteAccountAlias", "iam")
def delete_account_alias(call: Call) -> None:
    alias = call.params.required("AccountAlias")
    call.authorize("iam:DeleteAccountAlias", "*")
    account.delete_account_alias(call.session, call.account_id, alias)
    return None


@action("ListAccountAliases", "iam", read_only=True)
def list_account_aliases(call: Call) -> dict[str, Any]:
    call.authorize("iam:ListAccountAliases", "*")
    aliases = account.account_aliases(call.session, call.account_id)
    return page(call, aliases, lambda alias: alias, "AccountAliases", lambda alias: alias)


@action("GetAccountAuthorizationDetails", "iam", read_only=True)
def get_account_authorization_details(call: Call) -> dict[str, Any]:
    filters = call.params.members("Filter")
    call.authorize("iam:GetAccountAuthorizationDetails", "*")
    details = account.authorization_details(call.session, call.account_id, filters)
    listed = page(call, details, lambda d: d.sort_key, "Details", lambda d: d)
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
