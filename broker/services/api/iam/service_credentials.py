"""IAM actions on users' service-specific credentials."""

from __future__ import annotations

from typing import Any

from broker.iam.names import validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import authorized_user, page
from broker.services.api.registry import action
from broker.services.iam import service_credentials as credentials
from broker.services.iam.service_credentials import validate_credential_id


@action("CreateServiceSpecificCredential", "iam")
def create_service_specific_credential(call: Call) -> dict[str, Any]:
    # Both are required here (the other actions default to the calling user), and checked, as AWS
    # checks its input, before the user is looked up.
    call.params.required("UserName")
    service = call.params.required("ServiceName")
    name = authorized_user(call, "iam:CreateServiceSpecificCredential", validate_user_name)
    created = credentials.create(call.tx, call.account_id, name, service, call.runtime.box, call.runtime.now())
    return {"ServiceSpecificCredential": created}


@action("ListServiceSpecificCredentials", "iam", read_only=True)
def list_service_specific_credentials(call: Call) -> dict[str, Any]:
    name = authorized_user(call, "iam:ListServiceSpecificCredentials", validate_user_name)
    found = credentials.listing(call.tx, call.account_id, name, call.params.get("ServiceName"))
    return page(call, found, "ServiceSpecificCredentials")


@action("UpdateServiceSpecificCredential", "iam")
def update_service_specific_credential(call: Call) -> None:
    credential_id = validate_credential_id(call.params.get("ServiceSpecificCredentialId"))
    name = authorized_user(call, "iam:UpdateServiceSpecificCredential", validate_user_name)
    credentials.update(call.tx, call.account_id, name, credential_id, call.params.get("Status"))


@action("ResetServiceSpecificCredential", "iam")
def reset_service_specific_credential(call: Call) -> dict[str, Any]:
    credential_id = validate_credential_id(call.params.get("ServiceSpecificCredentialId"))
    name = authorized_user(call, "iam:ResetServiceSpecificCredential", validate_user_name)
    reset = credentials.reset(call.tx, call.account_id, name, credential_id, call.runtime.box)
    return {"ServiceSpecificCredential": reset}


@action("DeleteServiceSpecificCredential", "iam")
def delete_service_specific_credential(call: Call) -> None:
    credential_id = validate_credential_id(call.params.get("ServiceSpecificCredentialId"))
    name = authorized_user(call, "iam:DeleteServiceSpecificCredential", validate_user_name)
    credentials.delete(call.tx, call.account_id, name, credential_id)
