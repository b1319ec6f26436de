"""Applied migrations are history: the SQL each revision emits is pinned, per dialect, up and down.

Each step (base -> 0001, 0001 -> 0002, ... and back down to base) is rendered with alembic's offline
mode, ``command.upgrade(config, "0003:0004", sql=True)``, for SQLite and for PostgreSQL, and must equal
its file in ``tests/store/migration_ddl/``: ``<revision file>.<dialect>.sql`` for the upgrade,
``<revision file>.downgrade.<dialect>.sql`` for the downgrade. Those files were written from the
revisions as they were applied; a difference means an edit changed what a revision does.

Offline mode has no database, so this harness lends it three things:

- every statement the script emits is also run on a scratch database of the same dialect, in order,
  so a migration that reads gets real answers (0002 reads back the id of each policy it inserts;
  0004 reads the events to chain, none on a fresh database);
- SQLite batch mode rebuilds a table from its reflection: it reflects the scratch database (and
  recreates the indexes by name, as reflection hands them over as a set);
- a JSON value has no SQL literal, so it is written as its ``json.dumps`` text.

What a fresh database does not exercise is not pinned: 0004 chaining the events already there is
tested by tests/services/audit/test_cli.py::test_the_migration_chains_the_events_already_there, and
its indexing of their resources by the last test here. The chain head 0004 writes carries the time
of the upgrade; its pin says ``<now>`` instead.

A new revision: write it, then ``.venv/bin/python -m tests.store.test_migration_ddl 0007`` writes
its four files (needs the test PostgreSQL). It never overwrites a pin: an applied revision's pins
are not regenerated.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.operations.batch import BatchOperationsImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine.mock import MockConnection
from sqlalchemy.util import OrderedSet

from broker.store.db import MIGRATIONS_DIR
from tests.support.brokers import postgres_schema

PINS = Path(__file__).parent / "migration_ddl"
DIALECTS = {"sqlite": "sqlite://", "postgresql": "postgresql+psycopg://"}
_CHAIN_HEAD_TIME = re.compile(r"(INSERT INTO audit_chain_head \(.*\) VALUES \(.*)'\d{4}-\d\d-\d\d[ T][0-9:.+]+'")


def _config(url: str, output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


def _revisions() -> list[Script]:
    """Oldest first."""
    return list(reversed(list(ScriptDirectory.from_config(_config("sqlite://")).walk_revisions())))


def pin_name(script: Script, dialect: str, direction: str) -> str:
    stem = Path(script.path).stem
    return f"{stem}.{dialect}.sql" if direction == "upgrade" else f"{stem}.downgrade.{dialect}.sql"


def _json_literal(_json: sa.JSON, dialect: sa.Dialect) -> Callable[[Any], str]:
    def literal(value: Any) -> str:
        return str(sa.literal(json.dumps(value)).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    return literal


@contextmanager
def _lent_to_offline_mode(scratch: sa.Connection) -> Iterator[None]:
    """Offline rendering that also runs each statement on ``scratch`` and answers reads from it."""
    render = DefaultImpl._exec
    flush = BatchOperationsImpl.flush

    def _exec(impl: DefaultImpl, construct: Any, *args: Any, **kwargs: Any) -> Any:
        if not impl.as_sql:
            return render(impl, construct, *args, **kwargs)
        statement = sa.text(construct) if isinstance(construct, str) else construct
        render(impl, statement, *args, **kwargs)
        return scratch.execute(statement)

    def _stdout_connection(context: MigrationContext, _connection: Any) -> MockConnection:
        return MockConnection(context.dialect, lambda construct, *_a, **_k: context.impl._exec(construct))

    def _flush(batch: BatchOperationsImpl) -> None:
        if batch.copy_from is None and batch._should_recreate():
            table = sa.Table(
                batch.table_name,
                sa.MetaData(),
                *batch.reflect_args,
                schema=batch.schema,
                autoload_with=scratch,
                **batch.reflect_kwargs,
            )
            # Reflection hands the indexes over as a set; the rebuilt table recreates them by name.
            table.indexes = OrderedSet(sorted(table.indexes, key=lambda index: str(index.name)))
            batch.copy_from = table
        flush(batch)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(DefaultImpl, "_exec", _exec))
        stack.enter_context(mock.patch.object(MigrationContext, "_stdout_connection", _stdout_connection))
        stack.enter_context(mock.patch.object(BatchOperationsImpl, "flush", _flush))
        stack.enter_context(mock.patch.object(sa.JSON, "literal_processor", _json_literal))
        yield


def render(dialect: str, scratch_url: str) -> dict[str, str]:
    """Every step's SQL, by pin name: each revision up from base to head, then each down to base."""
    revisions = _revisions()
    steps: list[tuple[str, Callable[[Config, str], None], str]] = []
    for script in revisions:
        start = script.down_revision or "base"
        steps.append((pin_name(script, dialect, "upgrade"), _upgrade, f"{start}:{script.revision}"))
    for script in reversed(revisions):
        end = script.down_revision or "base"
        steps.append((pin_name(script, dialect, "downgrade"), _downgrade, f"{script.revision}:{end}"))
    rendered: dict[str, str] = {}
    engine = sa.create_engine(scratch_url)
    try:
        with engine.connect() as scratch, _lent_to_offline_mode(scratch):
            for name, run, step in steps:
                output = io.StringIO()
                run(_config(DIALECTS[dialect], output), step)
                rendered[name] = _CHAIN_HEAD_TIME.sub(r"\1'<now>'", output.getvalue())
            scratch.rollback()
    finally:
        engine.dispose()
    return rendered


