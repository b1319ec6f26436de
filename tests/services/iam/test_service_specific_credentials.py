"""Service-specific credentials through boto3: create, list, update, reset, delete; sealed at rest, never audited."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from broker.store import models
from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    allow,
    client,
    document,
    error,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
    user_with_key,
)
from tests.support.brokers import LiveBroker

CODECOMMIT = "codecommit.amazonaws.com"


def _sealed(broker: LiveBroker, credential_id: str) -> str:
    with broker.runtime.db.read() as tx:
        row = tx.scalar(
            select(models.ServiceSpecificCredential).where(
                models.ServiceSpecificCredential.credential_id == credential_id
            )
        )
        assert row is not None
        return row.password_sealed


def test_lifecycle(broker: LiveBroker, iam: Any) -> None:
    iam.create_user(UserName="git-user")
    created = iam.create_service_specific_credential(UserName="git-user", ServiceName=CODECOMMIT)[
        "ServiceSpecificCredential"
    ]
    credential_id = created["ServiceSpecificCredentialId"]
    assert credential_id.startswith("ACCA") and len(credential_id) == 21
    assert created["ServiceUserName"] == f"git-user-at-{ACCOUNT}"
    assert created["ServiceName"] == CODECOMMIT and created["UserName"] == "git-user"
    assert created["Status"] == "Active" and len(created["ServicePassword"]) == 44

    # Sealed at rest, like an access key's secret: the database never holds the password.
    sealed = _sealed(broker, credential_id)
    assert created["ServicePassword"] not in sealed and sealed.startswith("v1.")
    assert broker.runtime.box.open(sealed, credential_id) == created["ServicePassword"]

    listed = iam.list_service_specific_credentials(UserName="git-user")["ServiceSpecificCredentials"]
    assert listed == [
        {
            "UserName": "git-user",
            "Status": "Active",
            "ServiceUserName": f"git-user-at-{ACCOUNT}",
            "CreateDate": created["CreateDate"],
            "ServiceSpecificCredentialId": credential_id,
            "ServiceName": CODECOMMIT,
        }
    ]
    filtered = iam.list_service_specific_credentials(UserName="git-user", ServiceName="cassandra.amazonaws.com")
    assert filtered["ServiceSpecificCredentials"] == []

    iam.update_service_specific_credential(
        UserName="git-user", ServiceSpecificCredentialId=credential_id, Status="Inactive"
    )
    assert iam.list_service_specific_credentials(UserName="git-user")["ServiceSpecificCredentials"][0]["Status"] == (
        "Inactive"
    )
    reset = iam.reset_service_specific_credential(UserName="git-user", ServiceSpecificCredentialId=credential_id)[
        "ServiceSpecificCredential"
    ]
    assert reset["ServicePassword"] != created["ServicePassword"] and reset["Status"] == "Inactive"
    assert broker.runtime.box.open(_sealed(broker, credential_id), credential_id) == reset["ServicePassword"]

    # A user with a credential cannot be deleted until it is.
    assert error(iam.delete_user, UserName="git-user") == (
        "DeleteConflict",
        "Cannot delete entity, must delete service-specific credentials first.",
    )
    iam.delete_service_specific_credential(UserName="git-user", ServiceSpecificCredentialId=credential_id)
    assert iam.list_service_specific_credentials(UserName="git-user")["ServiceSpecificCredentials"] == []
    iam.delete_user(UserName="git-user")

    # No password reaches the audit trail.
    with broker.runtime.db.read() as tx:
        records = [
            json.dumps(event.record)
            for event in tx.scalars(
                select(models.AuditEvent).where(models.AuditEvent.event_name.like("%ServiceSpecificCredential"))
            )
        ]
    assert len(records) >= 4
    assert not any(p in r for r in records for p in (created["ServicePassword"], reset["ServicePassword"]))
    assert any(credential_id in r for r in records)


def test_errors(iam: Any) -> None:
    assert error(iam.create_service_specific_credential, UserName="nobody", ServiceName=CODECOMMIT) == (
        "NoSuchEntity",
        "The user with name nobody cannot be found.",
    )
    assert error(iam.list_service_specific_credentials, UserName="nobody") == (
        "NoSuchEntity",
        "The user with name nobody cannot be found.",
    )
    iam.create_user(UserName="svc-errors")
    assert error(iam.create_service_specific_credential, UserName="svc-errors", ServiceName="s3.amazonaws.com") == (
        "NotSupportedService",
        "Service s3.amazonaws.com is not supported.",
    )
    for _ in range(2):
        iam.create_service_specific_credential(UserName="svc-errors", ServiceName=CODECOMMIT)
    assert error(iam.create_service_specific_credential, UserName="svc-errors", ServiceName=CODECOMMIT) == (
        "LimitExceeded",
        "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: 2",
    )
    iam.create_service_specific_credential(UserName="svc-errors", ServiceName="cassandra.amazonaws.com")
    missing = "ACCAAAAAAAAAAAAAAAAAA"
    assert error(
        iam.delete_service_specific_credential, UserName="svc-errors", ServiceSpecificCredentialId=missing
    ) == (
        "NoSuchEntity",
        f"No such credential {missing} exists for user svc-errors.",
    )
    code_, message = error(
        iam.update_service_specific_credential,
        UserName="svc-errors",
        ServiceSpecificCredentialId=missing,
        Status="Paused",
    )
    assert code_ == "ValidationError" and "Active, Inactive" in message


def test_a_user_manages_its_own_credentials_when_allowed(broker: LiveBroker, iam: Any) -> None:
    own = f"arn:aws:iam::{ACCOUNT}:user/self-service"
    policy = document(allow(["iam:CreateServiceSpecificCredential", "iam:ListServiceSpecificCredentials"], own))
    key, secret = user_with_key(iam, "self-service", policy=policy)
    iam.create_user(UserName="someone-else")
    user = client(broker, "iam", key, secret)
    # CreateServiceSpecificCredential requires UserName (AWS's model); the other four default to the caller.
    assert error(user.create_service_specific_credential, ServiceName=CODECOMMIT)[0] == "ValidationError"
    created = user.create_service_specific_credential(UserName="self-service", ServiceName=CODECOMMIT)[
        "ServiceSpecificCredential"
    ]
    assert created["UserName"] == "self-service"
    assert len(user.list_service_specific_credentials()["ServiceSpecificCredentials"]) == 1
    code_, message = error(user.create_service_specific_credential, UserName="someone-else", ServiceName=CODECOMMIT)
    assert code_ == "AccessDenied" and "iam:CreateServiceSpecificCredential" in message
    assert (
        error(
            user.delete_service_specific_credential, ServiceSpecificCredentialId=created["ServiceSpecificCredentialId"]
        )[0]
        == "AccessDenied"
    )
