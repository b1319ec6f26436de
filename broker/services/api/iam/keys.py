"""Users' access keys. The secret appears in CreateAccessKey's response only (never in the audit)."""

from __future__ import annotations

from typing import Any

from broker.iam.errors import AwsError
from broker.iam.names import validate_existing_user_name
from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import authorize_on, authorized_user, target_user_name
from broker.services.api.registry import action
from broker.services.iam import access_keys


def _key_id(call: Call) -> str:
    return access_keys.validate_access_key_id(call.params.get("AccessKeyId"))


@action("CreateAccessKey", "iam")
def create_access_key(call: Call) -> dict[str, Any]:
    name = authorized_user(call, "iam:CreateAccessKey")
    key = access_keys.new_access_key(call.tx, call.account_id, name, call.runtime.box, call.runtime.now())
    return {"AccessKey": key}


@action("UpdateAccessKey", "iam")
def update_access_key(call: Call) -> None:
    name = validate_existing_user_name(target_user_name(call), "userName")
    key_id = _key_id(call)
    status = call.params.get("Status")
    authorize_on(call, "User", "iam:UpdateAccessKey", name)
    access_keys.update_access_key(call.tx, call.account_id, name, key_id, status)


@action("DeleteAccessKey", "iam")
def delete_access_key(call: Call) -> None:
    name = validate_existing_user_name(target_user_name(call), "userName")
    key_id = _key_id(call)
    authorize_on(call, "User", "iam:DeleteAccessKey", name)
    access_keys.delete_access_key(call.tx, call.account_id, name, key_id)


@action("GetAccessKeyLastUsed", "iam", read_only=True)
def get_access_key_last_used(call: Call) -> dict[str, Any]:
    key_id = _key_id(call)
    found = access_keys.key_last_used(call.tx, call.account_id, key_id)
    if found is None:
        call.authorize("iam:GetAccessKeyLastUsed", f"arn:aws:iam::{call.account_id}:user/*")
        raise AwsError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
    authorize_on(call, "User", "iam:GetAccessKeyLastUsed", found.user_name)
    return {"UserName": found.user_name, "AccessKeyLastUsed": found.last_used}


shared.register_user_listing("ListAccessKeys", access_keys.list_access_keys, "AccessKeyMetadata")
