"""AWS Organizations: organizations, roots and OUs, memberships, create-account requests,
policies (FullAWSAccess seeded) and their attachments
"""

from __future__ import annotations

import datetime as dt
import json

from alembic import op

from broker.store.migrations._ddl import create, drop, table

# The AWS-managed SCP; copied here, not imported, so the migration stays what it was.
_FULL_AWS_ACCESS = (
    "p-FullAWSAccess",
    "FullAWSAccess",
    "Allows access to every operation",
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, indent=2),
)

ORGANIZATIONS = (
    table("organizations")
    .string("id", 34)
    .string("management_account_id", 12)
    .string("feature_set", 32)
    .timestamp("created_at")
    .foreign_key("management_account_id", "accounts.id")
    .primary_key("id")
    .unique("management_account_id")
)
ORGANIZATION_NODES = (
    table("organization_nodes")
    .string("id", 70)
    .string("organization_id", 34)
    .string("kind", 32)
    .string("name", 128)
    .nullable_string("parent_id", 70)
    .string("path", 1024)
    .json("policy_types")
    .json("tags")
    .timestamp("created_at")
    .foreign_key("organization_id", "organizations.id")
    .foreign_key("parent_id", "organization_nodes.id")
    .primary_key("id")
    .unique("parent_id", "name")
    .index("organization_id")
    .index("parent_id")
)
ORGANIZATION_ACCOUNTS = (
    table("organization_accounts")
    .string("account_id", 12)
    .string("organization_id", 34)
    .string("parent_id", 70)
    .string("joined_method", 16)
    .timestamp("joined_at")
    .json("tags")
    .foreign_key("account_id", "accounts.id")
    .foreign_key("organization_id", "organizations.id")
    .foreign_key("parent_id", "organization_nodes.id")
    .primary_key("account_id")
    .index("organization_id")
    .index("parent_id")
)
ORGANIZATION_CREATE_ACCOUNT_REQUESTS = (
    table("organization_create_account_requests")
    .string("id", 40)
    .string("organization_id", 34)
    .string("account_name", 50)
    .string("state", 16)
    .nullable_string("failure_reason", 64)
    .nullable_string("account_id", 12)
    .timestamp("requested_at")
    .nullable_timestamp("completed_at")
    .foreign_key("organization_id", "organizations.id")
    .primary_key("id")
    .index("organization_id")
)
ORGANIZATION_POLICIES = (
    table("organization_policies")
    .string("id", 130)
    .nullable_string("organization_id", 34)
    .string("type", 64)
    .string("name", 128)
    .string("description", 512)
    .text("content")
    .boolean("aws_managed")
    .json("tags")
    .timestamp("created_at")
    .foreign_key("organization_id", "organizations.id")
    .primary_key("id")
    .unique("organization_id", "type", "name")
    .index("organization_id")
)
ORGANIZATION_POLICY_ATTACHMENTS = (
    table("organization_policy_attachments")
    .string("organization_id", 34)
    .string("policy_id", 130)
    .string("target_id", 70)
    .foreign_key("organization_id", "organizations.id")
    .foreign_key("policy_id", "organization_policies.id")
    .primary_key("organization_id", "policy_id", "target_id")
    .index("policy_id")
    .index("organization_id", "target_id", name="ix_organization_policy_attachments_target")
)
TABLES = (
    ORGANIZATIONS,
    ORGANIZATION_NODES,
    ORGANIZATION_ACCOUNTS,
    ORGANIZATION_CREATE_ACCOUNT_REQUESTS,
    ORGANIZATION_POLICIES,
    ORGANIZATION_POLICY_ATTACHMENTS,
)

revision, down_revision = "0006", "0005"


def upgrade() -> None:
    create(*TABLES)
    policy_id, name, description, content = _FULL_AWS_ACCESS
    op.get_bind().execute(
        ORGANIZATION_POLICIES.clause()
        .insert()
        .values(
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
    drop(*TABLES)
