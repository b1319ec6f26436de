from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from broker.iam.arn import role_arn, saml_provider_arn
from broker.iam.entities import (
    AccessKey,
    Account,
    Group,
    InlinePolicy,
    ManagedPolicy,
    MfaDevice,
    PolicyDocument,
    PolicyVersion,
    PrincipalPolicies,
    Role,
    SamlProvider,
    Tag,
    User,
)

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_role(**overrides: object) -> Role:
    fields: dict[str, object] = {
        "account_id": "123456789012",
        "name": "Deploy",
        "path": "/ci/",
        "role_id": "AROAZ2Z3Z4Z5Z6Z7ABCDE",
        "arn": role_arn("123456789012", "Deploy", "/ci/"),
        "trust_policy": '{"Version": "2012-10-17", "Statement": []}',
        "create_date": CREATED,
    }
    fields.update(overrides)
    return Role(**fields)  # type: ignore[arg-type]


def test_role_defaults() -> None:
    role = make_role()
    assert role.max_session_duration == 3600
    assert role.description is None
    assert role.permissions_boundary_arn is None
    assert role.tags == {}


def test_entities_are_frozen_values() -> None:
    role = make_role(tags={"team": "ops"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        role.name = "Other"  # type: ignore[misc]
    assert role == make_role(tags={"team": "ops"})
    assert role != make_role(tags={"team": "dev"})
    assert dataclasses.replace(role, max_session_duration=7200).max_session_duration == 7200


def test_entities_with_many_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Role("123456789012", "Deploy", "/", "AROA", "arn", "{}", None, 3600, None, CREATED)  # type: ignore[call-arg]


def test_other_entities() -> None:
    assert Account("123456789012").alias is None
    assert Tag("k", "v") == Tag(key="k", value="v")
    user = User(
        account_id="123456789012",
        name="alice",
        path="/",
        user_id="AIDAZ2Z3Z4Z5Z6Z7ABCDE",
        arn="arn:aws:iam::123456789012:user/alice",
        create_date=CREATED,
    )
    assert user.tags == {}
    group = Group(
        account_id="123456789012",
        name="Admins",
        path="/",
        group_id="AGPAZ2Z3Z4Z5Z6Z7ABCDE",
        arn="arn:aws:iam::123456789012:group/Admins",
        create_date=CREATED,
    )
    assert group.name == "Admins"
    provider = SamlProvider(
        account_id="123456789012",
        name="Okta",
        arn=saml_provider_arn("123456789012", "Okta"),
        metadata_xml="<EntityDescriptor/>",
        create_date=CREATED,
    )
    assert provider.valid_until is None
    key = AccessKey(access_key_id="AKIAZ2Z3Z4Z5Z6Z7ABCD", user_name="alice", status="Active", create_date=CREATED)
    assert "secret" not in {f.name for f in dataclasses.fields(key)}
    assert key.last_used_date is None and key.last_used_service is None


def test_managed_policies_and_versions() -> None:
    policy = ManagedPolicy(
        account_id="aws",
        name="ReadOnlyAccess",
        path="/",
        policy_id="ANPAZ2Z3Z4Z5Z6Z7ABCDE",
        arn="arn:aws:iam::aws:policy/ReadOnlyAccess",
        default_version_id="v1",
        create_date=CREATED,
        update_date=CREATED,
    )
    assert policy.is_aws_managed and policy.description is None and policy.tags == {}
    version = PolicyVersion(version_id="v1", number=1, document="{}", is_default=True, create_date=CREATED)
    assert version.is_default


def test_what_authorization_reads() -> None:
    stored = PolicyDocument("arn:aws:iam::aws:policy/ReadOnlyAccess", None)
    assert stored.is_aws_managed and stored.document is None
    assert not PolicyDocument("arn:aws:iam::123456789012:policy/Mine", "{}").is_aws_managed
    group = PrincipalPolicies(
        kind="group",
        account_id="123456789012",
        name="Admins",
        arn="arn:aws:iam::123456789012:group/Admins",
        unique_id="AGPAZ2Z3Z4Z5Z6Z7ABCDE",
        inline=(InlinePolicy("all", "{}"),),
    )
    user = PrincipalPolicies(
        kind="user",
        account_id="123456789012",
        name="alice",
        arn="arn:aws:iam::123456789012:user/alice",
        unique_id="AIDAZ2Z3Z4Z5Z6Z7ABCDE",
        groups=(group,),
    )
    assert user.groups[0].inline[0].name == "all" and user.attached == () and user.permissions_boundary_arn is None


def test_mfa_devices_carry_no_seed() -> None:
    device = MfaDevice(
        serial_number="arn:aws:iam::123456789012:mfa/phone",
        account_id="123456789012",
        name="phone",
        path="/",
        create_date=CREATED,
    )
    assert device.user is None and device.enable_date is None
    assert not {"seed", "seed_sealed"} & {f.name for f in dataclasses.fields(device)}
