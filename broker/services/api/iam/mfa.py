"""Virtual MFA devices. The seed and QR code appear in CreateVirtualMFADevice's response only
(never in the audit, never again); codes are checked by :mod:`broker.services.iam.mfa`."""

from __future__ import annotations

import base64
from typing import Any

from broker.iam.names import validate_authentication_code, validate_existing_user_name, validate_serial_number
from broker.services.api.call import Call
from broker.services.api.iam import shared
from broker.services.api.iam.support import (
    MFA_DEVICE,
    authorize_on,
    page,
    request_tags,
    target_user_name,
)
from broker.services.api.registry import action
from broker.services.iam import mfa
from broker.services.iam.resources import resource_arn
from broker.services.iam.views import tag_list


@action("CreateVirtualMFADevice", "iam")
def create_virtual_mfa_device(call: Call) -> dict[str, Any]:
    name = call.params.get("VirtualMFADeviceName")
    path = call.params.get("Path")
    tags = call.params.tags()
    call.authorize(
        "iam:CreateVirtualMFADevice", resource_arn("mfa", call.account_id, name or "", path), request_tags(tags)
    )
    created = mfa.create_virtual_mfa_device(
        call.tx, call.runtime.box, call.account_id, name, path, call.runtime.now(), tags
    )
    # Both are blobs on the wire: base64 of the seed's Base32 text, and of the PNG.
    device: dict[str, Any] = {
        "SerialNumber": created.serial_number,
        "Base32StringSeed": base64.b64encode(created.base32_seed.encode("ascii")).decode("ascii"),
        "QRCodePNG": created.qr_code_png,
        "Tags": tag_list(created.tags) or None,
    }
    return {"VirtualMFADevice": device}


def _code_pair(call: Call, action_name: str) -> mfa.CodePair:
    name = validate_existing_user_name(call.params.required("UserName"), "userName")
    serial = validate_serial_number(call.params.get("SerialNumber"))
    code1 = validate_authentication_code(call.params.get("AuthenticationCode1"), "authenticationCode1")
    code2 = validate_authentication_code(call.params.get("AuthenticationCode2"), "authenticationCode2")
    authorize_on(call, "User", action_name, name)
    return mfa.CodePair(name, serial, code1, code2)


@action("EnableMFADevice", "iam")
def enable_mfa_device(call: Call) -> None:
    pair = _code_pair(call, "iam:EnableMFADevice")
    mfa.enable_mfa_device(call.tx, call.runtime.box, call.account_id, pair, call.runtime.now())


@action("ResyncMFADevice", "iam")
def resync_mfa_device(call: Call) -> None:
    pair = _code_pair(call, "iam:ResyncMFADevice")
    mfa.resync_mfa_device(call.tx, call.runtime.box, call.account_id, pair, call.runtime.now())


@action("DeactivateMFADevice", "iam")
def deactivate_mfa_device(call: Call) -> None:
    name = validate_existing_user_name(target_user_name(call), "userName")
    serial = validate_serial_number(call.params.get("SerialNumber"))
    authorize_on(call, "User", "iam:DeactivateMFADevice", name)
    mfa.deactivate_mfa_device(call.tx, call.account_id, name, serial)


@action("DeleteVirtualMFADevice", "iam")
def delete_virtual_mfa_device(call: Call) -> None:
    serial = MFA_DEVICE.authorized(call, "iam:DeleteVirtualMFADevice")
    mfa.delete_virtual_mfa_device(call.tx, call.account_id, serial)


@action("ListVirtualMFADevices", "iam", read_only=True)
def list_virtual_mfa_devices(call: Call) -> dict[str, Any]:
    status = call.params.get("AssignmentStatus")
    call.authorize("iam:ListVirtualMFADevices", "*")
    return page(call, mfa.virtual_devices(call.tx, call.account_id, status), "VirtualMFADevices")


shared.register_user_listing("ListMFADevices", mfa.list_mfa_devices, "MFADevices")
shared.register_tagging(MFA_DEVICE)
