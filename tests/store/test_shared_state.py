"""State two broker processes share through the database: replay guard and outstanding requests."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from broker.demo.idp import DemoIdp
from broker.demo.setup import demo_idp, prepare_demo, seed_demo
from broker.services.runtime import Runtime
from broker.store import federation as store
from broker.store.federation import SamlRequestRecord
from broker.web.app import create_app
from tests.support.brokers import make_runtime, make_settings
from tests.support.demo_flow import element_text


@pytest.fixture
def two_instances(
    tmp_path: Path, keys_dir: Path, database_url: str, base_url: str
) -> Iterator[tuple[Flask, Flask, DemoIdp]]:
    """Two app instances (as two workers or hosts would be) on one database and one key set."""
    settings = make_settings(tmp_path, keys_dir, database_url, base_url, demo=True)
    prepare_demo(Runtime.from_settings(settings))
    first, second = make_runtime(settings), Runtime.from_settings(settings)
    seed_demo(first)
    yield create_app(runtime=first), create_app(runtime=second), demo_idp(first)
    first.db.dispose()
    second.db.dispose()


def unsolicited(idp: DemoIdp, runtime: Runtime, user: str = "alice") -> str:
    return idp.response_for(user, None, runtime.settings.acs_url, runtime.settings.sp_entity_id)


def test_assertion_used_on_one_instance_is_refused_on_the_other(two_instances: tuple[Flask, Flask, DemoIdp]) -> None:
    app_a, app_b, idp = two_instances
    response = unsolicited(idp, app_a.extensions["broker.runtime"])
    accepted = app_a.test_client().post("/saml/acs", data={"SAMLResponse": response}, follow_redirects=True)
    assert accepted.status_code == 200, accepted.text
    replayed = app_b.test_client().post("/saml/acs", data={"SAMLResponse": response}, follow_redirects=True)
    assert replayed.status_code == 403
    assert element_text(replayed.text, "error-code") == "Replay"


def test_concurrent_use_on_two_instances_admits_exactly_one(two_instances: tuple[Flask, Flask, DemoIdp]) -> None:
    app_a, app_b, idp = two_instances
    response = unsolicited(idp, app_a.extensions["broker.runtime"])
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def post(app: Flask) -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/saml/acs", data={"SAMLResponse": response}, follow_redirects=True).status_code)

    threads = [threading.Thread(target=post, args=(app,)) for app in (app_a, app_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 403]


def test_outstanding_request_is_consumed_once(two_instances: tuple[Flask, Flask, DemoIdp]) -> None:
    app_a, app_b, _ = two_instances
    runtime_a: Runtime = app_a.extensions["broker.runtime"]
    runtime_b: Runtime = app_b.extensions["broker.runtime"]
    now = runtime_a.now()
    with runtime_a.db.transaction() as session:
        store.add_saml_request(
            session,
            SamlRequestRecord(
                request_id="id-shared",
                provider_arn="arn:aws:iam::123456789012:saml-provider/demo",
                browser_binding="0" * 64,
                relay_state=None,
                created_at=now,
                expires_at=now + dt.timedelta(minutes=5),
            ),
        )
    with runtime_b.db.transaction() as session:
        assert store.consume_saml_request(session, "id-shared", now) is not None
    with runtime_a.db.transaction() as session:
        assert store.consume_saml_request(session, "id-shared", now) is None
    with runtime_a.db.transaction() as session:
        request = store.saml_request(session, "id-shared")
        assert request is not None and request.consumed_at is not None


def test_expired_requests_cannot_be_consumed_and_are_purged(two_instances: tuple[Flask, Flask, DemoIdp]) -> None:
    runtime: Runtime = two_instances[0].extensions["broker.runtime"]
    now = runtime.now()
    with runtime.db.transaction() as session:
        store.add_saml_request(
            session,
            SamlRequestRecord(
                request_id="id-old",
                provider_arn="p",
                browser_binding="0" * 64,
                relay_state=None,
                created_at=now - dt.timedelta(days=3),
                expires_at=now - dt.timedelta(days=2),
            ),
        )
        store.remember_assertion(session, "issuer", "a-old", now - dt.timedelta(seconds=1))
    with runtime.db.transaction() as session:
        assert store.consume_saml_request(session, "id-old", now) is None
        store.purge_expired(session, now)
    with runtime.db.transaction() as session:
        assert store.saml_request(session, "id-old") is None
        assert store.remember_assertion(session, "issuer", "a-old", now + dt.timedelta(minutes=5))
