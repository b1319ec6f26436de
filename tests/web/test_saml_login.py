"""/saml/login is no open redirector: it follows only SSO URLs of providers a role trusts, and shows
where it sends a person before following a provider that another account registered.

The attack: an administrator of a member account registers a provider whose SSO URL is a
look-alike login page, then mails people ``/saml/login?provider=ACCOUNT/NAME``, a link on the
real broker's host that forwarded them to the fake page at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.services.federation.corp import (
    DEFAULT,
    IDP_ORIGIN,
    IdpKeys,
    add_account,
    corp_runtime,
    outstanding_requests,
    refusals,
    register,
    trust_role,
)
from tests.support.demo_flow import element_text
from tests.support.metadata import idp_metadata_xml

MEMBER = "210987654321"
PARTNER_SSO = "https://sso.partner.example:8443/saml/sso"
ROGUE_SSO = "https://login.rogue.example/sso"


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str, keys: IdpKeys) -> Iterator[Runtime]:
    """corp in the default account; in a member account "partner-prod", ``partner`` (a role there
    trusts it), ``rogue`` (no role does) and ``starred`` (only a role trusting everyone)."""
    runtime = corp_runtime(tmp_path, keys_dir, database_url, keys)
    add_account(runtime, MEMBER, alias="partner-prod")
    partner = register(runtime, MEMBER, "partner", idp_metadata_xml("https://partner.example/idp", None, PARTNER_SSO))
    trust_role(runtime, MEMBER, "PartnerRole", partner)
    register(runtime, MEMBER, "rogue", idp_metadata_xml("https://rogue.example/idp", None, ROGUE_SSO))
    register(runtime, MEMBER, "starred", idp_metadata_xml("https://starred.example/idp", None, ROGUE_SSO))
    trust_role(runtime, MEMBER, "Anyone", {"AWS": "*"})
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, html
    return unescape(match.group(1))


@pytest.mark.parametrize("provider", [f"{MEMBER}/rogue", f"arn:aws:iam::{MEMBER}:saml-provider/rogue", "starred"])
def test_a_provider_no_role_trusts_is_not_followed(client: FlaskClient, rt: Runtime, provider: str) -> None:
    page = client.get("/saml/login", query_string={"provider": provider})
    assert page.status_code == 403
    assert "Location" not in page.headers and "rogue.example" not in page.text
    assert element_text(page.text, "error-code") == "ProviderNotEligible"
    assert outstanding_requests(rt) == []
    assert [code for code, _ in refusals(rt, "ConsoleLogin")] == ["ProviderNotEligible"]


def test_the_installations_own_provider_is_followed_at_once(client: FlaskClient, rt: Runtime) -> None:
    started = client.get("/saml/login?provider=corp&next=/saml/roles")
    assert started.status_code == 302
    assert started.headers["Location"].startswith(f"{IDP_ORIGIN}/sso?SAMLRequest=")
    assert [(arn, relay) for _, arn, relay in outstanding_requests(rt)] == [
        (f"arn:aws:iam::{DEFAULT}:saml-provider/corp", "/saml/roles")
    ]


def test_another_accounts_provider_is_named_before_the_person_is_sent_there(client: FlaskClient, rt: Runtime) -> None:
    page = client.get(f"/saml/login?provider={MEMBER}/partner&next=/saml/roles")
    assert page.status_code == 200 and "Location" not in page.headers
    assert element_text(page.text, "idp-host") == "sso.partner.example:8443"
    assert element_text(page.text, "login-account") == "partner-prod"
    assert f"({MEMBER})" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert outstanding_requests(rt) == []  # nothing is sent to the IdP until the person continues
    # Continuing with the page's own form goes to the IdP, with the return path it was given.
    form = {name: _hidden(page.text, name) for name in ("provider", "next", "confirmation")}
    went = client.post("/saml/login", data=form)
    assert went.status_code == 303
    assert went.headers["Location"].startswith(f"{PARTNER_SSO}?SAMLRequest=")
    assert [(arn, relay) for _, arn, relay in outstanding_requests(rt)] == [
        (f"arn:aws:iam::{MEMBER}:saml-provider/partner", "/saml/roles")
    ]


def test_a_link_or_another_sites_form_cannot_skip_the_question(client: FlaskClient, rt: Runtime) -> None:
    page = client.get(f"/saml/login?provider={MEMBER}/partner")
    confirmation = _hidden(page.text, "confirmation")
    # A link carrying a confirmation still only asks.
    linked = client.get(f"/saml/login?provider={MEMBER}/partner&confirmation={confirmation}")
    assert linked.status_code == 200 and "Location" not in linked.headers
    # Another browser (the attacker's token, not the victim's cookie), a made-up token, none at all.
    other_browser = create_app(runtime=rt).test_client()
    for sender, token in ((other_browser, confirmation), (client, "0" * 64), (client, None)):
        data = {"provider": f"{MEMBER}/partner"} | ({"confirmation": token} if token is not None else {})
        refused = sender.post("/saml/login", data=data)
        assert refused.status_code == 403 and "Location" not in refused.headers
        assert element_text(refused.text, "error-code") == "BadCsrf"
    # The token is bound to the provider shown: it does not continue to another one.
    add_account(rt, "300000000000")
    other = register(rt, "300000000000", "other", idp_metadata_xml("https://other.example/idp", None, ROGUE_SSO))
    trust_role(rt, "300000000000", "OtherRole", other)
    swapped = client.post("/saml/login", data={"provider": "300000000000/other", "confirmation": confirmation})
    assert swapped.status_code == 403
    assert outstanding_requests(rt) == []
    assert [code for code, _ in refusals(rt, "ConsoleLogin")] == ["BadCsrf"] * 4


def test_the_sign_in_page_lists_the_providers_one_can_sign_in_through_with_their_hosts(client: FlaskClient) -> None:
    home = client.get("/")
    assert home.status_code == 200
    links = re.findall(r'href="/saml/login\?provider=([^"]+)"', home.text)
    assert [unescape(link).replace("%2F", "/") for link in links] == [f"{DEFAULT}/corp", f"{MEMBER}/partner"]
    assert "at idp.corp.example" in home.text and "at sso.partner.example:8443" in home.text
    assert "partner-prod" in home.text and "rogue" not in home.text and "starred" not in home.text


def test_a_provider_whose_metadata_cannot_start_a_sign_in_is_refused_as_unavailable(
    client: FlaskClient, rt: Runtime
) -> None:
    # Registered with only an HTTP-POST SingleSignOnService: the broker cannot send an AuthnRequest
    # by redirect. An administrator has to fix the provider; the person gets a clear page, not a 500.
    post_only = idp_metadata_xml("https://postonly.example/idp", None, PARTNER_SSO).replace(
        "bindings:HTTP-Redirect", "bindings:HTTP-POST"
    )
    trust_role(rt, MEMBER, "PostOnlyRole", register(rt, MEMBER, "postonly", post_only))
    page = client.get("/saml/login", query_string={"provider": f"{MEMBER}/postonly"})
    assert page.status_code == 503
    assert element_text(page.text, "error-code") == "ProviderMisconfigured"
    assert "HTTP-Redirect" in page.text and "Location" not in page.headers
    assert outstanding_requests(rt) == []
    assert [code for code, _ in refusals(rt, "ConsoleLogin")] == ["ProviderMisconfigured"]
