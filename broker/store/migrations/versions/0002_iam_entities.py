"""groups, managed policies with versions, attachments, user permissions boundaries

Also seeds the AWS-managed-style policies the broker ships (account "aws"): their ARNs, ids and
documents are fixed here, so every installation has the same ones, as in AWS.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

from broker.store.migrations._ddl import create, drop, inline_policies, policy_attachments, table

MANAGED_POLICIES = (
    table("managed_policies")
    .serial("id")
    .string("account_id", 12)
    .string("name", 128)
    .string("name_key", 128)
    .string("path", 512)
    .string("policy_id", 32)
    .string("arn", 2048)
    .string("description", 1000)
    .string("default_version_id", 32)
    .integer("last_version_number")
    .timestamp("created_at")
    .timestamp("updated_at")
    .json("tags")
    .primary_key("id")
    .unique("account_id", "name_key")
    .unique("arn")
    .unique("policy_id")
    .index("account_id")
)
GROUPS = (
    table("groups")
    .serial("id")
    .string("account_id", 12)
    .string("name", 128)
    .string("name_key", 128)
    .string("path", 512)
    .string("group_id", 32)
    .string("arn", 2048)
    .timestamp("created_at")
    .foreign_key("account_id", "accounts.id")
    .primary_key("id")
    .unique("account_id", "name_key")
    .unique("arn")
    .unique("group_id")
    .index("account_id")
)
POLICY_VERSIONS = (
    table("policy_versions")
    .serial("id")
    .integer("policy_pk")
    .string("version_id", 32)
    .integer("number")
    .text("document")
    .timestamp("created_at")
    .foreign_key("policy_pk", "managed_policies.id", ondelete="CASCADE")
    .primary_key("id")
    .unique("policy_pk", "version_id")
    .index("policy_pk")
)
GROUP_MEMBERS = (
    table("group_members")
    .integer("group_pk")
    .integer("user_pk")
    .foreign_key("group_pk", "groups.id", ondelete="CASCADE")
    .foreign_key("user_pk", "users.id", ondelete="CASCADE")
    .primary_key("group_pk", "user_pk")
    .index("user_pk")
)
TABLES = (
    MANAGED_POLICIES,
    GROUPS,
    POLICY_VERSIONS,
    inline_policies("group", "groups"),
    GROUP_MEMBERS,
    policy_attachments("group", "groups"),
    policy_attachments("role", "roles"),
    policy_attachments("user", "users"),
)

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    create(*TABLES)
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
    policies, versions = MANAGED_POLICIES.clause(), POLICY_VERSIONS.clause()
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

    drop(*TABLES)
