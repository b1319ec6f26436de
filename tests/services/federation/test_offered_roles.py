"""The roles a sign-in is offered: read through the trusted-principal index (never the roles that do
not trust the provider), decided by the trust policies, kept in the session as offers and a count,
and explained on demand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from broker.saml.assertion import ROLE_ATTRIBUTE, Assertion
from broker.services.federation import SignIn
from broker.services.federation.explain import explain
from broker.services.federation.sessions import open_web_session
from broker.services.federation.sign_in import read_sign_in
from broker.services.iam import providers, roles
from broker.services.runtime import Runtime
from broker.store import federation as store
from broker.store.federation import ProviderRecord
from broker.web.app import create_app
from tests.support.metadata import idp_metadata_xml

ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"
ELSEWHERE = f"arn:aws:iam::{ACCOUNT}:saml-provider/elsewhere"


def _trust(principal: Any, action: str = "sts:AssumeRoleWithSAML", condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _create_role(runtime: Runtime, name: str, trust_policy: str) -> None:
    with runtime.db.transaction() as tx:
        roles.create_role(
            tx,
            ACCOUNT,
            name=name,
            trust_policy=trust_policy,
            path=None,
            description=None,
            max_session_duration=None,
            permissions_boundary=None,
            tags=None,
            now=runtime.now(),
        )


@pytest.fixture
def provider(runtime: Runtime) -> ProviderRecord:
    with runtime.db.transaction() as tx:
        providers.create_saml_provider(
            tx, ACCOUNT, "corp", idp_metadata_xml("https://idp.example/"), None, runtime.now()
        )
        found = store.provider_by_arn(tx, PROVIDER)
    assert found is not None
    _create_role(runtime, "Dev", _trust({"Federated": PROVIDER}))
    admins = {"ForAnyValue:StringEquals": {"saml:groups": "admins"}}
    _create_role(runtime, "Admin", _trust({"Federated": PROVIDER}, condition=admins))
    _create_role(runtime, "Anyone", _trust({"AWS": "*"}, action="sts:AssumeRole"))
    _create_role(runtime, "Elsewhere", _trust({"Federated": ELSEWHERE}))
    return found


def _assertion(runtime: Runtime, listed: list[str] | None = None) -> Assertion:
    now = runtime.now()
    attributes = {"groups": ["engineers"]}
    if listed is not None:
        attributes[ROLE_ATTRIBUTE] = [f"arn:aws:iam::{ACCOUNT}:role/{name},{PROVIDER}" for name in listed]
    return Assertion(
        issuer="https://idp.example/",
        assertion_id="_a1",
        response_id="_r1",
        in_response_to=None,
        subject="alice",
        name_id_format=None,
        recipient=runtime.settings.acs_url,
        audiences=(runtime.settings.sp_entity_id,),
        not_on_or_after=now + dt.timedelta(minutes=5),
        issue_instant=now,
        attributes=attributes,
    )


def _sign_in(runtime: Runtime, provider: ProviderRecord, listed: list[str] | None = None) -> SignIn:
    with runtime.db.transaction() as tx:
        return read_sign_in(tx, runtime.settings, _assertion(runtime, listed), provider, None)


def test_offers_and_a_count_of_the_candidates_that_refused(runtime: Runtime, provider: ProviderRecord) -> None:
    sign_in = _sign_in(runtime, provider)
    # Admin needs a group the sign-in lacks; Anyone trusts every AWS principal but not for SAML;
    # Elsewhere trusts another provider and is no candidate at all.
    assert [o.role_name for o in sign_in.offers()] == ["Dev"]
    assert (sign_in.refused_count, sign_in.listed_role_arns) == (2, None)
    # The session keeps offers and a count, not every refused role.
    assert "refused" not in dataclasses.asdict(sign_in)


def test_the_role_attribute_narrows_the_candidates(runtime: Runtime, provider: ProviderRecord) -> None:
    sign_in = _sign_in(runtime, provider, ["Dev", "Admin", "Elsewhere"])
    assert [o.role_name for o in sign_in.offers()] == ["Dev"]
    assert sign_in.refused_count == 1  # Admin; Anyone is not listed
    assert sign_in.listed_role_arns == [f"arn:aws:iam::{ACCOUNT}:role/{n}" for n in ("Admin", "Dev", "Elsewhere")]
    nothing = _sign_in(runtime, provider, [])
    assert (nothing.offers(), nothing.refused_count, nothing.listed_role_arns) == ([], 0, [])


def test_a_session_stored_with_every_refused_role_still_loads(runtime: Runtime, provider: ProviderRecord) -> None:
    stored = dataclasses.asdict(_sign_in(runtime, provider))
    del stored["refused_count"], stored["listed_role_arns"]
    stored["refused"] = [{"role_arn": "arn:aws:iam::123456789012:role/A", "reason": "no"}] * 3
    assert SignIn(**stored).refused_count == 3


class Reads:
    """The SELECTs a runtime's engine runs; each counted by the rows it returns (run again, with the
    same parameters, on a connection of its own: the sign-in reads through Core, not the ORM)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.seen: list[tuple[str, Any]] = []

    def record(self, _conn: object, _cursor: object, statement: str, parameters: Any, *_rest: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.seen.append((statement, parameters))

    def counted(self) -> list[tuple[str, int]]:
        statements = list(self.seen)  # counting runs them again, and they are recorded again
        with self.runtime.db.engine.connect() as connection:
            return [(sql, len(connection.exec_driver_sql(sql, params).all())) for sql, params in statements]


@pytest.fixture
def reads(runtime: Runtime) -> Iterator[Reads]:
    found = Reads(runtime)
    event.listen(runtime.db.engine, "before_cursor_execute", found.record)
    yield found
    event.remove(runtime.db.engine, "before_cursor_execute", found.record)


def test_a_sign_in_reads_no_role_that_does_not_trust_its_provider(
    runtime: Runtime, provider: ProviderRecord, reads: Reads
) -> None:
    def role_reads() -> list[tuple[str, int]]:
        reads.seen.clear()
        _sign_in(runtime, provider)
        return [(sql, rows) for sql, rows in reads.counted() if "FROM roles" in sql]

    few = role_reads()
    for n in range(150):
        other = _trust({"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/idp{n}"})
        _create_role(runtime, f"other-{n}", other if n % 3 else _trust({"AWS": ACCOUNT}, "sts:AssumeRole"))
    many = role_reads()
    # One statement reads the candidates through the index: the same statement, the same three rows.
    assert few == many
    [(sql, rows)] = many
    assert "role_trusted_principals" in sql and rows == 3


def test_the_explanation_is_worked_out_again_when_asked(runtime: Runtime, provider: ProviderRecord) -> None:
    sign_in = _sign_in(runtime, provider, ["Dev", "Admin", "Missing"])
    with runtime.db.transaction() as tx:
        token = open_web_session(runtime, tx, sign_in, runtime.now())
    explained = explain(runtime, token)
    assert explained is not None
    _web, _sign_in_again, report = explained
    assert [(r.role_arn.rpartition("/")[2], r.reason) for r in report.refusals] == [
        ("Admin", "the role's trust policy does not allow this sign-in")
    ]
    assert report.refused_total == 1
    assert (report.unmatched_listed, report.unmatched_total) == ([f"arn:aws:iam::{ACCOUNT}:role/Missing"], 1)
    # Decided against the trust policies as they are now.
    with runtime.db.transaction() as tx:
        roles.update_assume_role_policy(tx, ACCOUNT, "Admin", _trust({"Federated": PROVIDER}))
    explained = explain(runtime, token)
    assert explained is not None
    assert [r.reason for r in explained[2].refusals] == ["its trust policy allows this sign-in now: sign in again"]
    assert explain(runtime, None) is None
    assert explain(runtime, "not-a-session") is None


def test_the_role_page_links_to_the_explanation(runtime: Runtime, provider: ProviderRecord) -> None:
    _create_role(runtime, "Ops", _trust({"Federated": PROVIDER}))
    sign_in = _sign_in(runtime, provider)
    with runtime.db.transaction() as tx:
        token = open_web_session(runtime, tx, sign_in, runtime.now())
    client = create_app(runtime=runtime).test_client()
    client.set_cookie("broker_session", token)
    page = client.get("/saml/roles")
    assert page.status_code == 200 and 'id="explain-roles"' in page.text
    assert "2 other role(s) trust this provider" in page.text
    why = client.get("/saml/roles/why")
    assert why.status_code == 200 and why.headers["Cache-Control"] == "no-store"
    assert why.text.count('class="refusal"') == 2 and "role/Admin" in why.text and "role/Anyone" in why.text
    client.delete_cookie("broker_session")
    assert client.get("/saml/roles/why").status_code == 303
