"""One demo broker for the whole fuzz run (an administrator's keys, a signed-in browser), and the
count of inputs tried per surface in the terminal summary."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter
from flask import Flask
from flask.testing import FlaskClient

from broker.demo.setup import demo_idp, prepare_demo, seed_demo
from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from broker.settings import Settings
from broker.web.app import create_app
from broker.web.protocol import SESSION_COOKIE
from tests.fuzz.support import TRIED, Keys
from tests.support.brokers import free_port, make_runtime, make_settings, postgres_schema

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ROLE = re.compile(r'name="role_arn" [^>]*value="([^"]+)"')


def _shown(page: str, element_id: str) -> str:
    found = re.search(f'id="{element_id}"[^>]*>([^<]+)<', page)
    assert found is not None, page[:500]
    return found.group(1)


@dataclass
class FuzzBroker:
    runtime: Runtime
    app: Flask
    admin: Keys
    # Temporary credentials of alice's first role, issued on the credentials page.
    session: Keys
    session_token: str
    # A browser signed in through the demo IdP: its session cookie and CSRF token.
    session_cookie: str
    csrf_token: str
    # A role alice may assume.
    role_arn: str

    def anonymous(self) -> FlaskClient:
        return self.app.test_client()

    def signed_in(self) -> FlaskClient:
        client = self.app.test_client()
        client.set_cookie(SESSION_COOKIE, self.session_cookie)
        return client


@pytest.fixture(scope="session")
def fuzz_broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[FuzzBroker]:
    workdir = tmp_path_factory.mktemp("fuzz")
    base_url = f"http://127.0.0.1:{free_port()}"
    # Rate limits off: thousands of requests from one address would be throttled before the
    # code under test reads them (throttling has its own tests).
    # BROKER_FUZZ_DATABASE=postgresql fuzzes against a fresh schema on the local PostgreSQL.
    with ExitStack() as stack:
        if os.environ.get("BROKER_FUZZ_DATABASE") == "postgresql":
            database = stack.enter_context(postgres_schema())
        else:
            database = f"sqlite:///{workdir / 'broker.db'}"
        settings = make_settings(workdir, keys_dir, database, base_url, demo=True, rate_limit_enabled=False)
        broker = _signed_in_broker(settings)
        yield broker
        broker.runtime.db.dispose()


def _signed_in_broker(settings: Settings) -> FuzzBroker:
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    app = create_app(runtime=runtime)
    admin = bootstrap_admin(runtime)
    browser = app.test_client()
    assertion = demo_idp(runtime).response_for("alice", None, settings.acs_url, settings.sp_entity_id)
    page = browser.post(
        "/saml/acs", data={"SAMLResponse": assertion, "RelayState": "/saml/roles"}, follow_redirects=True
    )
    csrf = _CSRF.search(page.get_data(as_text=True))
    role = _ROLE.search(page.get_data(as_text=True))
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert csrf is not None and role is not None and cookie is not None, page.get_data(as_text=True)[:500]
    issued = browser.post(
        "/saml/roles", data={"role_arn": role.group(1), "csrf_token": csrf.group(1)}, follow_redirects=True
    )
    credentials = issued.get_data(as_text=True)
    return FuzzBroker(
        runtime,
        app,
        Keys(admin.access_key_id, admin.secret_access_key),
        Keys(_shown(credentials, "access-key-id"), _shown(credentials, "secret-access-key")),
        _shown(credentials, "session-token"),
        cookie.value,
        csrf.group(1),
        role.group(1),
    )


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if not TRIED:
        return
    terminalreporter.section("fuzz inputs tried")
    for surface, count in sorted(TRIED.items()):
        terminalreporter.write_line(f"{surface:<28} {count:>8}")
    terminalreporter.write_line(f"{'total':<28} {sum(TRIED.values()):>8}")
