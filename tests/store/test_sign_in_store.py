"""The sign-in's store functions: frozen records out, every change a statement of the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator

import pytest

from broker.store import cli_auth, federation, models, trust_index
from broker.store.db import Database
from broker.store.iam.accounts import ensure_account

ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev"
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithSAML"}],
    }
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.transaction() as tx:
        ensure_account(tx, ACCOUNT, alias="dev-team", now=NOW)
        tx.add(
            models.Role(
                account_id=ACCOUNT,
                name="Dev",
                name_key="dev",
                path="/",
                role_id="AROAAAAAAAAAAAAAAAAAA",
                arn=ROLE,
                trust_policy=TRUST,
                description="developers",
                max_session_duration=7200,
                created_at=NOW,
            )
        )
        tx.flush()
        # Written straight to the table, as before the trusted-principal index: the backfill indexes it.
        assert trust_index.index_unindexed_roles(tx) == 1
    yield database
    database.dispose()


def test_trusting_roles_come_with_their_account_alias_and_record_their_use(db: Database) -> None:
    with db.transaction() as tx:
        [role] = federation.roles_trusting(tx, PROVIDER)
        assert (role.arn, role.account_alias, role.max_session_duration) == (ROLE, "dev-team", 7200)
        assert federation.trusting_role(tx, ROLE) == role
        assert federation.trusting_role(tx, ROLE + "x") is None
        with pytest.raises(dataclasses.FrozenInstanceError):
            role.trust_policy = "{}"  # type: ignore[misc]
        federation.mark_role_used(tx, role.role_id, NOW, "eu-west-1")
    with db.transaction() as tx:
        row = tx.query(models.Role).one()
        assert (row.last_used_at, row.last_used_region) == (NOW, "eu-west-1")


def _device(user_code: str = "ABCDEFGH") -> cli_auth.DeviceAuthorizationRecord:
    return cli_auth.DeviceAuthorizationRecord(
        device_code_hash="d" * 64,
        user_code=user_code,
        client_id="broker-cli",
        requested_role_arn=None,
        requested_duration=None,
        source_ip=None,
        interval_seconds=5,
        status="pending",
        created_at=NOW,
        expires_at=NOW + dt.timedelta(minutes=10),
    )


def test_a_device_authorization_is_polled_approved_and_consumed_once(db: Database) -> None:
    with db.transaction() as tx:
        assert cli_auth.add_device_authorization(tx, _device())
        assert not cli_auth.add_device_authorization(tx, dataclasses.replace(_device(), device_code_hash="e" * 64))
        cli_auth.record_device_poll(tx, "d" * 64, NOW, 10)
    with db.transaction() as tx:
        polled = cli_auth.device_authorization_by_user_code(tx, "ABCDEFGH")
        assert polled is not None and (polled.last_polled_at, polled.interval_seconds) == (NOW, 10)
        assert not cli_auth.consume_device_authorization(tx, "d" * 64, NOW)  # still pending
        cli_auth.approve_device_authorization(
            tx, "d" * 64, role_arn=ROLE, duration_seconds=900, web_session_hash="w" * 64, now=NOW
        )
    with db.transaction() as tx:
        assert cli_auth.consume_device_authorization(tx, "d" * 64, NOW)
        assert not cli_auth.consume_device_authorization(tx, "d" * 64, NOW)
        consumed = cli_auth.device_authorization(tx, "d" * 64)
        assert consumed is not None
        assert (consumed.status, consumed.role_arn, consumed.decided_at) == ("consumed", ROLE, NOW)


def test_an_authorization_code_is_granted_then_used_once(db: Database) -> None:
    request = cli_auth.AuthorizeRequest(
        client_id="broker-cli",
        redirect_uri="http://127.0.0.1:8400/callback",
        code_challenge="c" * 43,
        state="s",
        requested_role_arn=None,
        requested_duration=None,
        provider=None,
    )
    expires = NOW + dt.timedelta(minutes=10)
    with db.transaction() as tx:
        record = cli_auth.CliAuthorizationRecord(
            request_hash="r" * 64, created_at=NOW, expires_at=expires, **dataclasses.asdict(request)
        )
        cli_auth.add_cli_authorization(tx, record)
        assert cli_auth.cli_authorization(tx, "r" * 64) == record
        cli_auth.grant_cli_code(
            tx,
            "r" * 64,
            code_hash="k" * 64,
            code_expires_at=NOW,
            web_session_hash="w" * 64,
            role_arn=ROLE,
            duration_seconds=None,
        )
    with db.transaction() as tx:
        granted = cli_auth.cli_authorization_by_code(tx, "k" * 64)
        assert granted is not None and (granted.role_arn, granted.consumed_at) == (ROLE, None)
        assert cli_auth.consume_cli_code(tx, "k" * 64, NOW)
        assert not cli_auth.consume_cli_code(tx, "k" * 64, NOW)
