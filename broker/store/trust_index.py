"""The trusted-principal index: which roles' trust policies could admit a federated principal,
and which name an IAM user or role.

A sign-in reads the roles indexed under its provider's ARN or under ``*``, never every role.
Each role has a row per federated principal (a SAML or OIDC provider ARN, or a provider name
such as ``cognito-identity.amazonaws.com``) that an ``Allow`` statement of its trust policy
names, and a ``*`` row when an ``Allow`` statement admits any principal (``"Principal": "*"``,
``{"AWS": "*"}``, ``NotPrincipal``) or when the document cannot be read precisely. The index
is a superset: the policy engine still decides each role it yields.

Each role also has a row per IAM user or role ARN that any statement names as an ``AWS``
principal (``Principal`` or ``NotPrincipal``, Allow or Deny): deleting or renaming that user
or role finds the trust policies to rewrite here (:func:`roles_naming`), as AWS rewrites them.

The rows are written in the transaction that writes the trust policy (:mod:`broker.store.iam.named`)
and go with the role (ON DELETE CASCADE). Roles written before the index existed are indexed by
:func:`index_unindexed_roles`, which set-up runs after every schema upgrade.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from broker.store import models
from broker.store.db import Tx

ANYONE = "*"
# The column's width; a longer name (no valid principal is) is indexed as "anyone".
_MAX_PRINCIPAL = 2048
_BACKFILL_BATCH = 1000
# The ARN of an IAM user or role: what AWS binds to the entity's unique id in a trust policy.
_ENTITY_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::\d{12}:(?:user|role)/\S+")


def trusted_principals(trust_policy: str) -> frozenset[str]:
    """The index entries of a trust policy: the federated principals its ``Allow`` statements
    name, plus ``*`` if one admits any principal or the document is not what a valid one is,
    plus the IAM user and role ARNs any statement names."""
    try:
        document = json.loads(trust_policy)
    except ValueError:
        return frozenset({ANYONE})
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return frozenset({ANYONE})
    return _federated_principals(statements) | _named_entities(statements)


def _named_entities(statements: list[Any]) -> frozenset[str]:
    """The IAM user and role ARNs the statements name as ``AWS`` principals, in any statement."""
    found: set[str] = set()
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            principal = statement.get(element)
            names = principal.get("AWS") if isinstance(principal, dict) else None
            if isinstance(names, str):
                names = [names]
            if isinstance(names, list):
                found.update(name for name in names if isinstance(name, str) and _names_entity(name))
    return frozenset(found)


def _names_entity(name: str) -> bool:
    return len(name) <= _MAX_PRINCIPAL and _ENTITY_ARN.fullmatch(name) is not None


def _federated_principals(statements: list[Any]) -> frozenset[str]:
    found: set[str] = set()
    for statement in statements:
        if not isinstance(statement, dict):
            return frozenset({ANYONE})
        if statement.get("Effect") == "Deny":
            continue  # a Deny statement admits no one
        found |= _statement_principals(statement)
    return frozenset(found)


def _statement_principals(statement: dict[str, Any]) -> set[str]:
    if "NotPrincipal" in statement or "Principal" not in statement:
        return {ANYONE}  # admits whoever it does not list (or, without a Principal, cannot be told)
    principal = statement["Principal"]
    if principal == ANYONE:
        return {ANYONE}
    if not isinstance(principal, dict):
        return {ANYONE}
    found: set[str] = set()
    for principal_type, value in principal.items():
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return {ANYONE}
        if principal_type == "AWS" and ANYONE in names:
            return {ANYONE}  # AWS documents {"AWS": "*"} as "*"
        if principal_type == "Federated":
            found |= {name if len(name) <= _MAX_PRINCIPAL else ANYONE for name in names}
    return found


def _insert(tx: Tx, entries: Iterable[tuple[int, str]]) -> None:
    """Add index rows; one that exists already is left as it is (a concurrent backfill wrote it)."""
    values = [{"role_pk": role_pk, "principal": principal} for role_pk, principal in entries]
    if not values:
        return
    table = models.RoleTrustedPrincipal.__table__
    dialect = postgresql if tx.get_bind().dialect.name == "postgresql" else sqlite
    tx.execute(dialect.insert(table).on_conflict_do_nothing(), values)


def index_new_role(tx: Tx, role_pk: int, trust_policy: str) -> None:
    """Index a role just inserted (by its primary key, known once the insert is flushed)."""
    _insert(tx, ((role_pk, principal) for principal in sorted(trusted_principals(trust_policy))))


def reindex_role(tx: Tx, role_id: str, trust_policy: str) -> None:
    """Replace the entries of the role with unique id ``role_id`` by those of its new trust policy."""
    role_pk = tx.scalar(select(models.Role.id).where(models.Role.role_id == role_id))
    if role_pk is None:
        return
    tx.execute(delete(models.RoleTrustedPrincipal).where(models.RoleTrustedPrincipal.role_pk == role_pk))
    index_new_role(tx, role_pk, trust_policy)


def _unindexed_roles() -> Select[int, str]:
    """Roles with no entry whose trust policy could give one.

    A document that names no federated principal and admits no one in particular has no entry
    (it is read again by the next backfill). Only a document that contains ``Federated``, ``*``,
    ``NotPrincipal``, ``:user/``, ``:role/`` or a JSON escape (``\\u0046ederated``) can: the others
    are skipped in SQL.
    """
    document = models.Role.trust_policy
    indexed = exists().where(models.RoleTrustedPrincipal.role_pk == models.Role.id)
    texts = ("Federated", "*", "NotPrincipal", ":user/", ":role/", "\\")
    could_name = or_(*(document.contains(text, autoescape=True) for text in texts))
    return select(models.Role.id, document).where(~indexed, could_name).order_by(models.Role.id)


def index_unindexed_roles(tx: Tx) -> int:
    """Index the roles written before the index existed (idempotent); how many got entries.

    Only adds rows: a role whose trust policy changes meanwhile is reindexed by that change, and a
    stale extra entry only makes the role a candidate the policy engine then refuses.
    """
    indexed = 0
    after = 0
    while True:
        batch = tx.execute(_unindexed_roles().where(models.Role.id > after).limit(_BACKFILL_BATCH)).all()
        if not batch:
            return indexed
        entries = [(role_pk, principal) for role_pk, document in batch for principal in trusted_principals(document)]
        _insert(tx, entries)
        indexed += len({role_pk for role_pk, _ in entries})
        after = batch[-1][0]


def roles_naming(tx: Tx, entity_arn: str) -> list[tuple[str, str]]:
    """(unique id, trust policy) of every role, in any account, whose trust policy names the IAM
    user or role ``entity_arn``; the roles are locked for update (PostgreSQL) until the
    transaction ends, so a concurrent change of one of them is not lost."""
    query = (
        select(models.Role.role_id, models.Role.trust_policy)
        .join(models.RoleTrustedPrincipal, models.RoleTrustedPrincipal.role_pk == models.Role.id)
        .where(models.RoleTrustedPrincipal.principal == entity_arn)
        .order_by(models.Role.id)
        .with_for_update(of=models.Role)
    )
    return [(role_id, document) for role_id, document in tx.execute(query)]


def principals_of(tx: Tx, role_id: str) -> set[str]:
    """The entries of the role with unique id ``role_id`` (for tests and diagnostics)."""
    query = (
        select(models.RoleTrustedPrincipal.principal)
        .join(models.Role, models.Role.id == models.RoleTrustedPrincipal.role_pk)
        .where(models.Role.role_id == role_id)
    )
    return set(tx.scalars(query))
