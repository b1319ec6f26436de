"""AWS Organizations: organizations, roots and OUs, memberships, create-account requests,
policies (FullAWSAccess seeded) and their attachments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:00:00.000000
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The AWS-managed SCP; copied here, not imported, so the migration stays what it was.
_FULL_AWS_ACCESS = (
    "p-FullAWSAccess",
    "FullAWSAccess",
    "Allows access to every operation",
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, indent=2),
)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=34), nullable=False),
        sa.Column("management_account_id", sa.String(length=12), nullable=False),
        sa.Column("feature_set", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["management_account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("management_account_id"),
    )
    op.create_table(
        "organization_nodes",
        sa.Column("id", sa.String(length=70), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("parent_id", sa.String(length=70), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("policy_types", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["organization_nodes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("parent_id", "name"),
    )
    op.create_index(op.f("ix_organization_nodes_organization_id"), "organization_nodes", ["organization_id"])
    op.create_index(op.f("ix_organization_nodes_parent_id"), "organization_nodes", ["parent_id"])
    op.create_table(
        "organization_accounts",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("parent_id", sa.String(length=70), nullable=False),
        sa.Column("joined_method", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["organization_nodes.id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_index(op.f("ix_organization_accounts_organization_id"), "organization_accounts", ["organization_id"])
    op.create_index(op.f("ix_organization_accounts_parent_id"), "organization_accounts", ["parent_id"])
    op.create_table(
        "organization_create_account_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("account_name", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=12), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_organization_create_account_requests_organization_id"),
        "organization_create_account_requests",
        ["organization_id"],
    )
    op.create_table(
        "organization_policies",
        sa.Column("id", sa.String(length=130), nullable=False),
        sa.Column("organization_id", sa.String(length=34), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=512), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("aws_managed", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "type", "name"),
    )
    op.create_index(op.f("ix_organization_policies_organization_id"), "organization_policies", ["organization_id"])
    op.create_table(
        "organization_policy_attachments",
        sa.Column("organization_id", sa.String(length=34), nullable=False),
        sa.Column("policy_id", sa.String(length=130), nullable=False),
        sa.Column("target_id", sa.String(length=70), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["policy_id"], ["organization_policies.id"]),
        sa.PrimaryKeyConstraint("organization_id", "policy_id", "target_id"),
    )
    op.create_index(
        op.f("ix_organization_policy_attachments_policy_id"), "organization_policy_attachments", ["policy_id"]
    )
    op.create_index(
        "ix_organization_policy_attachments_target", "organization_policy_attachments", ["organization_id", "target_id"]
    )
    policies = sa.table(
        "organization_policies",
        sa.column("id", sa.String()),
        sa.column("organization_id", sa.String()),
        sa.column("type", sa.String()),
        sa.column("name", sa.String()),
        sa.column("description", sa.String()),
        sa.column("content", sa.Text()),
        sa.column("aws_managed", sa.Boolean()),
        sa.column("tags", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    policy_id, name, description, content = _FULL_AWS_ACCESS
    op.get_bind().execute(
        policies.insert().values(
            id=policy_id,
            organization_id=None,
            type="SERVICE_CONTROL_POLICY",
            name=name,
            description=description,
            content=content,
            aws_managed=True,
            tags={},
            created_at=dt.datetime(2016, 11, 28, 0, 0, 0, tzinfo=dt.UTC),
        )
    )


def downgrade() -> None:
    op.drop_index("ix_organization_policy_attachments_target", table_name="organization_policy_attachments")
    op.drop_index(op.f("ix_organization_policy_attachments_policy_id"), table_name="organization_policy_attachments")
    op.drop_table("organization_policy_attachments")
    op.drop_index(op.f("ix_organization_policies_organization_id"), table_name="organization_policies")
    op.drop_table("organization_policies")
    op.drop_index(
        op.f("ix_organization_create_account_requests_organization_id"),
        table_name="organization_create_account_requests",
    )
    op.drop_table("organization_create_account_requests")
    op.drop_index(op.f("ix_organization_accounts_parent_id"), table_name="organization_accounts")
    op.drop_index(op.f("ix_organization_accounts_organization_id"), table_name="organization_accounts")
    op.drop_table("organization_accounts")
    op.drop_index(op.f("ix_organization_nodes_parent_id"), table_name="organization_nodes")
    op.drop_index(op.f("ix_organization_nodes_organization_id"), table_name="organization_nodes")
    op.drop_table("organization_nodes")
    op.drop_table("organizations")
