"""The IAM tables on SQLite and PostgreSQL: seeded AWS-managed policies, uniqueness, what the
database itself refuses or cascades, and migration 0002 going down and up again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError

from broker.services.iam import groups, policies, users
from broker.store import models
from broker.store.db import MIGRATIONS_DIR, Database
from broker.store.iam import accounts, credentials
from broker.store.iam import policies as stored_policies

ACCOUNT = "123456789012"
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
DOCUMENT = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]}'


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.transaction() as session:
        accounts.ensure_account(session, ACCOUNT, now=NOW)
    yield database
    database.dispose()


def test_aws_managed_policies_are_seeded_with_fixed_ids(db: Database) -> None:
    with db.transaction() as session:
        shipped = {p.name: p for p in stored_policies.list_policies(session, ("aws",))}
        assert set(shipped) == {"AdministratorAccess", "ReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess"}
        admin = shipped["AdministratorAccess"]
        assert admin.arn == "arn:aws:iam::aws:policy/AdministratorAccess" and admin.policy_id == "ANPAW7KZSV746XMG6LD2D"
        assert admin.is_aws_managed and admin.default_version_id == "v1"
        assert admin.create_date == dt.datetime(2015, 2, 6, 18, 39, 46, tzinfo=dt.UTC)
        [document] = stored_policies.policy_documents(session, [admin.arn])
        assert document.document is not None and '"Action": "*"' in document.document


def test_names_are_unique_per_account_case_insensitively(db: Database) -> None:
    with db.transaction() as session:
        groups.create_group(session, ACCOUNT, "Ops", "/", NOW)
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(
            models.Group(
                account_id=ACCOUNT,
                name="OPS",
                name_key="ops",
                path="/",
                group_id="AGPAAAAAAAAAAAAAAAAAA",
                arn=f"arn:aws:iam::{ACCOUNT}:group/OPS",
                created_at=NOW,
            )
        )
    with db.transaction() as session:
        policies.create_policy(
            session, ACCOUNT, name="Same", path="/", document=DOCUMENT, description=None, tags=None, now=NOW
        )
        # The same name in the AWS pseudo-account or another account is another policy.
        assert stored_policies.policy_by_name(session, "aws", "same") is None


def test_the_database_refuses_to_drop_an_attached_policy_and_cascades_entities(db: Database) -> None:
    with db.transaction() as session:
        user = users.create_user(session, ACCOUNT, "member", "/", NOW)
        group = groups.create_group(session, ACCOUNT, "crew", "/", NOW)
        policy = policies.create_policy(
            session, ACCOUNT, name="Crew", path="/", document=DOCUMENT, description=None, tags=None, now=NOW
        )
        groups.add_user_to_group(session, ACCOUNT, "crew", "member")
        policies.attach_policy(session, ACCOUNT, user, policy.arn)
        policies.attach_policy(session, ACCOUNT, group, policy.arn)
        policy_pk = session.scalar(select(models.ManagedPolicy.id).where(models.ManagedPolicy.arn == policy.arn))
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.execute(delete(models.ManagedPolicy).where(models.ManagedPolicy.id == policy_pk))
    with db.transaction() as session:
        assert stored_policies.attachment_counts(session, ACCOUNT)[policy.arn] == 2
        session.execute(delete(models.User).where(models.User.name_key == "member"))
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(models.group_members)) == 0
        assert stored_policies.attachment_counts(session, ACCOUNT)[policy.arn] == 1
        session.execute(delete(models.Group).where(models.Group.name_key == "crew"))
    with db.transaction() as session:
        assert stored_policies.attachment_counts(session, ACCOUNT).get(policy.arn, 0) == 0
        session.execute(delete(models.ManagedPolicy).where(models.ManagedPolicy.id == policy_pk))
        assert (
            session.scalar(
                select(func.count())
                .select_from(models.PolicyVersion)
                .where(models.PolicyVersion.policy_pk == policy_pk)
            )
            == 0
        )


def test_migration_0002_goes_down_and_up(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.upgrade()
        with database.transaction() as session:
            accounts.ensure_account(session, ACCOUNT, now=NOW)
            user = users.create_user(session, ACCOUNT, "survivor", "/", NOW)
            session.add(
                models.AccessKey(
                    access_key_id="AKIAAAAAAAAAAAAAAAAA",
                    secret_sealed="x",
                    created_at=NOW,
                    user=session.scalar(select(models.User).where(models.User.user_id == user.user_id)),
                )
            )
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        tables = set(inspect(database.engine).get_table_names())
        assert "managed_policies" not in tables and "groups" not in tables and "users" in tables
        assert "permissions_boundary_arn" not in {c["name"] for c in inspect(database.engine).get_columns("users")}
        database.upgrade()
        with database.transaction() as session:
            assert len(stored_policies.list_policies(session, ("aws",))) == 4
            # Going down kept the users and their keys (SQLite must not rebuild the table).
            assert credentials.access_key_of(session, "AKIAAAAAAAAAAAAAAAAA") is not None
    finally:
        database.dispose()
