"""Build audit trails for tests and tamper with them as someone with database access would."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import Connection, insert, select, update

from broker.cli.main import cli
from broker.services.audit import Actor, record_event
from broker.services.audit.chain import chain_hash, indexed_columns
from broker.services.audit.verify import Report, verify_trail
from broker.services.audit.worker import seal
from broker.services.runtime import Runtime
from broker.store.audit.snapshots import Reader
from broker.store.models import AuditChainHead, AuditDigest, AuditEvent

EVENTS = AuditEvent.__table__
ACTOR = Actor(
    type="IAMUser",
    principal_id="AIDATEST",
    arn="arn:aws:iam::123456789012:user/tester",
    account_id="123456789012",
    user_name="tester",
)


def write_events(runtime: Runtime, count: int, name: str = "CreateUser") -> list[str]:
    """``count`` events, one transaction each; their event ids."""
    ids = []
    for number in range(count):
        with runtime.db.transaction() as session:
            event_id = record_event(
                session,
                event_name=name,
                event_source="iam.amazonaws.com",
                actor=ACTOR,
                now=runtime.now(),
                region="us-east-1",
                source_ip="192.0.2.1",
                user_agent="tests",
                request_id=str(uuid.uuid4()),
                request_parameters={"userName": f"user-{number}-{uuid.uuid4().hex[:6]}"},
                resources=[{"ARN": f"arn:aws:iam::123456789012:user/user-{number}"}],
            )
            ids.append(event_id)
    return ids


def trail(runtime: Runtime, sealed: int = 8, unsealed: int = 3) -> None:
    """Events, a digest over them, then a few more the next digest has not covered yet."""
    write_events(runtime, sealed)
    seal(runtime)
    write_events(runtime, unsealed)


class Clock:
    """A runtime's clock that a test sets: the trail is written at the times the test chooses."""

    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment


def verify(runtime: Runtime, **kwargs: Any) -> Report:
    """The service-level verification, as `broker audit verify` runs it: at the runtime's time,
    with its digest interval (a keyword overrides either)."""
    kwargs.setdefault("now", runtime.now())
    kwargs.setdefault("interval_seconds", runtime.settings.audit_digest_interval_seconds)
    with Reader(runtime.db) as reader, reader.snapshot() as session:
        return verify_trail(session, runtime.keys.audit_keys, **kwargs)


@contextmanager
def tamper(runtime: Runtime) -> Iterator[Connection]:
    """A raw connection, as an intruder with database access has (no ORM, no chain hook)."""
    with runtime.db.engine.begin() as connection:
        yield connection


def row(connection: Connection, index: int) -> Any:
    return connection.execute(select(EVENTS).where(EVENTS.c.chain_index == index)).one()


def last_index(connection: Connection) -> int:
    return int(connection.execute(select(AuditChainHead.last_index)).scalar_one())


def modify_record(connection: Connection, index: int, **changes: Any) -> str:
    found = row(connection, index)
    record = {**found.record, **changes}
    connection.execute(update(EVENTS).where(EVENTS.c.chain_index == index).values(record=record))
    return str(found.event_id)


def make_room(connection: Connection, at: int) -> None:
    """Shift every event from ``at`` one place up (in two steps: chain_index is unique)."""
    connection.execute(update(EVENTS).where(EVENTS.c.chain_index >= at).values(chain_index=-EVENTS.c.chain_index))
    connection.execute(update(EVENTS).where(EVENTS.c.chain_index < 0).values(chain_index=-EVENTS.c.chain_index + 1))


def forge(connection: Connection, index: int, prev_hash: str, name: str = "DeleteUser") -> str:
    """A well-formed event with a correct hash over its own content, written straight into the table."""
    event_id = str(uuid.uuid4())
    record = {
        "eventVersion": "1.08",
        "userIdentity": ACTOR.to_record(),
        "eventTime": "2026-01-01T00:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
    }
    connection.execute(
        insert(EVENTS).values(
            event_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            record=record,
            chain_index=index,
            prev_hash=prev_hash,
            event_hash=chain_hash(prev_hash, record),
            **indexed_columns(record),
        )
    )
    return event_id


def swap(connection: Connection, first: int, second: int) -> tuple[str, str]:
    a, b = row(connection, first), row(connection, second)
    connection.execute(update(EVENTS).where(EVENTS.c.chain_index == first).values(chain_index=-1))
    connection.execute(update(EVENTS).where(EVENTS.c.chain_index == second).values(chain_index=first))
    connection.execute(update(EVENTS).where(EVENTS.c.chain_index == -1).values(chain_index=second))
    return str(a.event_id), str(b.event_id)


def rehash_from(connection: Connection, index: int) -> None:
    """Recompute every hash from ``index`` on, and the head: what a careful intruder does."""
    previous = row(connection, index).prev_hash
    last = last_index(connection)
    for position in range(index, last + 1):
        current = row(connection, position)
        digest = chain_hash(previous, current.record)
        connection.execute(
            update(EVENTS).where(EVENTS.c.chain_index == position).values(prev_hash=previous, event_hash=digest)
        )
        previous = digest
    connection.execute(update(AuditChainHead).values(last_hash=previous))


def digests(connection: Connection) -> list[Any]:
    return list(connection.execute(select(AuditDigest.__table__).order_by(AuditDigest.digest_index)))


def cli_env(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    return {
        "BROKER_DATABASE_URL": settings.database_url,
        "BROKER_CERTS_DIR": settings.certs_dir,
        "BROKER_METADATA_DIR": settings.metadata_dir,
        "BROKER_BASE_URL": settings.base_url,
        "BROKER_AUDIT_DIGEST_INTERVAL_SECONDS": str(settings.audit_digest_interval_seconds),
    }


def run_cli(runtime: Runtime, *args: str) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    return CliRunner().invoke(cli, list(args), env={**env, **cli_env(runtime)}, catch_exceptions=False)
