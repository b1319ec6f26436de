"""Virtual MFA devices. The seed and QR code appear in CreateVirtualMFADevice's response only
(never in the audit, never again); codes are checked by :mod:`broker.services.iam.mfa`."""

from __future__ import annotations

import base64
from typing import Any

from broker.iam import arn as arns
from broker.iam.errors import AwsError
from broker.iam.names import validate_user_name
from broker.services.api.call import Call
from broker.services.api.iam.support import (
    authorize_on_user,
    page,
    request_tags,
    required_members,
    required_tags,
    resource_tags,
    tag_page,
    target_user_name,
)
from broker.services.api.registry import action
from broker.services.iam import mfa, users
from broker.services.iam._common import merged_tags, tag_list, without_tags
from broker.services.iam.views import user_view
from broker.store import models
from broker.store import repositories as repo


def _device_arn(call: Call, name: str | None, path: str | None) -> str:
    try:
        return arns.mfa_arn(call.account_id, name or "", path or "/")
    except (arns.InvalidArn, AwsError):
        return f"arn:aws:iam::{call.account_id}:mfa{path or '/'}{name or ''}"


def _authorize_on_device(call: Call, action_name: str, serial_number: str) -> None:
    device = repo.mfa_device(call.session, serial_number)
    context = resource_tags(device.tags) if device is not None and device.account_id == call.account_id else {}
    call.authorize(action_name, serial_number, context)


@action("CreateVirtualMFADevice", "iam")
def create_virtual_mfa_device(call: Call) -> dict[str, Any]:
    name = call.params.get("VirtualMFADeviceName")
    path = call.params.get("Path")
    tags = call.params.tags()
    call.authorize("iam:CreateVirtualMFADevice", _device_arn(call, name, path), request_tags(tags))
    created = mfa.create_virtual_mfa_device(
        call.session, call.runtime.box, call.account_id, name, path, call.runtime.now(), tags
    )
    # Both are blobs on the wire: base64 of the seed's Base32 text, and of the PNG.
    device: dict[str, Any] = {
        "SerialNumber": created.device.serial_number,
        "Base32StringSeed": base64.b64encode(created.base32_seed.encode("ascii")).decode("ascii"),
        "QRCodePNG": created.qr_code_png,
        "Tags": tag_list(created.device.tags) or None,
    }
    return {"VirtualMFADevice": device}


def _user_and_codes(call: Call, action_name: str) -> tuple[models.User, str, str, str]:
    name = validate_user_name(call.params.required("UserName"), "userName")
    serial = mfa.validate_serial_number(call.params.get("SerialNumber"))
    code1 = mfa.validate_code(call.params.get("AuthenticationCode1"), "authenticationCode1")
    code2 = mfa.validate_code(call.params.get("AuthenticationCode2"), "authenticationCode2")
    authorize_on_user(call, action_name, name)
    return users.get_user(call.session, call.account_id, name), serial, code1, code2


@action("EnableMFADevice", "iam")
def enable_mfa_device(call: Call) -> None:
    user, serial, code1, code2 = _user_and_codes(call, "iam:EnableMFADevice")
    mfa.enable_mfa_device(call.session, call.runtime.box, user, serial, code1, code2, call.runtime.now())
    return None


@action("ResyncMFADevice", "iam")
def resync_mfa_device(call: Call) -> None:
    user, serial, code1, code2 = _user_and_codes(call, "iam:ResyncMFADevice")
    mfa.resync_mfa_device(call.session, call.runtime.box, user, serial, code1, code2, call.runtime.now())
    return None


@action("DeactivateMFADevice", "iam")
def deactivate_mfa_device(call: Call) -> None:
    name = validate_user_name(target_user_name(call), "userName")
    serial = mfa.validate_serial_number(call.params.get("SerialNumber"))
    authorize_on_user(call, "iam:DeactivateMFADevice", name)
    user = users.get_user(call.session, call.account_id, name)
    mfa.deactivate_mfa_device(call.session, user, serial)
    return None


@action("DeleteVirtualMFADevice", "iam")
def delete_virtual_mfa_device(call: Call) -> None:
    serial = mfa.validate_serial_number(call.params.get("SerialNumber"))
    _authorize_on_device(call, "iam:DeleteVirtualMFADevice", serial)
    mfa.delete_virtual_mfa_device(call.session, call.account_id, serial)
    return None


@action("ListMFADevices", "iam", read_only=True)
def list_mfa_devices(call: Call) -> dict[str, Any]:
    name = validate_user_name(target_user_name(call), "userName")
    authorize_on_user(call, "iam:ListMFADevices", name)
    user = users.get_user(call.session, call.account_id, name)
    return page(
        call,
        mfa.devices_of_user(call.session, user),
        lambda d: d.serial_number,
        "MFADevices",
        lambda d: {"UserName": user.name, "SerialNumber": d.serial_number, "EnableDate": d.enabled_at},
    )


def _virtual_view(device: models.MfaDevice) -> dict[str, Any]:
    return {
        "SerialNumber": device.serial_number,
        "User": user_view(device.user, listing=True) if device.user is not None else None,
        "EnableDate": device.enabled_at,
        "Tags": tag_list(device.tags) or None,
    }


@action("ListVirtualMFADevices", "iam", read_only=True)
def list_virtual_mfa_devices(call: Call) -> dict[str, Any]:
    status = call.params.get("AssignmentStatus")
    call.authorize("iam:ListVirtualMFADevices", "*")
    devices = mfa.virtual_devices(call.session, call.account_id, status)
    return page(call, devices, lambda d: d.serial_number, "VirtualMFADevices", _virtual_view)


def _tagged_device(call: Call, action_name: str, extra: dict[str, Any] | None = None) -> models.MfaDevice:
    serial = mfa.validate_serial_number(call.params.get("SerialNumber"))
    device = repo.mfa_device(call.session, serial)
    context = resource_tags(device.tags) if device is not None and device.account_id == call.account_id else {}
    context.update(extra or {})
    call.authorize(action_name, serial, context)
    return mfa.device_in_account(call.session, call.account_id, serial)


@action("TagMFADevice", "iam")
def tag_mfa_device(call: Call) -> None:
    tags = required_tags(call)
    device = _tagged_device(call, "iam:TagMFADevice", request_tags(tags))
    device.tags = merged_tags(device.tags, tags, "MFADevice")
    return None


@action("UntagMFADevice", "iam")
def untag_mfa_device(call: Call) -> None:
    keys = required_members(call, "TagKeys")
    device = _tagged_device(call, "iam:UntagMFADevice", {"aws:TagKeys": keys})
    device.tags = without_tags(device.tags, keys)
    return None


@action("ListMFADeviceTags", "iam", read_only=True)
def list_mfa_device_tags(call: Call) -> dict[str, Any]:
    return tag_page(call, _tagged_device(call, "iam:ListMFADeviceTags").tags)
