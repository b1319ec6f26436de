"""Users' long-term access keys: the secret is shown once and stored sealed (AES-GCM)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol

from sqlalchemy.orm import Session

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.ids import new_access_key_id, new_secret_access_key
from broker.iam.names import constraint_violation, validation_error
from broker.services.iam._common import flush_or_conflict
from broker.store import models
from broker.store import repositories as repo

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


def create_access_key(
    session: Session, user: models.User, box: Sealer, now: dt.datetime
) -> tuple[models.AccessKey, str]:
    """A new Active key; the secret is returned here and never again."""
    if len(user.access_keys) >= limits.ACCESS_KEYS_PER_USER:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {limits.ACCESS_KEYS_PER_USER}")
    key_id = new_access_key_id(temporary=False)
    secret = new_secret_access_key()
    key = models.AccessKey(
        access_key_id=key_id, secret_sealed=box.seal(secret, key_id), status="Active", created_at=now
    )
    user.access_keys.append(key)
    flush_or_conflict(session)
    return key, secret


def key_of_user(session: Session, user: models.User, key_id: str) -> models.AccessKey:
    validate_access_key_id(key_id)
    key = repo.access_key(session, key_id)
    if key is None or key.user_pk != user.id:
        raise AwsError("NoSuchEntity", f"The Access Key with id {key_id} cannot be found.")
    return key


def update_access_key(session: Session, user: models.User, key_id: str, status: str | None) -> models.AccessKey:
    if status is None:
        raise validation_error([constraint_violation(None, "status", "must not be null")])
    if status not in _STATUSES:
        raise validation_error(
            [constraint_violation(status, "status", f"must satisfy enum value set: [{', '.join(_STATUSES)}]")]
        )
    if status == "Expired":
        raise AwsError("InvalidInput", "An access key can be set Active or Inactive, not Expired.")
    key = key_of_user(session, user, key_id)
    key.status = status
    return key


def delete_access_key(session: Session, user: models.User, key_id: str) -> None:
    key = key_of_user(session, user, key_id)
    user.access_keys.remove(key)
    session.flush()


def last_used(key: models.AccessKey) -> dict[str, Any]:
    """``AccessKeyLastUsed``; AWS answers N/A for a key never used."""
    if key.last_used_at is None:
        return {"ServiceName": "N/A", "Region": "N/A"}
    return {
        "LastUsedDate": key.last_used_at,
        "ServiceName": key.last_used_service or "N/A",
        "Region": key.last_used_region or "N/A",
    }
