"""Service-specific credentials: a user name and password for one service (CodeCommit's Git over
HTTPS, Amazon Keyspaces). The password is shown when created or reset, and stored sealed, as
access-key secrets are (its associated data is the credential's id)."""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
from typing import Any

from broker.iam.errors import AwsError
from broker.iam.ids import Secret
from broker.iam.names import constraint_violation, length_violations, validation_error
from broker.services.iam._common import QuotaOwner, check_quota, written_or_conflict
from broker.services.iam.access_keys import Sealer
from broker.services.iam.paging import Entry
from broker.services.iam.users import get_user
from broker.store import Tx
from broker.store.iam import service_credentials as store
from broker.store.iam.service_credentials import StoredCredential

# The services that take service-specific credentials, as AWS documents them.
SUPPORTED_SERVICES = ("codecommit.amazonaws.com", "cassandra.amazonaws.com")
CREDENTIALS_PER_SERVICE = 2
_STATUSES = ("Active", "Inactive")
_CREDENTIAL_ID = re.compile(r"[\w]+", re.ASCII)
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _new_credential_id() -> str:
    return "ACCA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def _new_password() -> Secret:
    return Secret(base64.b64encode(secrets.token_bytes(32)).decode())


def credential_view(credential: StoredCredential, password: str | None = None) -> dict[str, Any]:
    """``ServiceSpecificCredential`` (with the password) or, without one, its metadata as listed."""
    view: dict[str, Any] = {
        "CreateDate": credential.create_date,
        "ServiceName": credential.service_name,
        "ServiceUserName": credential.service_user_name,
    }
    if password is not None:
        view["ServicePassword"] = password
    return {
        **view,
        "ServiceSpecificCredentialId": credential.credential_id,
        "UserName": credential.user_name,
        "Status": credential.status,
    }


def validate_service_name(service_name: str | None) -> str:
    if service_name is None:
        raise validation_error([constraint_violation(None, "serviceName", "must not be null")])
    if service_name not in SUPPORTED_SERVICES:
        raise AwsError("NotSupportedService", f"Service {service_name[:128]} is not supported.")
    return service_name


def validate_credential_id(credential_id: str | None) -> str:
    if credential_id is None:
        raise validation_error([constraint_violation(None, "serviceSpecificCredentialId", "must not be null")])
    violations = length_violations(credential_id, "serviceSpecificCredentialId", 20, 128)
    if violations:
        raise validation_error(violations)
    if not _CREDENTIAL_ID.fullmatch(credential_id):
        raise validation_error(
            [
                constraint_violation(
                    credential_id, "serviceSpecificCredentialId", r"must satisfy regular expression pattern: [\w]+"
                )
            ]
        )
    return credential_id


def create(
    tx: Tx, account_id: str, user_name: str, service_name: str | None, box: Sealer, now: dt.datetime
) -> dict[str, Any]:
    user = get_user(tx, account_id, user_name)
    service = validate_service_name(service_name)
    check_quota(
        tx,
        QuotaOwner("User", user.user_id, user.name),
        lambda: store.count(tx, user.user_id, service),
        "ServiceSpecificCredentialsPerUserPerService",
        CREDENTIALS_PER_SERVICE,
    )
    credential = StoredCredential(
        credential_id=_new_credential_id(),
        user_name=user.name,
        service_name=service,
        service_user_name=f"{user.name}-at-{account_id}",
        status="Active",
        create_date=now,
    )
    password = _new_password()
    written_or_conflict(store.add(tx, user.user_id, credential, box.seal(password, credential.credential_id)))
    return credential_view(credential, password)


def listing(tx: Tx, account_id: str, user_name: str, service_name: str | None) -> list[Entry[dict[str, Any]]]:
    user = get_user(tx, account_id, user_name)
    found = store.credentials_of(tx, user.user_id, service_name)
    return [Entry(f"{c.create_date.isoformat()}:{c.credential_id}", credential_view(c)) for c in found]


def _credential(tx: Tx, account_id: str, user_name: str, credential_id: str | None) -> tuple[str, StoredCredential]:
    user = get_user(tx, account_id, user_name)
    wanted = validate_credential_id(credential_id)
    for credential in store.credentials_of(tx, user.user_id):
        if credential.credential_id == wanted:
            return user.user_id, credential
    raise AwsError("NoSuchEntity", f"No such credential {wanted} exists for user {user.name}.")


def update(tx: Tx, account_id: str, user_name: str, credential_id: str | None, status: str | None) -> None:
    if status is None:
        raise validation_error([constraint_violation(None, "status", "must not be null")])
    if status not in _STATUSES:
        raise validation_error(
            [constraint_violation(status, "status", f"must satisfy enum value set: [{', '.join(_STATUSES)}]")]
        )
    _user, credential = _credential(tx, account_id, user_name, credential_id)
    store.set_status(tx, credential.credential_id, status)


def reset(tx: Tx, account_id: str, user_name: str, credential_id: str | None, box: Sealer) -> dict[str, Any]:
    _user, credential = _credential(tx, account_id, user_name, credential_id)
    password = _new_password()
    store.set_password(tx, credential.credential_id, box.seal(password, credential.credential_id))
    return credential_view(credential, password)


def delete(tx: Tx, account_id: str, user_name: str, credential_id: str | None) -> None:
    _user, credential = _credential(tx, account_id, user_name, credential_id)
    store.remove(tx, credential.credential_id)
