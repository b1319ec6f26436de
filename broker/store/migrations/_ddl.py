"""How the revisions declare their tables: columns, keys and indexes, and the shapes they share.

Frozen. Applied revisions depend on this module: tests/store/test_migration_ddl.py pins the SQL
every revision emits, on SQLite and PostgreSQL, and changing what a builder here emits rewrites
the history of each revision that calls it, so their pins fail. A later revision that needs
something else adds a builder; it never changes one.

A revision declares each table once, as a value (``table("accounts").string("id", 12)...``, in
column order), and its ``upgrade`` creates what its ``downgrade`` drops (:func:`create`,
:func:`drop`). Columns are NOT NULL unless their builder says ``nullable``; an index on one column
is named ``ix_<table>_<column>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

import sqlalchemy as sa
from alembic import op


@dataclass(frozen=True)
class _Column:
    name: str
    type: sa.types.TypeEngine[Any]
    nullable: bool
    autoincrement: bool | Literal["auto"]

    def build(self) -> sa.Column[Any]:
        return sa.Column(self.name, self.type.copy(), autoincrement=self.autoincrement, nullable=self.nullable)


@dataclass(frozen=True)
class _PrimaryKey:
    columns: tuple[str, ...]

    def build(self) -> sa.PrimaryKeyConstraint:
        return sa.PrimaryKeyConstraint(*self.columns)


@dataclass(frozen=True)
class _Unique:
    columns: tuple[str, ...]

    def build(self) -> sa.UniqueConstraint:
        return sa.UniqueConstraint(*self.columns)


@dataclass(frozen=True)
class _ForeignKey:
    column: str
    referred: str
    ondelete: str | None

    def build(self) -> sa.ForeignKeyConstraint:
        return sa.ForeignKeyConstraint([self.column], [self.referred], ondelete=self.ondelete)


@dataclass(frozen=True)
class _Index:
    name: str
    columns: tuple[str, ...]


_Element = _Column | _PrimaryKey | _Unique | _ForeignKey


class _Kind:
    """A builder of columns of one type: ``table.timestamp("created_at")`` adds one."""

    def __init__(
        self, type_: sa.types.TypeEngine[Any], *, nullable: bool = False, autoincrement: bool | Literal["auto"] = "auto"
    ) -> None:
        self.column_named = partial(_Column, type=type_, nullable=nullable, autoincrement=autoincrement)

    def __get__(self, table: Table, _owner: type[Table]) -> Callable[[str], Table]:
        return lambda name: table._with(self.column_named(name))


@dataclass(frozen=True)
class Table:
    """A table as a revision creates it; each builder returns the table with one more part."""

    name: str
    elements: tuple[_Element, ...] = ()
    indexes: tuple[_Index, ...] = ()

    def column(
        self, name: str, type_: sa.types.TypeEngine[Any], *, autoincrement: bool | Literal["auto"] = "auto"
    ) -> Table:
        """A NOT NULL column no builder below describes (``autoincrement=False``: an integer key stays plain)."""
        return self._with(_Column(name, type_, False, autoincrement))

    serial = _Kind(sa.Integer(), autoincrement=True)
    integer = _Kind(sa.Integer())
    nullable_integer = _Kind(sa.Integer(), nullable=True)
    big_integer = _Kind(sa.BigInteger())
    text = _Kind(sa.Text())
    boolean = _Kind(sa.Boolean())
    json = _Kind(sa.JSON())
    timestamp = _Kind(sa.DateTime(timezone=True))
    nullable_timestamp = _Kind(sa.DateTime(timezone=True), nullable=True)

    def string(self, name: str, length: int) -> Table:
        return self._with(_Column(name, sa.String(length=length), False, "auto"))

    def nullable_string(self, name: str, length: int) -> Table:
        return self._with(_Column(name, sa.String(length=length), True, "auto"))

    def primary_key(self, *columns: str) -> Table:
        return self._with(_PrimaryKey(columns))

    def unique(self, *columns: str) -> Table:
        return self._with(_Unique(columns))

    def foreign_key(self, column: str, referred: str, *, ondelete: str | None = None) -> Table:
        return self._with(_ForeignKey(column, referred, ondelete))

    def index(self, *columns: str, name: str | None = None) -> Table:
        """Created after the table, in the order declared."""
        index = _Index(name or f"ix_{self.name}_{columns[0]}", columns)
        return replace(self, indexes=(*self.indexes, index))

    def clause(self) -> sa.TableClause:
        """The table as the revision's own inserts and reads see it."""
        columns = [element for element in self.elements if isinstance(element, _Column)]
        return sa.table(self.name, *(sa.column(column.name, column.type.copy()) for column in columns))

    def _with(self, element: _Element) -> Table:
        return replace(self, elements=(*self.elements, element))


def table(name: str) -> Table:
    return Table(name)


def create(*tables: Table) -> None:
    """Each table, then its indexes, in order."""
    for created in tables:
        op.create_table(created.name, *(element.build() for element in created.elements))
        for index in created.indexes:
            op.create_index(op.f(index.name), created.name, list(index.columns), unique=False)


def drop(*tables: Table) -> None:
    """What :func:`create` made of ``tables``, undone in reverse order."""
    for dropped in reversed(tables):
        for index in reversed(dropped.indexes):
            op.drop_index(op.f(index.name), table_name=dropped.name)
        op.drop_table(dropped.name)


def inline_policies(owner: str, owners: str) -> Table:
    """``<owner>_inline_policies``: the policies embedded in a role, user or group, by name."""
    key = f"{owner}_pk"
    return (
        table(f"{owner}_inline_policies")
        .serial("id")
        .integer(key)
        .string("name", 128)
        .text("document")
        .foreign_key(key, f"{owners}.id", ondelete="CASCADE")
        .primary_key("id")
        .unique(key, "name")
        .index(key)
    )


def policy_attachments(owner: str, owners: str) -> Table:
    """``<owner>_policy_attachments``: the managed policies attached to a role, user or group."""
    key = f"{owner}_pk"
    attached = table(f"{owner}_policy_attachments").integer(key).integer("policy_pk")
    # The revision that made them declared the two foreign keys in the order of their columns.
    references = [(key, f"{owners}.id", "CASCADE"), ("policy_pk", "managed_policies.id", None)]
    for column, referred, ondelete in sorted(references, key=lambda reference: reference[0]):
        attached = attached.foreign_key(column, referred, ondelete=ondelete)
    return attached.primary_key(key, "policy_pk").index("policy_pk")
