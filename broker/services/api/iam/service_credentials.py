"""IAM actions on users' service-specific credentials."""

from __future__ import annotations

from typing import Any

from broker.services.api.call import Call
from broker.services.api.iam.support import authorized_user, page
from broker.services.api.registry import action
from broker.services.iam import service_credentials as credentials


@action("CreateServiceSpecificCredential", "iam")
def create_service_specific_credential(call: Call) -> dict[str, Any]:
    name = authorized_user(call, "iam:CreateServiceSpecificCredential")
    service = call.params.get("ServiceName")
    created = credentials.create(call.tx, call.account_id, name, service, call.runtime.box, call.runtime.now())
    return {"ServiceSpecificCredential": created}


@action("ListServiceSpecificCredentials", "iam", read_only=True)
def list_service_specific_credentials(call: Call) -> dict[str, Any]:
    name = authorized_user(call, "iam:ListServiceSpecificCredentials")
    found = credentials.listing(call.tx, call.account_id, name, call.params.get("ServiceName"))
    return page(call, found, "ServiceSpecificCredentials")


@action("UpdateServiceSpecificCredential", "iam")
def update_service_specific_credential(call: Call) -> None:
    name = authorized_user(call, "iam:UpdateServiceSpecificCredential")
    credential_id = call.params.get("ServiceSpecificCredentialId")
    credentials.update(call.tx, call.account_id, name, credential_id, call.params.get("Status"))


@action("ResetServiceSpecificCredential", "iam")
def reset_service_specific_credential(call: Call) -> dict[str, Any]:
    name = authorized_user(call, "iam:ResetServiceSpecificCredential")
    credential_id = call.params.get("ServiceSpecificCredentialId")
    reset = credentials.reset(call.tx, call.account_id, name, credential_id, call.runtime.box)
    return {"ServiceSpecificCredential": reset}


@action("DeleteServiceSpecificCredential", "iam")
def delete_service_specific_credential(call: Call) -> None:
    name = authorized_user(call, "iam:DeleteServiceSpecificCredential")
    credentials.delete(call.tx, call.account_id, name, call.params.get("ServiceSpecificCredentialId"))
