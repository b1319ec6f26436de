"""groups, managed policies with versions, attachments, user permissions boundaries

Also seeds the AWS-managed-style policies the broker ships (account "aws"): their ARNs, ids and
documents are fixed here, so every installation has the same ones, as in AWS.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:20:52.302913
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "managed_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("name_key", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("default_version_id", sa.String(length=32), nullable=False),
        sa.Column("last_version_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "name_key"),
        sa.UniqueConstraint("arn"),
        sa.UniqueConstraint("policy_id"),
    )
    with op.batch_alter_table("managed_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_managed_policies_account_id"), ["account_id"], unique=False)

    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("name_key", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "name_key"),
        sa.UniqueConstraint("arn"),
        sa.UniqueConstraint("group_id"),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_account_id"), ["account_id"], unique=False)

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy_pk", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["policy_pk"], ["managed_policies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("policy_pk", "version_id"),
    )
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_versions_policy_pk"), ["policy_pk"], unique=False)

    op.create_table(
        "group_inline_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["group_pk"], ["groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_pk", "name"),
    )
    with op.batch_alter_table("group_inline_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_inline_policies_group_pk"), ["group_pk"], unique=False)

    op.create_table(
        "group_members",
        sa.Column("group_pk", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_pk"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_pk"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_pk", "user_pk"),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_pk"), ["user_pk"], unique=False)

    op.create_table(
        "group_policy_attachments",
        sa.Column("group_pk", sa.Integer(), nullable=False),
        sa.Column("policy_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_pk"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["policy_pk"],
            ["managed_policies.id"],
        ),
        sa.PrimaryKeyConstraint("group_pk", "policy_pk"),
    )
    with op.batch_alter_table("group_policy_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_policy_attachments_policy_pk"), ["policy_pk"], unique=False)

    op.create_table(
        "role_policy_attachments",
        sa.Column("role_pk", sa.Integer(), nullable=False),
        sa.Column("policy_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_pk"],
            ["managed_policies.id"],
        ),
        sa.ForeignKeyConstraint(["role_pk"], ["roles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("role_pk", "policy_pk"),
    )
    with op.batch_alter_table("role_policy_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_policy_attachments_policy_pk"), ["policy_pk"], unique=False)

    op.create_table(
        "user_policy_attachments",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("policy_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_pk"],
            ["managed_policies.id"],
        ),
        sa.ForeignKeyConstraint(["user_pk"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_pk", "policy_pk"),
    )
    with op.batch_alter_table("user_policy_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_policy_attachments_policy_pk"), ["policy_pk"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("permissions_boundary_arn", sa.String(length=2048), nullable=True))

    _seed_aws_managed_policies()


def _document(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


# (name, policy id, description, document). AWS created these on 2015-02-06.
_AWS_MANAGED = (
    (
        "AdministratorAccess",
        "ANPAW7KZSV746XMG6LD2D",
        "Provides full access to AWS services and resources.",
        _document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ),
    (
        "ReadOnlyAccess",
        "ANPA7T53ZA3UDCYD5ZLDU",
        "Provides read-only access to AWS services and resources.",
        _document(
            {
                "Sid": "ReadOnlyActions",
                "Effect": "Allow",
                "Action": [
                    "*:BatchGet*",
                    "*:Describe*",
                    "*:Get*",
                    "*:List*",
                    "iam:GenerateCredentialReport",
                    "iam:GenerateServiceLastAccessedDetails",
                    "iam:SimulateCustomPolicy",
                    "iam:SimulatePrincipalPolicy",
                    "sts:GetAccessKeyInfo",
                    "sts:GetCallerIdentity",
                    "sts:GetSessionToken",
                ],
                "Resource": "*",
            }
        ),
    ),
    (
        "IAMFullAccess",
        "ANPADRDEDFGHWVC7KFSQG",
        "Provides full access to IAM via the AWS Management Console.",
        _document(
            {
                "Effect": "Allow",
                "Action": [
                    "iam:*",
                    "organizations:DescribeAccount",
                    "organizations:DescribeOrganization",
                    "organizations:DescribeOrganizationalUnit",
                    "organizations:DescribePolicy",
                    "organizations:ListChildren",
                    "organizations:ListParents",
                    "organizations:ListPoliciesForTarget",
                    "organizations:ListRoots",
                    "organizations:ListPolicies",
                    "organizations:ListTargetsForPolicy",
                ],
                "Resource": "*",
            }
        ),
    ),
    (
        "IAMReadOnlyAccess",
        "ANPAEDQ2UXPS7T3FOTNEO",
        "Provides read only access to IAM via the AWS Management Console.",
        _document(
            {
                "Effect": "Allow",
                "Action": [
                    "iam:GenerateCredentialReport",
                    "iam:GenerateServiceLastAccessedDetails",
                    "iam:Get*",
                    "iam:List*",
                    "iam:SimulateCustomPolicy",
                    "iam:SimulatePrincipalPolicy",
                ],
                "Resource": "*",
            }
        ),
    ),
)


def _seed_aws_managed_policies() -> None:
    created = dt.datetime(2015, 2, 6, 18, 39, 46, tzinfo=dt.UTC)
    policies = sa.table(
        "managed_policies",
        sa.column("id", sa.Integer()),
        sa.column("account_id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("name_key", sa.String()),
        sa.column("path", sa.String()),
        sa.column("policy_id", sa.String()),
        sa.column("arn", sa.String()),
        sa.column("description", sa.String()),
        sa.column("default_version_id", sa.String()),
        sa.column("last_version_number", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("tags", sa.JSON()),
    )
    versions = sa.table(
        "policy_versions",
        sa.column("policy_pk", sa.Integer()),
        sa.column("version_id", sa.String()),
        sa.column("number", sa.Integer()),
        sa.column("document", sa.Text()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    for name, policy_id, description, document in _AWS_MANAGED:
        arn = f"arn:aws:iam::aws:policy/{name}"
        bind.execute(
            policies.insert().values(
                account_id="aws",
                name=name,
                name_key=name.casefold(),
                path="/",
                policy_id=policy_id,
                arn=arn,
                description=description,
                default_version_id="v1",
                last_version_number=1,
                created_at=created,
                updated_at=created,
                tags={},
            )
        )
        pk = bind.execute(sa.select(policies.c.id).where(policies.c.arn == arn)).scalar_one()
        bind.execute(
            versions.insert().values(policy_pk=pk, version_id="v1", number=1, document=document, created_at=created)
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Batch mode would recreate the table, and dropping the old one cascades (foreign keys
        # are on) to access keys and inline policies; SQLite >= 3.35 drops a column in place.
        op.execute("ALTER TABLE users DROP COLUMN permissions_boundary_arn")
    else:
        op.drop_column("users", "permissions_boundary_arn")

    with op.batch_alter_table("user_policy_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_policy_attachments_policy_pk"))

    op.drop_table("user_policy_attachments")
    with op.batch_alter_table("role_policy_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_policy_attachments_policy_pk"))

    op.drop_table("role_policy_attachments")
    with op.batch_alter_table("group_policy_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_policy_attachments_policy_pk"))

    op.drop_table("group_policy_attachments")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_user_pk"))

    op.drop_table("group_members")
    with op.batch_alter_table("group_inline_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_inline_policies_group_pk"))

    op.drop_table("group_inline_policies")
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_versions_policy_pk"))

    op.drop_table("policy_versions")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_account_id"))

    op.drop_table("groups")
    with op.batch_alter_table("managed_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_managed_policies_account_id"))

    op.drop_table("managed_policies")
