"""Users' access keys. The secret appears in CreateAccessKey's response only (never in the audit)."""

from __future__ import annotations

from typing import Any

from broker.iam.errors import AwsError
from broker.iam.names import validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import authorize_on_user, page, target_user_name
from broker.services.api.registry import action
from broker.services.iam import access_keys, users
from broker.services.iam.views import access_key_view
from broker.store import repositories as repo


def _user_name(call: Call) -> str:
    return validate_user_name(target_user_name(call), "userName")


@action("CreateAccessKey", "iam")
def create_access_key(call: Call) -> dict[str, Any]:
    name = _user_name(call)
    authorize_on_user(call, "iam:CreateAccessKey", name)
    user = users.get_user(call.session, call.account_id, name)
    key, secret = access_keys.create_access_key(call.session, user, call.runtime.box, call.runtime.now())
    return {
        "AccessKey": {
            "UserName": user.name,
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": secret,
            "CreateDate": key.created_at,
        }
    }


@action("UpdateAccessKey", "iam")
def update_access_key(call: Call) -> None:
    name = _user_name(call)
    key_id = access_keys.validate_access_key_id(call.params.get("AccessKeyId"))
    status = call.params.get("Status")
    authorize_on_user(call, "iam:UpdateAccessKey", name)
    user = users.get_user(call.session, call.account_id, name)
    access_keys.update_access_key(call.session, user, key_id, status)
    return None


@action("DeleteAccessKey", "iam")
def delete_access_key(call: Call) -> None:
    name = _user_name(call)
    key_id = access_keys.validate_access_key_id(call.params.get("AccessKeyId"))
    authorize_on_user(call, "iam:DeleteAccessKey", name)
    user = users.get_user(call.session, call.account_id, name)
    access_keys.delete_access_key(call.session, user, key_id)
    return None


@action("ListAccessKeys", "iam", read_only=True)
def list_access_keys(call: Call) -> dict[str, Any]:
    name = _user_name(call)
    authorize_on_user(call, "iam:ListAccessKeys", name)
    user = users.get_user(call.session, call.account_id, name)
    return page(
        call,
        user.access_keys,
        lambda k: f"{k.created_at.isoformat()}:{k.access_key_id}",
        "AccessKeyMetadata",
        access_key_view,
    )


@action("GetAccessKeyLastUsed", "iam", read_only=True)
def get_access_key_last_used(call: Call) -> dict[str, Any]:
    key_id = access_keys.validate_access_key_id(call.params.get("AccessKeyId"))
    key = repo.access_key(call.session, key_id)
    if key is None or key.user.account_id != call.account_id:
        call.authorize("iam:GetAccessKeyLastUsed", f"arn:aws:iam::{call.account_id}:user/*")
        raise AwsError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
    authorize_on_user(call, "iam:GetAccessKeyLastUsed", key.user.name)
    return {"UserName": key.user.name, "AccessKeyLastUsed": access_keys.last_used(key)}
