"""The credentials page: post/redirect/get, shown once, bound to the sign-in; what it says about
the duration and the APIs; home with a live session; the role filter's presence."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.services.federation.corp import DEFAULT, IdpKeys, corp_runtime, signed_response
from tests.support.demo_flow import csrf_token, element_text

ENGINEER = f"arn:aws:iam::{DEFAULT}:role/Engineer"


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, sqlite_url: str, keys: IdpKeys) -> Iterator[Runtime]:
    runtime = corp_runtime(tmp_path, keys_dir, sqlite_url, keys)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def signed_in(client: FlaskClient, keys: IdpKeys, assertion_id: str = "_c1", **changes: object) -> str:
    """Sign in (the ACS answers 303 to the role page) and return the role page's CSRF token."""
    posted = client.post("/saml/acs", data={"SAMLResponse": signed_response(keys, assertion_id, **changes)})
    assert posted.status_code == 303 and posted.headers["Location"] == "/saml/roles"
    page = client.get("/saml/roles")
    assert page.status_code == 200 and 'id="role-form"' in page.text
    return csrf_token(page.text)


def choose(client: FlaskClient, csrf: str, duration: str = "3600") -> TestResponse:
    return client.post("/saml/roles", data={"role_arn": ENGINEER, "duration": duration, "csrf_token": csrf})


def handoff_cookies(response: TestResponse) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("broker_credentials")]


def test_choosing_a_role_redirects_to_a_page_shown_once(client: FlaskClient, keys: IdpKeys) -> None:
    chosen = choose(client, signed_in(client, keys))
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/saml/credentials"
    cookies = handoff_cookies(chosen)
    assert cookies and all("HttpOnly" in c and "Path=/saml/credentials" in c for c in cookies)

    shown = client.get("/saml/credentials")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    key, secret = element_text(shown.text, "access-key-id"), element_text(shown.text, "secret-access-key")
    token = element_text(shown.text, "session-token")
    assert key.startswith("ASIA") and len(secret) == 40
    # Sealed in transit: neither the redirect's URL nor its cookies carry a secret in clear.
    assert secret not in chosen.headers["Location"] and not any(secret in c or token[:40] in c for c in cookies)
    # The page clears the handoff: a reload gets no credentials, and none are issued again.
    assert all("Expires=Thu, 01 Jan 1970" in c for c in handoff_cookies(shown))
    again = client.get("/saml/credentials")
    assert again.status_code == 410 and 'id="credentials-gone"' in again.text
    assert key not in again.text and 'href="/saml/roles"' in again.text


def test_the_handoff_opens_only_for_the_sign_in_it_came_from(client: FlaskClient, rt: Runtime, keys: IdpKeys) -> None:
    chosen = choose(client, signed_in(client, keys))
    other = create_app(runtime=rt).test_client()
    signed_in(other, keys, "_c2")
    for cookie in handoff_cookies(chosen):  # another browser's sign-in, with the stolen handoff
        name, _, rest = cookie.partition("=")
        other.set_cookie(name, rest.split(";", 1)[0], path="/saml/credentials")
    stolen = other.get("/saml/credentials")
    assert stolen.status_code == 410 and 'id="access-key-id"' not in stolen.text
    # Signing out ends what was not shown yet, too.
    client.post("/saml/logout", data={"csrf_token": csrf_token(client.get("/saml/roles").text)})
    assert client.get("/saml/credentials").status_code == 410


def test_the_page_says_which_apis_and_shows_each_secret_in_one_box(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    choose(client, signed_in(client, keys))
    page = client.get("/saml/credentials").text
    base = rt.settings.base_url
    for service in ("IAM", "STS", "ORGANIZATIONS", "CLOUDTRAIL"):
        assert f"export AWS_ENDPOINT_URL_{service}={base}\n" in page
    assert "AWS_ENDPOINT_URL=" not in page
    assert "not AWS credentials" in element_text(page, "credentials-scope") or "not AWS credentials" in page
    # Tabs of snippets (sections without JavaScript), one copy button each.
    panels = re.findall(r'<section class="panel" id="(tab-[a-z]+)" data-tab-panel>', page)
    assert panels == ["tab-shell", "tab-fish", "tab-powershell", "tab-file", "tab-process"]
    copies = re.findall(r'data-copy="([^"]+)"', page)
    assert len(copies) == len(set(copies)) and all(f'id="{target}"' in page for target in copies)
    assert page.count('id="session-token"') == 1 and page.count('class="value token"') == 1
    assert 'href="/saml/roles"' in page and 'id="sign-out-form"' in page
    assert re.search(r'<span id="expires-in">in (59|60) minutes</span>', page)


def test_a_duration_cut_short_by_the_idp_session_says_so(client: FlaskClient, keys: IdpKeys) -> None:
    csrf = signed_in(client, keys, session_not_on_or_after=dt.timedelta(minutes=30))
    choose(client, csrf, duration="3600")
    note = element_text(client.get("/saml/credentials").text, "duration")
    assert note.startswith("29 min") or note.startswith("30 min")
    assert "shortened from the 1 h you chose" in note and "identity provider" in note


def test_a_duration_granted_in_full_has_no_excuse(client: FlaskClient, keys: IdpKeys) -> None:
    choose(client, signed_in(client, keys), duration="1800")
    assert element_text(client.get("/saml/credentials").text, "duration") == "30 min."


def test_home_lists_the_roles_while_signed_in(client: FlaskClient, keys: IdpKeys) -> None:
    assert 'id="role-form"' not in client.get("/").text
    signed_in(client, keys)
    home = client.get("/")
    assert home.status_code == 200 and home.headers["Cache-Control"] == "no-store"
    assert 'id="role-form"' in home.text and f'value="{ENGINEER}"' in home.text
    assert 'id="role-filter"' in home.text  # more than one role: the filter is there
    chosen = client.post("/saml/roles", data={"role_arn": ENGINEER, "csrf_token": csrf_token(home.text)})
    assert chosen.status_code == 303


def test_the_filter_searches_name_arn_account_and_alias(client: FlaskClient, keys: IdpKeys) -> None:
    signed_in(client, keys)
    page = client.get("/saml/roles").text
    filters = re.findall(r'data-filter="([^"]*)"', page)
    engineer = next(f for f in filters if "role/engineer" in f)
    assert engineer.startswith("engineer arn:aws:iam::") and DEFAULT in engineer
