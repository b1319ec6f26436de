"""audit trail integrity: hash chain on audit_events, chain head, signed digests, resource index

Existing events are chained in their ``seq`` order. The hash function is copied here, not
imported, so this migration keeps producing the same chain whatever the code does later.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_DOMAIN = b"broker-audit-chain-v1|"
_TYPES = {
    ("iam", "role"): "AWS::IAM::Role",
    ("iam", "user"): "AWS::IAM::User",
    ("iam", "group"): "AWS::IAM::Group",
    ("iam", "policy"): "AWS::IAM::Policy",
    ("iam", "saml-provider"): "AWS::IAM::SAMLProvider",
    ("iam", "instance-profile"): "AWS::IAM::InstanceProfile",
    ("sts", "assumed-role"): "AWS::STS::AssumedRole",
    ("sts", "federated-user"): "AWS::STS::FederatedUser",
}


def _chain_hash(prev_hash: str, record: Any) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(_DOMAIN + prev_hash.encode("ascii") + b"|" + canonical.encode("ascii")).hexdigest()


def _resource(arn: str) -> tuple[str | None, str, str]:
    parts = arn.split(":", 5)
    kind = None
    if len(parts) == 6 and parts[0] == "arn":
        kind = _TYPES.get((parts[2], parts[5].split("/", 1)[0]))
    return kind, arn[:2048], arn.rsplit("/", 1)[-1][:512]


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("account_id", sa.String(length=12), nullable=True))

    op.create_table(
        "audit_resources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=True),
        sa.Column("resource_name", sa.String(length=2048), nullable=False),
        sa.Column("short_name", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_resources_event_seq"), ["event_seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_resources_resource_name"), ["resource_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_resources_resource_type"), ["resource_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_resources_short_name"), ["short_name"], unique=False)

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_digests",
        sa.Column("digest_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_index", sa.BigInteger(), nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("digest_index"),
    )
    with op.batch_alter_table("audit_digests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_digests_end_time"), ["end_time"], unique=False)

    # Chain what is already there, oldest first.
    events = sa.table(
        "audit_events",
        sa.column("seq", sa.Integer()),
        sa.column("record", sa.JSON()),
        sa.column("chain_index", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("event_hash", sa.String()),
        sa.column("account_id", sa.String()),
    )
    resources = sa.table(
        "audit_resources",
        sa.column("event_seq", sa.Integer()),
        sa.column("resource_type", sa.String()),
        sa.column("resource_name", sa.String()),
        sa.column("short_name", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(events.c.seq, events.c.record).order_by(events.c.seq)).all()
    last_hash, index = _GENESIS, 0
    indexed: list[dict[str, Any]] = []
    for seq, record in rows:
        index += 1
        digest = _chain_hash(last_hash, record)
        connection.execute(
            events.update().where(events.c.seq == seq).values(chain_index=index, prev_hash=last_hash, event_hash=digest)
        )
        last_hash = digest
        for item in (record or {}).get("resources") or []:
            arn = item.get("ARN") if isinstance(item, dict) else None
            if isinstance(arn, str) and arn and arn != "*":
                kind, name, short = _resource(arn)
                indexed.append({"event_seq": seq, "resource_type": kind, "resource_name": name, "short_name": short})
    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("last_index", sa.BigInteger()),
        sa.column("last_hash", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    connection.execute(
        head.insert().values(id=1, last_index=index, last_hash=last_hash, updated_at=dt.datetime.now(dt.UTC))
    )

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("chain_index", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("event_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_audit_events_chain_index", ["chain_index"])
        batch_op.create_index(batch_op.f("ix_audit_events_access_key_id"), ["access_key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_event_source"), ["event_source"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_username"), ["username"], unique=False)
    # Indexed last: on SQLite the batch above rebuilds audit_events.
    for item in indexed:
        connection.execute(resources.insert().values(**item))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_username"))
        batch_op.drop_index(batch_op.f("ix_audit_events_event_source"))
        batch_op.drop_index(batch_op.f("ix_audit_events_account_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_access_key_id"))
        batch_op.drop_constraint("uq_audit_events_chain_index", type_="unique")
        batch_op.drop_column("event_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("chain_index")
        batch_op.drop_column("account_id")
    with op.batch_alter_table("audit_digests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_digests_end_time"))
    op.drop_table("audit_digests")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_resources_short_name"))
        batch_op.drop_index(batch_op.f("ix_audit_resources_resource_type"))
        batch_op.drop_index(batch_op.f("ix_audit_resources_resource_name"))
        batch_op.drop_index(batch_op.f("ix_audit_resources_event_seq"))
    op.drop_table("audit_resources")
