"""The browser sign-in's request path: the SQL a sign-in costs, and page views that only read.

Counted, not timed, on SQLite and PostgreSQL, with the bundled demo IdP through the test client.
A warm SP-initiated sign-in (its provider's settings already in the process's cache) is one write
transaction whose own statements are: the cache stamp, the outstanding request read once and
answered once, the replay guard's single insert, the candidate roles and the new web session
(the audit trail's statements are its writer's business). The role page it answers with reads
nothing back. Page views (home, role page, why) run in read-only transactions: PostgreSQL refuses
a write in one, so these tests passing there is the proof. A provider changed through another
broker process applies at the very next sign-in: the cache has no time-to-live to wait out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, event

from broker.crypto.keys import generate_rsa_pair
from broker.demo.setup import demo_idp, prepare_demo, seed_demo
from broker.iam.arn import saml_provider_arn
from broker.services.iam import providers
from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.support.brokers import make_runtime, make_settings
from tests.support.demo_flow import demo_saml_response, demo_sign_in, element_text
from tests.support.metadata import idp_metadata_xml

# How each dialect marks a transaction begun by Database.read().
READ_ONLY_OPTIONS = ("postgresql_readonly", "broker_read_only")
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET")
_TABLE = re.compile(r"^(?:INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM) (\w+)")


@dataclass
class Recorded:
    """What the test's own thread sent to the database while recording."""

    statements: list[str] = field(default_factory=list)
    read_only: list[bool] = field(default_factory=list)  # one per transaction begun

    def shapes(self) -> list[tuple[str, str]]:
        """(verb, table) of each statement, transaction control and the audit trail's aside."""
        found = []
        for statement in self.statements:
            if statement.upper().startswith(TRANSACTION_CONTROL):
                continue
            match = _TABLE.match(statement)
            assert match is not None, statement
            if not match.group(1).startswith("audit_"):
                found.append((statement.split(" ", 1)[0].upper(), match.group(1)))
        return found


@contextmanager
def recorded(runtime: Runtime) -> Iterator[Recorded]:
    me = threading.get_ident()
    found = Recorded()

    def statement(_conn: object, _cursor: object, sql: str, *_rest: object) -> None:
        if threading.get_ident() == me:
            found.statements.append(" ".join(sql.split()))

    def begin(conn: Connection) -> None:
        if threading.get_ident() == me:
            options = conn.get_execution_options()
            found.read_only.append(any(options.get(name) for name in READ_ONLY_OPTIONS))

    engine = runtime.db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", begin)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", begin)


@pytest.fixture
def demo_runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    # The per-address rate limit charges each request in a statement of its own, before the route
    # runs; what it costs is the limiter's tests' business, as the audit writer's is theirs.
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, demo=True, rate_limit_enabled=False)
    runtime = Runtime.from_settings(settings)
    prepare_demo(runtime)
    runtime = make_runtime(settings)
    seed_demo(runtime)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def app(demo_runtime: Runtime) -> Flask:
    return create_app(runtime=demo_runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize("with_origin", [False, True], ids=["no-origin", "origin"])
def test_a_warm_sign_in_reads_then_writes_in_one_short_transaction(
    client: FlaskClient, demo_runtime: Runtime, with_origin: bool
) -> None:
    # The demo IdP posts from the broker's own origin; the registered origins come from the cache.
    headers = {"Origin": demo_runtime.settings.base_url} if with_origin else {}
    assert demo_sign_in(client, "alice", "alice-demo").status_code == 200  # caches the provider
    client.post(
        "/saml/acs", data={"SAMLResponse": "x"}, headers=headers, follow_redirects=True
    )  # and the registered origins
    saml_response, _ = demo_saml_response(client, "alice", "alice-demo")
    with recorded(demo_runtime) as seen:
        signed_in = client.post("/saml/acs", data={"SAMLResponse": saml_response}, headers=headers)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/saml/roles"
    page = client.get("/saml/roles")
    assert page.status_code == 200 and 'id="role-form"' in page.text
    # The stamp the cached provider is valid under goes first, on the driver directly (not heard
    # here; tests/services/test_hot_path.py counts at the driver).
    assert seen.shapes() == [
        # The checks, in a read: no write lock held while the signature and the roles are checked.
        ("SELECT", "saml_requests"),  # the AuthnRequest it answers, read once: it pins the provider
        ("SELECT", "roles"),  # the candidates, through the trusted-principal index
        ("SELECT", "web_sessions"),  # whose session the browser held: another person's would end
        # Then one short write.
        ("UPDATE", "saml_requests"),  # answered, once: of two racing responses one gets through
        ("INSERT", "seen_assertions"),  # the replay guard
        ("INSERT", "web_sessions"),  # the role page gets its CSRF token from here, not by reading back
    ]
    assert seen.read_only == [True, False]


def test_page_views_read_in_read_only_transactions(client: FlaskClient, demo_runtime: Runtime) -> None:
    assert demo_sign_in(client, "alice", "alice-demo").status_code == 200
    with recorded(demo_runtime) as seen:
        home = client.get("/")
        roles = client.get("/saml/roles")
        why = client.get("/saml/roles/why")
    assert (home.status_code, roles.status_code, why.status_code) == (200, 200, 200)
    assert 'id="role-form"' in roles.text
    assert len(seen.read_only) == 3 and all(seen.read_only)
    assert {verb for verb, _table in seen.shapes()} == {"SELECT"}


def test_a_provider_changed_by_another_process_applies_at_the_next_sign_in(
    client: FlaskClient, demo_runtime: Runtime
) -> None:
    assert demo_sign_in(client, "alice", "alice-demo").status_code == 200  # caches the provider
    saml_response, _ = demo_saml_response(client, "alice", "alice-demo")
    # Another broker process on the same database: the IdP's key is replaced by another one.
    other = Runtime.from_settings(demo_runtime.settings)
    provider_arn = saml_provider_arn(demo_runtime.settings.default_account_id, "demo")
    rotated = idp_metadata_xml(demo_idp(demo_runtime).entity_id, generate_rsa_pair("rotated", key_size=2048)[1])
    with other.db.transaction() as tx:
        providers.update_saml_provider_metadata(tx, provider_arn, rotated)
    other.db.dispose()
    refused = client.post("/saml/acs", data={"SAMLResponse": saml_response}, follow_redirects=True)
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == "BadSignature"


def test_an_unknown_issuer_is_refused_without_reading_providers(client: FlaskClient, demo_runtime: Runtime) -> None:
    assert demo_sign_in(client, "alice", "alice-demo").status_code == 200
    saml_response, _ = demo_saml_response(client, "alice", "alice-demo")
    with demo_runtime.db.transaction() as tx:  # the only registration goes: its issuer is unknown now
        providers.delete_saml_provider(
            tx,
            demo_runtime.settings.default_account_id,
            saml_provider_arn(demo_runtime.settings.default_account_id, "demo"),
        )
    refused = client.post("/saml/acs", data={"SAMLResponse": saml_response}, follow_redirects=True)
    assert refused.status_code == 403
    assert element_text(refused.text, "error-code") == "UnknownIssuer"
    # A made-up issuer is answered from the cached set of registered ones: no provider row is read.
    with recorded(demo_runtime) as seen:
        again = client.post("/saml/acs", data={"SAMLResponse": saml_response}, follow_redirects=True)
    assert element_text(again.text, "error-code") == "UnknownIssuer"
    assert ("SELECT", "saml_providers") not in seen.shapes()
