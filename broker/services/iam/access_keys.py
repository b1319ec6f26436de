"""Users' long-term access keys: the secret is shown once and stored sealed (AES-GCM)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Protocol

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_access_key_id, new_secret_access_key
from broker.iam.names import constraint_violation, validation_error
from broker.services.iam._common import check_quota, save_or_conflict
from broker.services.iam.paging import Entry
from broker.services.iam.users import get_user
from broker.services.iam.views import access_key_view
from broker.store import Tx, models
from broker.store.iam import credentials, rows

_KEY_ID = re.compile(r"\w+", re.ASCII)
_STATUSES = ("Active", "Inactive", "Expired")


class Sealer(Protocol):
    def seal(self, plaintext: str, associated_data: str) -> str: ...


def validate_access_key_id(key_id: str | None) -> str:
    if key_id is None:
        raise validation_error([constraint_violation(None, "accessKeyId", "must not be null")])
    if not 16 <= len(key_id) <= 128:
        raise validation_error([constraint_violation(key_id, "accessKeyId", "must have length between 16 and 128")])
    if not _KEY_ID.fullmatch(key_id):
        raise validation_error(
            [constraint_violation(key_id, "accessKeyId", r"must satisfy regular expression pattern: [\w]+")]
        )
    return key_id


def create_access_key(tx: Tx, user: models.User, box: Sealer, now: dt.datetime) -> tuple[models.AccessKey, str]:
    """A new Active key; the secret is returned here and never again."""
    check_quota(len(user.access_keys), "AccessKeysPerUser", limits.ACCESS_KEYS_PER_USER)
    key_id = new_access_key_id(temporary=False)
    secret = new_secret_access_key()
    key = models.AccessKey(
        access_key_id=key_id, secret_sealed=box.seal(secret, key_id), status="Active", created_at=now
    )
    user.access_keys.append(key)
    save_or_conflict(tx)
    return key, secret


def new_access_key(tx: Tx, account_id: str, user_name: str, box: Sealer, now: dt.datetime) -> dict[str, Any]:
    """CreateAccessKey's ``AccessKey``: the only result that carries the secret."""
    key, secret = create_access_key(tx, get_user(tx, account_id, user_name), box, now)
    view = access_key_view(key)
    created = view.pop("CreateDate")  # AWS's AccessKey shape has the secret before it
    return {**view, "SecretAccessKey": secret, "CreateDate": created}


def _key_of_user(tx: Tx, account_id: str, user_name: str, key_id: str) -> models.AccessKey:
    user = get_user(tx, account_id, user_name)
    validate_access_key_id(key_id)
    key = credentials.access_key(tx, key_id)
    if key is None or key.user_pk != user.id:
        raise AwsError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
    return key


def update_access_key(tx: Tx, account_id: str, user_name: str, key_id: str, status: str | None) -> None:
    if status is None:
        raise validation_error([constraint_violation(None, "status", "must not be null")])
    if status not in _STATUSES:
        raise validation_error(
            [constraint_violation(status, "status", f"must satisfy enum value set: [{', '.join(_STATUSES)}]")]
        )
    if status == "Expired":
        raise AwsError("InvalidInput", "An access key can be set Active or Inactive, not Expired.")
    _key_of_user(tx, account_id, user_name, key_id).status = status


def delete_access_key(tx: Tx, account_id: str, user_name: str, key_id: str) -> None:
    key = _key_of_user(tx, account_id, user_name, key_id)
    key.user.access_keys.remove(key)
    rows.flush(tx)


def list_access_keys(tx: Tx, account_id: str, user_name: str) -> list[Entry[dict[str, Any]]]:
    keys = get_user(tx, account_id, user_name).access_keys
    return [Entry(f"{k.created_at.isoformat()}:{k.access_key_id}", access_key_view(k)) for k in keys]


@dataclass(frozen=True)
class KeyLastUsed:
    user_name: str
    last_used: dict[str, Any]


def key_last_used(tx: Tx, account_id: str, key_id: str) -> KeyLastUsed | None:
    """GetAccessKeyLastUsed: the key's user and ``AccessKeyLastUsed``, if the key is the account's."""
    key = credentials.access_key(tx, key_id)
    if key is None or key.user.account_id != account_id:
        return None
    if key.last_used_at is None:
        # AWS answers N/A for a key never used.
        return KeyLastUsed(key.user.name, {"ServiceName": "N/A", "Region": "N/A"})
    last_used = {
        "LastUsedDate": key.last_used_at,
        "ServiceName": key.last_used_service or "N/A",
        "Region": key.last_used_region or "N/A",
    }
    return KeyLastUsed(key.user.name, last_used)
