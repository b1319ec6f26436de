"""Rows and entities convert both ways without a database: every field lands in its column."""

from __future__ import annotations

import datetime as dt

from broker.iam.entities import MfaDevice, SamlProvider
from broker.store import models
from broker.store.iam import _values as values

CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_a_provider_round_trips_through_its_row() -> None:
    provider = SamlProvider(
        account_id="123456789012",
        name="Okta",
        arn="arn:aws:iam::123456789012:saml-provider/Okta",
        metadata_xml="<EntityDescriptor/>",
        create_date=CREATED,
        tags={"team": "ops"},
    )
    row = models.SamlProvider(**values.columns(provider), entity_id="https://idp", options={}, source="api")
    assert row.name_key == "okta" and row.created_at == CREATED
    assert values.saml_provider(row) == provider


def test_a_device_round_trips_and_names_its_user() -> None:
    device = MfaDevice(
        serial_number="arn:aws:iam::123456789012:mfa/phone",
        account_id="123456789012",
        name="phone",
        path="/",
        create_date=CREATED,
    )
    row = models.MfaDevice(**values.columns(device, leave_out=("user",)), seed_sealed="x")
    assert values.mfa_device(row, None) == device
    owner = models.User(
        account_id="123456789012",
        name="alice",
        name_key="alice",
        path="/",
        user_id="AIDAZ2Z3Z4Z5Z6Z7ABCDE",
        arn="arn:aws:iam::123456789012:user/alice",
        created_at=CREATED,
        tags=None,
    )
    named = values.mfa_device(row, owner)
    assert named.user is not None and named.user.name == "alice" and named.user.tags == {}


def test_an_absent_description_is_none() -> None:
    row = models.Role(
        account_id="123456789012",
        name="Deploy",
        path="/",
        role_id="AROAZ2Z3Z4Z5Z6Z7ABCDE",
        arn="arn:aws:iam::123456789012:role/Deploy",
        trust_policy="{}",
        description="",
        max_session_duration=3600,
        created_at=CREATED,
        tags={},
    )
    role = values.role(row)
    assert role.description is None and role.last_used_date is None
