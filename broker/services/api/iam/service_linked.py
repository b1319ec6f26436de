"""IAM actions on service-linked roles."""

from __future__ import annotations

from typing import Any

from broker.iam import arn as arns
from broker.iam.service_linked import SERVICE_ROLE_PATH, validate_service_name
from broker.services.api.call import Call
from broker.services.api.iam.support import ROLE, authorize_on
from broker.services.api.registry import action
from broker.services.iam import service_linked
from broker.services.iam.views import role_view


@action("CreateServiceLinkedRole", "iam")
def create_service_linked_role(call: Call) -> dict[str, Any]:
    service = validate_service_name(call.params.required("AWSServiceName"))
    # Authorized on the service's role path; iam:AWSServiceName names the service.
    resource = f"arn:{arns.PARTITION}:iam::{call.account_id}:role{SERVICE_ROLE_PATH}{service}/*"
    call.authorize("iam:CreateServiceLinkedRole", resource, {"iam:AWSServiceName": service})
    role = service_linked.create_service_linked_role(
        call.tx,
        call.account_id,
        service=service,
        description=call.params.get("Description"),
        custom_suffix=call.params.get("CustomSuffix"),
        now=call.runtime.now(),
    )
    return {"Role": role_view(role, created=True)}


@action("DeleteServiceLinkedRole", "iam")
def delete_service_linked_role(call: Call) -> dict[str, Any]:
    name = ROLE.read(call.params)
    authorize_on(call, "Role", "iam:DeleteServiceLinkedRole", name)
    task_id = service_linked.delete_service_linked_role(call.tx, call.account_id, name, call.runtime.now())
    return {"DeletionTaskId": task_id}


@action("GetServiceLinkedRoleDeletionStatus", "iam", read_only=True)
def get_service_linked_role_deletion_status(call: Call) -> dict[str, Any]:
    task_id = service_linked.validate_task_id(call.params.get("DeletionTaskId"))
    call.authorize("iam:GetServiceLinkedRoleDeletionStatus", service_linked.task_role_arn(call.account_id, task_id))
    task = service_linked.deletion_status(call.tx, call.account_id, task_id)
    reason = {"Reason": task.reason, "RoleUsageList": []} if task.reason else None
    return {"Status": task.status, "Reason": reason}