def _upgrade(config: Config, step: str) -> None:
    command.upgrade(config, step, sql=True)


def _downgrade(config: Config, step: str) -> None:
    command.downgrade(config, step, sql=True)


@contextmanager
def scratch_database(dialect: str) -> Iterator[str]:
    if dialect == "sqlite":
        yield "sqlite://"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def rendered(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    dialect: str = request.param
    with scratch_database(dialect) as url:
        yield dialect, render(dialect, url)


@pytest.mark.parametrize("direction", ["upgrade", "downgrade"])
@pytest.mark.parametrize("script", _revisions(), ids=lambda script: script.revision)
def test_each_revision_emits_the_sql_it_always_did(
    rendered: tuple[str, dict[str, str]], script: Script, direction: str
) -> None:
    dialect, sql = rendered
    pin = PINS / pin_name(script, dialect, direction)
    assert pin.exists(), f"no pin for {script.revision}: run python -m tests.store.test_migration_ddl {script.revision}"
    assert sql[pin.name] == pin.read_text(encoding="utf-8")


def test_rendering_is_stable() -> None:
    assert render("sqlite", "sqlite://") == render("sqlite", "sqlite://")


def write_pins(revision: str) -> list[Path]:
    """The pins of a new ``revision``, for both dialects; refuses to overwrite any."""
    (script,) = [script for script in _revisions() if script.revision == revision]
    names = [pin_name(script, dialect, direction) for dialect in DIALECTS for direction in ("upgrade", "downgrade")]
    existing = [name for name in names if (PINS / name).exists()]
    if existing:
        raise SystemExit(f"{revision} is pinned already ({', '.join(existing)}): applied revisions never change")
    written = []
    for dialect in DIALECTS:
        with scratch_database(dialect) as url:
            sql = render(dialect, url)
        for direction in ("upgrade", "downgrade"):
            path = PINS / pin_name(script, dialect, direction)
            path.write_text(sql[path.name], encoding="utf-8")
            written.append(path)
    return written


if __name__ == "__main__":
    PINS.mkdir(exist_ok=True)
    for path in write_pins(sys.argv[1]):
        print(path)


def test_0004_indexes_the_resources_of_events_already_there_as_the_audit_trail_does(tmp_path: Path) -> None:
    """0004 keeps its own copy of the resource types (what no pin shows: there are no events then)."""
    from broker.services.audit.chain import resource_rows

    arns = [
        "arn:aws:iam::123456789012:role/admin",
        "arn:aws:iam::123456789012:user/division/alice",
        "arn:aws:iam::123456789012:group/ops",
        "arn:aws:iam::123456789012:policy/read",
        "arn:aws:iam::123456789012:saml-provider/idp",
        "arn:aws:iam::123456789012:instance-profile/web",
        "arn:aws:sts::123456789012:assumed-role/admin/alice",
        "arn:aws:sts::123456789012:federated-user/bob",
        "arn:aws:s3:::bucket/key",
    ]
    record = {"eventID": "e-1", "resources": [{"ARN": arn} for arn in [*arns, "*"]]}
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    config = _config(str(engine.url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0003")
            connection.execute(
                sa.text(
                    "INSERT INTO audit_events (event_id, event_time, event_source, event_name, read_only, record)"
                    " VALUES ('e-1', '2026-05-01 12:00:00', 'iam.amazonaws.com', 'CreateRole', 0, :record)"
                ),
                {"record": json.dumps(record)},
            )
            command.upgrade(config, "0004")
            indexed = connection.execute(
                sa.text("SELECT resource_type, resource_name, short_name FROM audit_resources ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in indexed] == resource_rows(record)
    assert [row[0] for row in indexed][-2:] == ["AWS::STS::FederatedUser", None]
