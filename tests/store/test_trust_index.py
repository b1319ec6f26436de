"""The trusted-principal index: what a trust policy is indexed under, kept in step with every write
of the policy, backfilled for roles written before it, and read by the sign-in's candidate query."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from broker.store import federation, models, trust_index
from broker.store.db import Database
from broker.store.iam import named
from broker.store.iam.accounts import ensure_account

ACCOUNT = "123456789012"
OTHER = "210987654321"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"
ELSEWHERE = f"arn:aws:iam::{OTHER}:saml-provider/entra"
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def trust(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, key: str = "Principal") -> dict[str, Any]:
    return {"Effect": "Allow", key: principal, "Action": "sts:AssumeRoleWithSAML"}


def deny(principal: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": principal, "Action": "sts:AssumeRoleWithSAML"}


# (description, trust policy, what it is indexed under)
CASES: list[tuple[str, str, set[str]]] = [
    ("one federated provider", trust(allow({"Federated": PROVIDER})), {PROVIDER}),
    ("a list of providers", trust(allow({"Federated": [PROVIDER, ELSEWHERE]})), {PROVIDER, ELSEWHERE}),
    ("a provider beside an account", trust(allow({"Federated": PROVIDER, "AWS": OTHER})), {PROVIDER}),
    ("a statement that is an object", json.dumps({"Statement": allow({"Federated": PROVIDER})}), {PROVIDER}),
    ('anyone: "*"', trust(allow("*")), {"*"}),
    ('anyone: {"AWS": "*"}', trust(allow({"AWS": "*"})), {"*"}),
    ('anyone: "*" among AWS principals', trust(allow({"AWS": [OTHER, "*"]})), {"*"}),
    ("NotPrincipal admits whoever it does not list", trust(allow({"Federated": PROVIDER}, "NotPrincipal")), {"*"}),
    ("an AWS account only", trust(allow({"AWS": f"arn:aws:iam::{OTHER}:root"})), set()),
    ("a service only", trust(allow({"Service": "ec2.amazonaws.com"})), set()),
    ("a Deny statement admits no one", trust(deny({"Federated": PROVIDER}), deny("*")), set()),
    ("Deny everyone, Allow a provider", trust(deny("*"), allow({"Federated": ELSEWHERE})), {ELSEWHERE}),
    ("a JSON escape spells Federated", trust(allow({"Federated": PROVIDER})).replace("Fed", "\\u0046ed"), {PROVIDER}),
    ("not JSON: cannot be told", "{not json", {"*"}),
    ("no Principal: cannot be told", trust({"Effect": "Allow", "Action": "sts:AssumeRoleWithSAML"}), {"*"}),
    ("a principal of the wrong shape", trust(allow({"Federated": 42})), {"*"}),
    ("a name longer than the column", trust(allow({"Federated": "x" * 3000})), {"*"}),
]


@pytest.mark.parametrize(("trust_policy", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_a_trust_policy_is_indexed_under(trust_policy: str, expected: set[str]) -> None:
    assert trust_index.trusted_principals(trust_policy) == expected


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.transaction() as tx:
        ensure_account(tx, ACCOUNT, alias="dev-team", now=NOW)
        ensure_account(tx, OTHER, now=NOW)
    yield database
    database.dispose()


def _fields(account: str, name: str, trust_policy: str) -> dict[str, Any]:
    return {
        "account_id": account,
        "name": name,
        "name_key": name.lower(),
        "path": "/",
        "role_id": f"AROA{name.upper():0>17}"[:21],
        "arn": f"arn:aws:iam::{account}:role/{name}",
        "trust_policy": trust_policy,
        "description": "",
        "max_session_duration": 3600,
        "create_date": NOW,
        "tags": {},
    }


def _add(database: Database, account: str, name: str, trust_policy: str) -> str:
    with database.transaction() as tx:
        role = named.ROLES.add(tx, _fields(account, name, trust_policy))
        assert role is not None
        return role.role_id


def _candidates(database: Database, provider: str, role_arns: list[str] | None = None) -> list[str]:
    with database.transaction() as tx:
        return [role.name for role in federation.roles_trusting(tx, provider, role_arns)]


def _entries(database: Database) -> int:
    with database.transaction() as tx:
        return tx.scalar(select(func.count()).select_from(models.RoleTrustedPrincipal)) or 0


def test_every_write_of_a_trust_policy_keeps_the_index(db: Database) -> None:
    role_id = _add(db, ACCOUNT, "Dev", trust(allow({"Federated": PROVIDER})))
    with db.transaction() as tx:
        assert trust_index.principals_of(tx, role_id) == {PROVIDER}
    assert _candidates(db, PROVIDER) == ["Dev"]
    assert _candidates(db, ELSEWHERE) == []
    # UpdateAssumeRolePolicy: the old entries go, the new ones come, in the same transaction.
    with db.transaction() as tx:
        named.update_role(tx, role_id, trust_policy=trust(allow({"Federated": ELSEWHERE})))
        assert trust_index.principals_of(tx, role_id) == {ELSEWHERE}
    assert (_candidates(db, PROVIDER), _candidates(db, ELSEWHERE)) == ([], ["Dev"])
    # Other changes leave them alone.
    with db.transaction() as tx:
        named.update_role(tx, role_id, description="changed", max_session_duration=7200)
        assert trust_index.principals_of(tx, role_id) == {ELSEWHERE}
    # DeleteRole: the entries go with the role.
    with db.transaction() as tx:
        assert named.ROLES.delete(tx, role_id)
    assert _entries(db) == 0


def test_the_candidates_are_the_roles_indexed_under_the_provider_or_anyone(db: Database) -> None:
    _add(db, ACCOUNT, "Dev", trust(allow({"Federated": PROVIDER})))
    _add(db, OTHER, "Anyone", trust(allow({"AWS": "*"})))
    _add(db, ACCOUNT, "Ops", trust(allow({"Federated": [ELSEWHERE, PROVIDER]})))
    _add(db, ACCOUNT, "Entra", trust(allow({"Federated": ELSEWHERE})))
    _add(db, ACCOUNT, "Batch", trust(allow({"Service": "batch.amazonaws.com"})))
    # By account, then name; the index is a superset the policy engine then decides on.
    assert _candidates(db, PROVIDER) == ["Dev", "Ops", "Anyone"]
    # The IdP's Role attribute narrows them in SQL; an empty list, or ARNs of no candidate, to nothing.
    arn = f"arn:aws:iam::{ACCOUNT}:role/"
    assert _candidates(db, PROVIDER, [arn + "Ops", arn + "Entra", arn + "Nope"]) == ["Ops"]
    assert _candidates(db, PROVIDER, []) == []
    # More ARNs than one statement binds: read in several statements, still in order.
    many = [f"{arn}Filler{n}" for n in range(1200)] + [arn + "Dev", f"arn:aws:iam::{OTHER}:role/Anyone"]
    assert _candidates(db, PROVIDER, many) == ["Dev", "Anyone"]


def test_roles_written_before_the_index_are_backfilled_once(db: Database) -> None:
    documents = {
        "Dev": trust(allow({"Federated": PROVIDER})),
        "Anyone": trust(allow("*")),
        "Service": trust(allow({"Service": "ec2.amazonaws.com"})),
        "Account": trust(allow({"AWS": OTHER})),
    }
    with db.transaction() as tx:
        for name, document in documents.items():
            fields = _fields(ACCOUNT, name, document)
            fields["created_at"] = fields.pop("create_date")
            tx.add(models.Role(**fields))  # as an older broker wrote roles: no index entries
    assert _candidates(db, PROVIDER) == []
    with db.transaction() as tx:
        assert trust_index.index_unindexed_roles(tx) == 2
    assert _candidates(db, PROVIDER) == ["Anyone", "Dev"]
    # Idempotent: a second run finds nothing to add, and a role indexed since is left as it is.
    _add(db, ACCOUNT, "Later", trust(allow({"Federated": ELSEWHERE})))
    before = _entries(db)
    with db.transaction() as tx:
        assert trust_index.index_unindexed_roles(tx) == 0
    assert _entries(db) == before == 3
