"""Users' long-term access keys: the secret is shown once and stored sealed (AES-GCM)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Protocol

from broker.iam import limits
from broker.iam.entities import AccessKey
from broker.iam.errors import AwsError
from broker.iam.ids import new_access_key_id, new_secret_access_key
from broker.iam.names import constraint_violation, length_violations, validation_error
from broker.services.iam._common import QuotaOwner, check_quota, written_or_conflict
from broker.services.iam.paging import Entry
from broker.services.iam.users import get_user
from broker.services.iam.views import access_key_view
from broker.store import Tx
from broker.store.iam import credentials

_KEY_ID = re.compile(r"\w+", re.ASCII)
_STATUSES = ("Active", "Inactive", "Expired")


class Sealer(Protocol):
    def seal(self, plaintext: str, associated_data: str) -> str: ...


def validate_access_key_id(key_id: str | None) -> str:
    if key_id is None:
        raise validation_error([constraint_violation(None, "accessKeyId", "must not be null")])
    violations = length_violations(key_id, "accessKeyId", 16, 128)
    if violations:
        raise validation_error(violations)
    if not _KEY_ID.fullmatch(key_id):
        raise validation_error(
            [constraint_violation(key_id, "accessKeyId", r"must satisfy regular expression pattern: [\w]+")]
        )
    return key_id


class KeyOwner(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def name(self) -> str: ...


def create_access_key(tx: Tx, user: KeyOwner, box: Sealer, now: dt.datetime) -> tuple[AccessKey, str]:
    """A new Active key; the secret is returned here and never again."""
    check_quota(
        tx,
        QuotaOwner("User", user.user_id, user.name),
        lambda: credentials.count_access_keys(tx, user.user_id),
        "AccessKeysPerUser",
        limits.ACCESS_KEYS_PER_USER,
    )
    key_id = new_access_key_id(temporary=False)
    secret = new_secret_access_key()
    written_or_conflict(credentials.add_access_key(tx, user.user_id, key_id, box.seal(secret, key_id), now))
    return AccessKey(access_key_id=key_id, user_name=user.name, status="Active", create_date=now), secret


def new_access_key(tx: Tx, account_id: str, user_name: str, box: Sealer, now: dt.datetime) -> dict[str, Any]:
    """CreateAccessKey's ``AccessKey``: the only result that carries the secret."""
    key, secret = create_access_key(tx, get_user(tx, account_id, user_name), box, now)
    view = access_key_view(key)
    created = view.pop("CreateDate")  # AWS's AccessKey shape has the secret before it
    return {**view, "SecretAccessKey": secret, "CreateDate": created}


def _key_of_user(tx: Tx, account_id: str, user_name: str, key_id: str) -> AccessKey:
    user = get_user(tx, account_id, user_name)
    validate_access_key_id(key_id)
    key = credentials.access_key_of(tx, key_id, user_id=user.user_id)
    if key is None:
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
    key = _key_of_user(tx, account_id, user_name, key_id)
    credentials.set_access_key_status(tx, key.access_key_id, "Active" if status == "Active" else "Inactive")


def delete_access_key(tx: Tx, account_id: str, user_name: str, key_id: str) -> None:
    credentials.delete_access_key(tx, _key_of_user(tx, account_id, user_name, key_id).access_key_id)


def list_access_keys(tx: Tx, account_id: str, user_name: str) -> list[Entry[dict[str, Any]]]:
    keys = credentials.user_access_keys(tx, get_user(tx, account_id, user_name).user_id)
    return [Entry(f"{k.create_date.isoformat()}:{k.access_key_id}", access_key_view(k)) for k in keys]


@dataclass(frozen=True)
class KeyLastUsed:
    user_name: str
    last_used: dict[str, Any]


def key_last_used(tx: Tx, account_id: str, key_id: str) -> KeyLastUsed | None:
    """GetAccessKeyLastUsed: the key's user and ``AccessKeyLastUsed``, if the key is the account's."""
    key = credentials.access_key_of(tx, key_id, account_id=account_id)
    if key is None:
        return None
    if key.last_used_date is None:
        # AWS answers N/A for a key never used.
        return KeyLastUsed(key.user_name, {"ServiceName": "N/A", "Region": "N/A"})
    last_used = {
        "LastUsedDate": key.last_used_date,
        "ServiceName": key.last_used_service or "N/A",
        "Region": key.last_used_region or "N/A",
    }
    return KeyLastUsed(key.user_name, last_used)
