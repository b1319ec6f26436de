"""The role page names accounts as Organizations does ("Production (prod-main, 210987654321)") and
its filter finds roles by words of that name: the page as served, and in Chromium as typed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.services.federation import FederationService
from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.services.federation.corp import (
    CORP_ARN,
    DEFAULT,
    IdpKeys,
    add_account,
    corp_runtime,
    signed_response,
    trust_role,
)
from tests.support.brokers import LiveBroker, free_port
from tests.support.browser import chromium_page

PRODUCTION = "210987654321"
STAGING = "310987654321"


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, sqlite_url: str, keys: IdpKeys) -> Iterator[Runtime]:
    """corp's Engineer and Reader in the default account (no name), and roles trusting corp in
    "Production" (alias prod-main) and "Staging" (no alias)."""
    runtime = corp_runtime(tmp_path, keys_dir, sqlite_url, keys)
    add_account(runtime, PRODUCTION, alias="prod-main", name="Production")
    add_account(runtime, STAGING, None, name="Staging")
    for account_id, role in ((PRODUCTION, "Deployer"), (PRODUCTION, "Auditor"), (STAGING, "Deployer")):
        trust_role(runtime, account_id, role, CORP_ARN)
    yield runtime
    runtime.db.dispose()


def signed_in(client: FlaskClient, keys: IdpKeys) -> str:
    """Sign in as corp's IdP would; the web session's cookie."""
    posted = client.post("/saml/acs", data={"SAMLResponse": signed_response(keys, "_f1")})
    assert posted.status_code == 303 and posted.headers["Location"] == "/saml/roles"
    cookie = client.get_cookie("broker_session")
    assert cookie is not None
    return cookie.value


def legends(page: str) -> list[str]:
    return [" ".join(re.sub(r"<[^>]+>", "", unescape(m)).split()) for m in re.findall(r"<legend>(.*?)</legend>", page)]


def test_the_account_name_reaches_the_page_and_the_filter(rt: Runtime, keys: IdpKeys) -> None:
    client = create_app(runtime=rt).test_client()
    cookie = signed_in(client, keys)
    page = client.get("/saml/roles").text
    assert legends(page) == [
        f"Account {DEFAULT}",
        "Account Production (prod-main, 210987654321)",
        "Account Staging (310987654321)",
    ]
    filters = {arn: text for text, arn in re.findall(r'data-filter="([^"]*)">\s*<input[^>]* value="([^"]*)"', page)}
    assert len(filters) == 5
    production = filters[f"arn:aws:iam::{PRODUCTION}:role/Deployer"]
    assert "production" in production.split() and "prod-main" in production.split()
    assert "staging" in filters[f"arn:aws:iam::{STAGING}:role/Deployer"].split()
    assert not any(name in filters[f"arn:aws:iam::{DEFAULT}:role/Engineer"] for name in ("production", "staging"))
    # Home, signed in, shows the same form.
    assert legends(client.get("/").text) == legends(page)

    # The session keeps each account's name once, not in every offer.
    loaded = FederationService(rt).load_web_session(cookie)
    assert loaded is not None
    sign_in = loaded[1]
    assert sign_in.account_names == {PRODUCTION: "Production", STAGING: "Staging"}
    assert all("account_name" not in stored for stored in sign_in.roles)
    assert {o.role_arn: o.account_name for o in sign_in.offers()} == {
        f"arn:aws:iam::{DEFAULT}:role/Engineer": None,
        f"arn:aws:iam::{DEFAULT}:role/Reader": None,
        f"arn:aws:iam::{PRODUCTION}:role/Auditor": "Production",
        f"arn:aws:iam::{PRODUCTION}:role/Deployer": "Production",
        f"arn:aws:iam::{STAGING}:role/Deployer": "Staging",
    }


@pytest.mark.browser
def test_typing_part_of_the_account_name_filters_to_its_roles(rt: Runtime, keys: IdpKeys) -> None:
    cookie = signed_in(create_app(runtime=rt).test_client(), keys)
    with LiveBroker(rt, free_port()) as live, chromium_page() as page:
        page.context.add_cookies([{"name": "broker_session", "value": cookie, "url": live.url}])
        page.goto(f"{live.url}/saml/roles")
        page.wait_for_selector("#role-filter")
        visible = page.locator("#role-list .role:visible input")
        assert visible.count() == 5

        page.fill("#role-filter", "PRODUC")
        shown = [visible.nth(i).get_attribute("value") for i in range(visible.count())]
        assert shown == [f"arn:aws:iam::{PRODUCTION}:role/Auditor", f"arn:aws:iam::{PRODUCTION}:role/Deployer"]
        assert page.locator("#role-list fieldset:visible").count() == 1 and page.is_hidden("#role-filter-empty")

        page.fill("#role-filter", "deployer stag")  # words in any order, over role and account name
        assert [visible.nth(i).get_attribute("value") for i in range(visible.count())] == [
            f"arn:aws:iam::{STAGING}:role/Deployer"
        ]

        page.fill("#role-filter", "production engineer")
        assert visible.count() == 0 and page.locator("#role-list fieldset:visible").count() == 0
        assert page.inner_text("#role-filter-empty") == "No role matches \u201cproduction engineer\u201d."

        page.fill("#role-filter", "")
        assert visible.count() == 5 and page.is_hidden("#role-filter-empty")
