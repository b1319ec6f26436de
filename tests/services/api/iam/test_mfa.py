"""Virtual MFA devices and MFA sessions through boto3 against a live broker.

Codes are computed from the returned seed with the broker's own TOTP module at an explicit time:
a device is enabled with the codes of the previous and the current 30 s step, and the next
sign-in uses the code of the following step (one step of drift is accepted).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from broker.iam import limits, totp
from broker.store import models
from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    ACCOUNT,
    allow,
    client,
    deny,
    document,
    error,
    module_broker,
    module_iam,
    user_with_key,
)
from tests.support.brokers import LiveBroker


def _new_device(iam: Any, name: str) -> tuple[str, bytes]:
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    return device["SerialNumber"], totp.seed_from_base32(device["Base32StringSeed"].decode("ascii"))


def _enabled_device(iam: Any, user: str, name: str) -> tuple[str, bytes, float]:
    serial, seed = _new_device(iam, name)
    now = time.time()
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1=totp.totp(seed, now - 30),
        AuthenticationCode2=totp.totp(seed, now),
    )
    return serial, seed, now


def _wrong_code(seed: bytes, now: float) -> str:
    valid = {totp.totp(seed, now + 30 * k) for k in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(0, 1_000_000, 7919)) if c not in valid)


def test_virtual_device_lifecycle(broker: LiveBroker, iam: Any) -> None:
    iam.create_user(UserName="mfa-alice")
    created = iam.create_virtual_mfa_device(
        VirtualMFADeviceName="alice-phone", Path="/phones/", Tags=[{"Key": "team", "Value": "blue"}]
    )["VirtualMFADevice"]
    serial = created["SerialNumber"]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/phones/alice-phone"
    seed_text = created["Base32StringSeed"].decode("ascii")
    assert len(seed_text) == 64
    seed = totp.seed_from_base32(seed_text)
    assert created["QRCodePNG"].startswith(b"\x89PNG")  # the otpauth:// URI as a QR code
    assert created["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "owner", "Value": "alice"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["team"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "owner", "Value": "alice"}]
    missing = f"arn:aws:iam::{ACCOUNT}:mfa/missing"
    assert error(iam.list_mfa_device_tags, SerialNumber=missing)[0] == "NoSuchEntity"
    assert error(iam.create_virtual_mfa_device, VirtualMFADeviceName="alice-phone")[0] == "EntityAlreadyExists"
    assert error(iam.create_virtual_mfa_device, VirtualMFADeviceName="bad name!")[0] == "ValidationError"

    # The seed is sealed at rest and never returned again.
    with broker.runtime.db.transaction() as session:
        row = session.get(models.MfaDevice, serial)
        assert row is not None and seed_text not in row.seed_sealed
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert [d["SerialNumber"] for d in unassigned] == [serial]
    assert "Base32StringSeed" not in unassigned[0] and "QRCodePNG" not in unassigned[0]
    assert iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"] == []
    assert error(iam.list_virtual_mfa_devices, AssignmentStatus="Some")[0] == "ValidationError"

    now = time.time()
    wrong = _wrong_code(seed, now)
    bad = error(
        iam.enable_mfa_device,
        UserName="mfa-alice",
        SerialNumber=serial,
        AuthenticationCode1=wrong,
        AuthenticationCode2=totp.totp(seed, now),
    )
    assert bad == ("InvalidAuthenticationCode", "Authentication code for device is not valid.")
    # Not consecutive (the same code twice) is refused too.
    assert (
        error(
            iam.enable_mfa_device,
            UserName="mfa-alice",
            SerialNumber=serial,
            AuthenticationCode1=totp.totp(seed, now),
            AuthenticationCode2=totp.totp(seed, now),
        )[0]
        == "InvalidAuthenticationCode"
    )
    assert (
        error(
            iam.enable_mfa_device,
            UserName="mfa-alice",
            SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/nothing",
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )[0]
        == "NoSuchEntity"
    )
    iam.enable_mfa_device(
        UserName="mfa-alice",
        SerialNumber=serial,
        AuthenticationCode1=totp.totp(seed, now - 30),
        AuthenticationCode2=totp.totp(seed, now),
    )
    listed = iam.list_mfa_devices(UserName="mfa-alice")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in listed] == [("mfa-alice", serial)]
    assert "EnableDate" in listed[0]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert assigned[0]["User"]["UserName"] == "mfa-alice" and "EnableDate" in assigned[0]
    assert assigned[0]["Tags"] == [{"Key": "owner", "Value": "alice"}]
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"][0]["SerialNumber"] == serial
    assert error(
        iam.enable_mfa_device,
        UserName="mfa-alice",
        SerialNumber=serial,
        AuthenticationCode1=totp.totp(seed, now),
        AuthenticationCode2=totp.totp(seed, now + 30),
    ) == ("EntityAlreadyExists", "MFA Device is already in use.")
    assert error(iam.delete_virtual_mfa_device, SerialNumber=serial) == (
        "DeleteConflict",
        "MFA Device is still in use.",
    )

    assert error(iam.delete_user, UserName="mfa-alice") == (
        "DeleteConflict",
        "Cannot delete entity, must delete MFA device first.",
    )

    # Resync with two later consecutive codes (a device whose clock ran ahead).
    iam.resync_mfa_device(
        UserName="mfa-alice",
        SerialNumber=serial,
        AuthenticationCode1=totp.totp(seed, now + 90),
        AuthenticationCode2=totp.totp(seed, now + 120),
    )
    assert (
        error(
            iam.resync_mfa_device,
            UserName="mfa-alice",
            SerialNumber=serial,
            AuthenticationCode1=totp.totp(seed, now + 90),
            AuthenticationCode2=totp.totp(seed, now + 120),
        )[0]
        == "InvalidAuthenticationCode"
    )  # the same codes again: a replay

    assert error(iam.deactivate_mfa_device, UserName="mfa-alice", SerialNumber=f"{serial}x")[0] == "NoSuchEntity"
    iam.deactivate_mfa_device(UserName="mfa-alice", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="mfa-alice")["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(iam.delete_virtual_mfa_device, SerialNumber=serial)[0] == "NoSuchEntity"
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    iam.delete_user(UserName="mfa-alice")


def test_device_quota_per_user(iam: Any) -> None:
    iam.create_user(UserName="mfa-many")
    serials = [_enabled_device(iam, "mfa-many", f"many-{i}")[0] for i in range(limits.MFA_DEVICES_PER_USER)]
    serial, seed = _new_device(iam, "many-extra")
    now = time.time()
    assert error(
        iam.enable_mfa_device,
        UserName="mfa-many",
        SerialNumber=serial,
        AuthenticationCode1=totp.totp(seed, now - 30),
        AuthenticationCode2=totp.totp(seed, now),
    ) == ("LimitExceeded", "Cannot exceed quota for MFADevicesPerUser: 8")
    page = iam.list_mfa_devices(UserName="mfa-many", MaxItems=5)
    assert page["IsTruncated"] and len(page["MFADevices"]) == 5
    rest = iam.list_mfa_devices(UserName="mfa-many", Marker=page["Marker"])["MFADevices"]
    assert sorted(d["SerialNumber"] for d in page["MFADevices"] + rest) == sorted(serials)
    for each in serials:
        iam.deactivate_mfa_device(UserName="mfa-many", SerialNumber=each)
        iam.delete_virtual_mfa_device(SerialNumber=each)
    iam.delete_virtual_mfa_device(SerialNumber=serial)


MFA_POLICY = document(
    # Only with MFA: long-term keys carry no aws:MultiFactorAuthPresent, so Bool does not match.
    allow("iam:ListUsers", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
    allow("iam:ListRoles", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
    # The classic deny: BoolIfExists ... false also denies long-term keys (the key is absent).
    allow("iam:ListGroups"),
    deny("iam:ListGroups", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
    allow(["sts:AssumeRole", "iam:ListMFADevices"]),
)


def _mfa_role(iam: Any, name: str) -> str:
    trust = document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    )
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name, PolicyName="read", PolicyDocument=document(allow(["iam:ListUsers", "sts:AssumeRole"]))
    )
    return arn


def test_mfa_session_satisfies_mfa_policies_and_the_plain_key_does_not(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "mfa-bob", policy=MFA_POLICY)
    serial, seed, now = _enabled_device(iam, "mfa-bob", "bob-phone")
    plain_iam = client(broker, "iam", key, secret)
    plain_sts = client(broker, "sts", key, secret)
    assert error(plain_iam.list_users)[0] == "AccessDenied"
    assert error(plain_iam.list_roles)[0] == "AccessDenied"
    assert error(plain_iam.list_groups)[0] == "AccessDenied"
    assert plain_iam.list_mfa_devices()["MFADevices"][0]["SerialNumber"] == serial  # the caller's own

    # Not the caller's device, or no such device: AccessDenied, as STS answers.
    assert error(plain_sts.get_session_token, SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/other", TokenCode="123456")[
        0
    ] == ("AccessDenied")
    code = totp.totp(seed, now + 30)
    credentials = plain_sts.get_session_token(SerialNumber=serial, TokenCode=code)["Credentials"]
    # A code is accepted once.
    replay = error(plain_sts.get_session_token, SerialNumber=serial, TokenCode=code)
    assert replay[0] == "AccessDenied" and "already used" in replay[1]

    mfa_iam = client(
        broker, "iam", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assert any(u["UserName"] == "mfa-bob" for u in mfa_iam.list_users()["Users"])
    mfa_iam.list_roles()
    mfa_iam.list_groups()

    # A session without MFA may not call IAM at all (AWS answers InvalidClientTokenId).
    no_mfa = plain_sts.get_session_token()["Credentials"]
    no_mfa_iam = client(broker, "iam", no_mfa["AccessKeyId"], no_mfa["SecretAccessKey"], no_mfa["SessionToken"])
    assert error(no_mfa_iam.list_users)[0] == "InvalidClientTokenId"

    # The MFA session can assume a role whose trust policy requires MFA; the plain key cannot,
    # and role chaining keeps the MFA of the calling session.
    role_arn = _mfa_role(iam, "needs-mfa")
    assert error(plain_sts.assume_role, RoleArn=role_arn, RoleSessionName="plain")[0] == "AccessDenied"
    mfa_sts = client(
        broker, "sts", credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assumed = mfa_sts.assume_role(RoleArn=role_arn, RoleSessionName="with-mfa")["Credentials"]
    chained_sts = client(broker, "sts", assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    chained = chained_sts.assume_role(RoleArn=role_arn, RoleSessionName="chained")["Credentials"]
    chained_iam = client(broker, "iam", chained["AccessKeyId"], chained["SecretAccessKey"], chained["SessionToken"])
    chained_iam.list_users()


def test_assume_role_with_a_token_code(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "mfa-carol", policy=MFA_POLICY)
    serial, seed, now = _enabled_device(iam, "mfa-carol", "carol-phone")
    role_arn = _mfa_role(iam, "needs-mfa-too")
    sts = client(broker, "sts", key, secret)
    assumed = sts.assume_role(
        RoleArn=role_arn, RoleSessionName="carol", SerialNumber=serial, TokenCode=totp.totp(seed, now + 30)
    )["Credentials"]
    role_iam = client(broker, "iam", assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    role_iam.list_users()
    assert (
        error(sts.assume_role, RoleArn=role_arn, RoleSessionName="again", SerialNumber=serial, TokenCode="12")[0]
        == "ValidationError"
    )


def test_wrong_codes_are_throttled_and_audited(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "mfa-dave", policy=MFA_POLICY)
    serial, seed, now = _enabled_device(iam, "mfa-dave", "dave-phone")
    sts = client(broker, "sts", key, secret)
    wrong = _wrong_code(seed, now)
    for _ in range(limits.MFA_MAX_FAILURES):
        assert error(sts.get_session_token, SerialNumber=serial, TokenCode=wrong) == (
            "AccessDenied",
            "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
        )
    # Locked: even the right code is refused for a while.
    locked = error(sts.get_session_token, SerialNumber=serial, TokenCode=totp.totp(seed, now + 30))
    assert locked[0] == "AccessDenied" and "too many failed MFA attempts" in locked[1]
    with broker.runtime.db.transaction() as session:
        device = session.get(models.MfaDevice, serial)
        assert device is not None and device.locked_until is not None
        events = session.scalars(
            select(models.AuditEvent).where(
                models.AuditEvent.event_name == "GetSessionToken", models.AuditEvent.username == "mfa-dave"
            )
        ).all()
        assert [e.error_code for e in events].count("AccessDenied") == limits.MFA_MAX_FAILURES + 1
        assert all(e.record["requestParameters"].get("serialNumber", serial) == serial for e in events)
        assert not any("tokenCode" in (e.record["requestParameters"] or {}) for e in events)
        assert not any("TokenCode" in (e.record["requestParameters"] or {}) for e in events)
