"""Service-linked roles: CreateServiceLinkedRole, DeleteServiceLinkedRole, GetServiceLinkedRoleDeletionStatus."""

from __future__ import annotations

import datetime as dt
import uuid

from broker.iam.entities import Role
from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, length_violations, validation_error
from broker.iam.service_linked import is_service_linked, service_linked_role, validate_description
from broker.services.iam import roles
from broker.services.iam._kinds import ROLE
from broker.services.trust import rebind_principal
from broker.store import Tx
from broker.store.iam import instance_profiles, named, owned
from broker.store.iam import service_linked as store
from broker.store.iam.service_linked import DeletionTask

_TASK_ID_MAX = 1000


def create_service_linked_role(
    tx: Tx, account_id: str, *, service: str, description: str | None, custom_suffix: str | None, now: dt.datetime
) -> Role:
    spec = service_linked_role(service, custom_suffix)
    description = validate_description(description)
    if ROLE.find(tx, account_id, spec.name) is not None:
        raise AwsError(
            "InvalidInput",
            f"Service role name {spec.name} has been taken in this account, please try a different suffix.",
        )
    return roles.create_role(
        tx,
        account_id,
        name=spec.name,
        trust_policy=spec.trust_policy,
        path=spec.path,
        description=description,
        max_session_duration=None,
        permissions_boundary=None,
        tags=None,
        now=now,
        service_linked=True,
    )


def service_linked(tx: Tx, account_id: str, role_name: str) -> Role:
    role = roles.get_role(tx, account_id, role_name)
    if not is_service_linked(role.path):
        raise AwsError("InvalidInput", f"Role {role_name} is not a service-linked role.")
    return role


def delete_service_linked_role(tx: Tx, account_id: str, role_name: str, now: dt.datetime) -> str:
    """Delete the role and what its service attached to it; the task id GetServiceLinkedRoleDeletionStatus takes.

    AWS deletes asynchronously; here the task has ended (SUCCEEDED, or FAILED while an instance
    profile still holds the role) by the time its id is returned."""
    role = service_linked(tx, account_id, role_name)
    task_id = f"task{role.path}{role.name}/{uuid.uuid4()}"
    if instance_profiles.for_role(tx, role.role_id):
        task = DeletionTask(task_id, role.arn, "FAILED", "The role is in an instance profile.")
    else:
        for policy in owned.inline_policies(tx, "Role", role.role_id):
            owned.delete_inline_policy(tx, "Role", role.role_id, policy.name)
        for attached in owned.attached_policies(tx, "Role", role.role_id):
            owned.detach_policy(tx, "Role", role.role_id, attached.policy_id)
        ROLE.delete(tx, account_id, role.name, named.role_dependents)
        rebind_principal(tx, role.arn, role.role_id)
        task = DeletionTask(task_id, role.arn, "SUCCEEDED", None)
    store.record_deletion(tx, task, account_id, now)
    return task_id


def validate_task_id(deletion_task_id: str | None) -> str:
    if deletion_task_id is None:
        raise validation_error([constraint_violation(None, "deletionTaskId", "must not be null")])
    if length_violations(deletion_task_id, "deletionTaskId", 1, _TASK_ID_MAX):
        raise validation_error(length_violations(deletion_task_id, "deletionTaskId", 1, _TASK_ID_MAX))
    return deletion_task_id


def task_role_arn(account_id: str, deletion_task_id: str) -> str:
    """The role a task id names (``task/aws-service-role/SERVICE/ROLE/UUID``), for authorization."""
    path, _, _uuid = deletion_task_id.removeprefix("task").rpartition("/")
    return f"arn:aws:iam::{account_id}:role{path}"


def deletion_status(tx: Tx, account_id: str, deletion_task_id: str) -> DeletionTask:
    task = store.deletion(tx, account_id, validate_task_id(deletion_task_id))
    if task is None:
        raise AwsError("NoSuchEntity", f"Deletion task {deletion_task_id} cannot be found.")
    return task
