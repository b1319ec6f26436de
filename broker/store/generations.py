"""Generation counters: what tells a process's caches that the data behind them changed.

Every change to IAM or organization data bumps a counter in the same transaction: the counter of
the account the changed row belongs to, or ``*`` for what spans accounts (organizations,
AWS-managed policies, and any row whose account cannot be told). A cache entry is stored with the
:class:`Stamp` (both counters) read at the start of the request that loaded it, and used only by
a request that reads the same stamp. A change committed through any broker process is therefore
seen by every process at its next request: there is no time-to-live and no staleness window.

Changes are noticed without the code that makes them doing anything: a session hook watches the
ORM flush (new, changed and deleted rows, ignoring bookkeeping columns such as a key's last use)
and bulk UPDATE and DELETE statements; at commit it bumps the counters of the scopes it saw.

Reading the stamp is one indexed statement; it is memoized per transaction. A transaction that
has itself changed tracked data gets no stamp (``None``): its reads may see its own uncommitted
changes, which must never be cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from broker.store.db import Tx, driver_read
from broker.store.models import iam as iam_models
from broker.store.models import organizations as org_models

EVERYWHERE = "*"
_CHANGED = "broker.generations.changed"
_STAMPS = "broker.generations.stamps"

# Columns whose change no cache holds: bookkeeping written while serving requests.
_BOOKKEEPING = frozenset(
    {
        "last_used_at",
        "last_used_service",
        "last_used_region",
        "last_used_step",
        "failed_attempts",
        "failures_since",
        "locked_until",
        # Re-sealed under a new data key: the same secret. A cached old seal still opens until its key
        # is retired, and retiring invalidates every cache (see invalidate_everywhere).
        "secret_sealed",
        "seed_sealed",
    }
)
_UNTRACKED_TABLES = frozenset({"generations", "role_trusted_principals"})
# Tables whose rows feed cached values: IAM and organizations.
_TRACKED_TABLES = (
    frozenset(
        table.name
        for module in (iam_models, org_models)
        for table in (getattr(value, "__table__", value) for value in vars(module).values())
        if isinstance(table, Table)
    )
    - _UNTRACKED_TABLES
)
_CROSS_ACCOUNT_TABLES = frozenset(
    table.name for value in vars(org_models).values() if isinstance(table := getattr(value, "__table__", value), Table)
) | {"saml_providers"}
# A child row without an account of its own belongs to its parent's account, if the parent is loaded.
_PARENTS = ("user", "role", "group", "policy")
_READ = text("SELECT scope, value FROM generations WHERE scope = :account OR scope = '*'")
# The same statement for the driver itself, by placeholder style (see _counters).
_DRIVER_READ = {
    "qmark": "SELECT scope, value FROM generations WHERE scope = ? OR scope = '*'",
    "format": "SELECT scope, value FROM generations WHERE scope = %s OR scope = '*'",
    "pyformat": "SELECT scope, value FROM generations WHERE scope = %s OR scope = '*'",
}
# Upsert-and-increment, spelled the same on SQLite (3.24+) and PostgreSQL.
_BUMP = text(
    "INSERT INTO generations (scope, value) VALUES (:scope, 1) "
    "ON CONFLICT (scope) DO UPDATE SET value = generations.value + 1"
)


@dataclass(frozen=True, slots=True)
class Stamp:
    """The counters of one account and of ``*``, as a request read them."""

    account: int
    everywhere: int


def stamp(tx: Tx, account_id: str) -> Stamp | None:
    """The stamp cached values of ``account_id`` are valid under, as this transaction sees it;
    ``None`` when the transaction has changed tracked data itself (nothing it reads is cacheable).
    """
    if tx.info.get(_CHANGED) or _has_tracked_changes(tx):
        return None
    memo: dict[str, Stamp] = tx.info.setdefault(_STAMPS, {})
    found = memo.get(account_id)
    if found is None:
        values = {scope: int(value) for scope, value in _counters(tx, account_id)}
        found = memo[account_id] = Stamp(values.get(account_id, 0), values.get(EVERYWHERE, 0))
    return found


def _counters(tx: Tx, account_id: str) -> list[Any]:
    """The (scope, value) rows of ``account_id`` and ``*``.

    A read that has sent nothing yet (every warm request: the stamp is its first statement and,
    all else being cached, its only one) reads them on a pooled driver connection directly, which
    costs the round trip and not the session's machinery around it. Its later statements, if it
    misses, run on its own connection and see data at least as new as the stamp, never older: an
    entry is only ever stored under a stamp its data is no older than, which is what makes it
    safe to serve to a request reading the same stamp. A transaction that holds a connection (a
    unit of work, or a read past its first statement) reads on that connection, as before."""
    if not tx.in_transaction():
        bind: Any = tx.get_bind()
        statement = _DRIVER_READ.get(bind.dialect.paramstyle)
        if statement is not None:
            rows = driver_read(bind, statement, (account_id,))
            if rows is not None:
                return rows
    # Core, on the transaction's connection: the ORM adds nothing here.
    return list(tx.connection().execute(_READ, {"account": account_id}))


def invalidate_everywhere(tx: Tx) -> None:
    """Bump ``*`` when ``tx`` commits: every process drops every cached value at its next request."""
    _mark(tx, {EVERYWHERE})


def unchanged(tx: Tx) -> bool:
    """Whether this transaction has left tracked data as it found it (so what it read may be cached)."""
    return not tx.info.get(_CHANGED) and not _has_tracked_changes(tx)


def _has_tracked_changes(session: Session) -> bool:
    return bool(_changed_scopes(session))


def _scope_of(obj: Any, deleted: bool = False) -> str | None:
    """The scope a new, changed or (``deleted``) deleted object bumps; ``None`` if it feeds no cache."""
    table = getattr(type(obj), "__table__", None)
    if table is None or table.name not in _TRACKED_TABLES:
        return None
    state = inspect(obj)
    if state.persistent and not deleted:
        changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
        if not changed or changed <= _BOOKKEEPING:
            return None
    if table.name in _CROSS_ACCOUNT_TABLES:
        # An organization binds, and describes, accounts other than the row's; a SAML provider
        # is looked up by its issuer before any account is known.
        return EVERYWHERE
    return _account_of(obj, state.dict)


def _changed_scopes(session: Session) -> set[str]:
    scopes = {scope for obj in (*session.new, *session.dirty) if (scope := _scope_of(obj))}
    scopes.update(scope for obj in session.deleted if (scope := _scope_of(obj, deleted=True)))
    return scopes


def _account_of(obj: Any, loaded: dict[str, Any]) -> str:
    account = loaded.get("account_id")
    if isinstance(account, str) and account.isdigit():
        return account
    if account is not None:
        return EVERYWHERE  # AWS-managed policies ("aws") apply in every account
    for parent in _PARENTS:
        owner = loaded.get(parent)
        if owner is not None:
            return _account_of(owner, inspect(owner).dict)
    return EVERYWHERE


def _mark(session: Session, scopes: set[str]) -> None:
    if scopes:
        session.info.setdefault(_CHANGED, set()).update(scopes)


@event.listens_for(Session, "before_flush")
def _note_flushed(session: Session, _context: UOWTransaction, _instances: object) -> None:
    _mark(session, _changed_scopes(session))


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    statement: Any = state.statement
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    if name not in _TRACKED_TABLES:
        return
    if state.is_update:
        values = getattr(statement, "_values", None) or {}
        columns = {getattr(column, "key", str(column)) for column in values}
        if columns and columns <= _BOOKKEEPING:
            return
    # A bulk statement's rows are not known here: every cache is told.
    _mark(state.session, {EVERYWHERE})


@event.listens_for(Session, "before_commit")
def _bump_at_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    if _has_tracked_changes(session):
        session.flush()  # notes the scopes of what is still pending
    scopes: set[str] = session.info.pop(_CHANGED, set())
    session.info.pop(_STAMPS, None)
    for scope in sorted(scopes):  # one order everywhere: two committers never deadlock
        session.execute(_BUMP, {"scope": scope})


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: Any) -> None:
    if previous.parent is None:
        session.info.pop(_CHANGED, None)
        session.info.pop(_STAMPS, None)


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    session.info.pop(_STAMPS, None)
