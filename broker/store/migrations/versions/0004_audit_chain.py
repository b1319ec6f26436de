"""audit trail integrity: hash chain on audit_events, chain head, signed digests, resource index

Existing events are chained in their ``seq`` order. The hash function is copied here, not
imported, so this migration keeps producing the same chain whatever the code does later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from broker.store.migrations._ddl import create, drop, table

_GENESIS = "0" * 64
_DOMAIN = b"broker-audit-chain-v1|"
# The CloudTrail resource type of an ARN, by its service and resource prefix, as this revision
# indexed them; the line "iam role Role" reads ("iam", "role") -> "AWS::IAM::Role".
_TYPES = {
    (service, prefix): f"AWS::{service.upper()}::{kind}"
    for service, prefix, kind in map(
        str.split,
        """
        iam role Role
        iam user User
        iam group Group
        iam policy Policy
        iam saml-provider SAMLProvider
        iam instance-profile InstanceProfile
        sts assumed-role AssumedRole
        sts federated-user FederatedUser
        """.strip().splitlines(),
    )
}

AUDIT_RESOURCES = (
    table("audit_resources")
    .serial("id")
    .integer("event_seq")
    .nullable_string("resource_type", 64)
    .string("resource_name", 2048)
    .string("short_name", 512)
    .primary_key("id")
    .index("event_seq")
    .index("resource_name")
    .index("resource_type")
    .index("short_name")
)
AUDIT_CHAIN_HEAD = (
    table("audit_chain_head")
    .integer("id")
    .big_integer("last_index")
    .string("last_hash", 64)
    .nullable_timestamp("updated_at")
    .primary_key("id")
)
AUDIT_DIGESTS = (
    table("audit_digests")
    .column("digest_index", sa.Integer(), autoincrement=False)
    .big_integer("first_index")
    .big_integer("last_index")
    .timestamp("start_time")
    .timestamp("end_time")
    .text("document")
    .string("signature", 128)
    .string("key_id", 64)
    .primary_key("digest_index")
    .index("end_time")
)
TABLES = (AUDIT_RESOURCES, AUDIT_CHAIN_HEAD, AUDIT_DIGESTS)

revision, down_revision = "0004", "0003"


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
    create(*TABLES)

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
    resources = AUDIT_RESOURCES.clause()
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
    head = AUDIT_CHAIN_HEAD.clause()
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
    drop(*TABLES)
