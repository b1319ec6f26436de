"""Login CSRF at the ACS: a response posted by another site's page is refused, audited, never a 500.

The attack: the attacker signs in at the IdP as themself, keeps the signed response, and makes
the victim's browser post it to the ACS (an auto-submitting form on the attacker's site). The
victim is then signed in as the attacker. The browser's ``Origin`` header names the page that
posted; what IdPs really send was checked with Chromium (see ``broker.services.federation.origins``):
their own origin, or ``null`` under ``Referrer-Policy: no-referrer`` (Keycloak's default).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.services.federation.corp import (
    BASE,
    CORP_ARN,
    DEFAULT,
    IDP_ORIGIN,
    IdpKeys,
    add_account,
    corp_runtime,
    outstanding_requests,
    refusals,
    register,
    signed_response,
    trust_role,
)
from tests.support.demo_flow import element_text
from tests.support.metadata import idp_metadata_xml

MEMBER = "210987654321"
ROGUE_ORIGIN = "https://login.rogue.example"


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, sqlite_url: str, keys: IdpKeys) -> Iterator[Runtime]:
    runtime = corp_runtime(tmp_path, keys_dir, sqlite_url, keys)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def _post(client: FlaskClient, saml_response: str, **headers: str) -> tuple[int, str, bool]:
    """(status, reason code or "", whether a browser session was opened)."""
    page = client.post("/saml/acs", data={"SAMLResponse": saml_response}, headers=headers)
    opened = any("broker_session=" in value for value in page.headers.getlist("Set-Cookie"))
    if page.status_code == 303:  # signed in: on to the role page
        page = client.get(page.headers["Location"])
    code = element_text(page.text, "error-code") if 'id="error-code"' in page.text else ""
    return page.status_code, code, opened


def test_a_response_posted_from_another_site_is_refused_before_it_is_read(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    response = signed_response(keys, "_csrf1")  # the attacker's own, fetched from the IdP
    assert _post(client, response, Origin="https://evil.example") == (403, "UntrustedOrigin", False)
    assert refusals(rt, "ConsoleLogin") == [
        ("UntrustedOrigin", "posted from 'https://evil.example', no registered provider's origin")
    ]
    # Refused before validation: the replay guard never saw it, so the IdP's own post still works.
    assert _post(client, response, Origin=IDP_ORIGIN) == (200, "", True)


def test_an_idp_initiated_response_from_a_page_that_hides_its_origin_is_refused(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    # A data: URL, a sandboxed frame or the attacker's own no-referrer policy all send "null".
    for fetch_site in (None, "cross-site", "same-site"):
        headers = {"Origin": "null"} | ({"Sec-Fetch-Site": fetch_site} if fetch_site else {})
        assert _post(client, signed_response(keys, f"_null-{fetch_site}"), **headers) == (
            403,
            "UntrustedOrigin",
            False,
        )
    assert [code for code, _ in refusals(rt, "ConsoleLogin")] == ["UntrustedOrigin"] * 3
    assert "Origin: null" in refusals(rt, "ConsoleLogin")[0][1]


def test_an_idp_initiated_response_from_its_idp_or_without_origin_is_accepted(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    assert _post(client, signed_response(keys, "_own"), Origin=IDP_ORIGIN) == (200, "", True)
    assert _post(client, signed_response(keys, "_none")) == (200, "", True)
    assert refusals(rt, "ConsoleLogin") == []


def test_an_answer_to_this_browsers_request_is_accepted_with_a_null_origin(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    """Keycloak and authentik serve their POST page with a referrer policy that makes Chromium send
    ``Origin: null``; an answer bound to this browser's AuthnRequest is no login CSRF whatever it says."""
    started = client.get("/saml/login?provider=corp")
    assert started.status_code == 302 and started.headers["Location"].startswith(f"{IDP_ORIGIN}/sso?")
    ((request_id, _, _),) = outstanding_requests(rt)
    answer = signed_response(keys, "_kc", in_response_to=request_id)
    assert _post(client, answer, Origin="null") == (200, "", True)


def test_an_answer_to_someone_elses_request_with_a_null_origin_is_still_refused(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    # The attacker started the sign-in in their own browser; the victim's has no binding cookie.
    attacker = create_app(runtime=rt).test_client()
    attacker.get("/saml/login?provider=corp")
    ((request_id, _, _),) = outstanding_requests(rt)
    answer = signed_response(keys, "_kc2", in_response_to=request_id)
    assert _post(client, answer, Origin="null") == (403, "BrowserMismatch", False)


def test_a_post_from_an_unregistered_origin_is_refused_even_for_this_browsers_request(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    client.get("/saml/login?provider=corp")
    ((request_id, _, _),) = outstanding_requests(rt)
    answer = signed_response(keys, "_sp", in_response_to=request_id)
    assert _post(client, answer, Origin="https://evil.example") == (403, "UntrustedOrigin", False)


def test_another_accounts_provider_does_not_lend_its_origin_to_an_idp_initiated_response(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    """A member account registers a provider whose endpoints are on the attacker's site: that
    origin passes the first check (some provider's), not the second (the issuer's own)."""
    add_account(rt, MEMBER)
    rogue = register(rt, MEMBER, "rogue", idp_metadata_xml("https://rogue.example/idp", None, f"{ROGUE_ORIGIN}/sso"))
    trust_role(rt, MEMBER, "Rogue", rogue)
    assert _post(client, signed_response(keys, "_lent"), Origin=ROGUE_ORIGIN) == (403, "UntrustedOrigin", False)
    ((code, message),) = refusals(rt, "ConsoleLogin")
    assert code == "UntrustedOrigin"
    assert message == f"an IdP-initiated response for {CORP_ARN} posted from '{ROGUE_ORIGIN}'"


def test_a_null_origin_from_the_brokers_own_page_counts_as_the_brokers_origin(
    client: FlaskClient, rt: Runtime, keys: IdpKeys
) -> None:
    """The bundled demo IdP lives on the broker's own origin, whose pages send ``Referrer-Policy:
    no-referrer``: Chromium posts with ``Origin: null`` and ``Sec-Fetch-Site: same-origin``."""
    local_entity = "https://broker.example/idp"
    register(rt, DEFAULT, "local", idp_metadata_xml(local_entity, keys.cert_pem, f"{BASE}/idp/sso"))
    trust_role(rt, DEFAULT, "Local", f"arn:aws:iam::{DEFAULT}:saml-provider/local")
    local = signed_response(keys, "_local", issuer=local_entity, assertion_issuer=local_entity)
    assert _post(client, local, Origin="null", **{"Sec-Fetch-Site": "same-origin"}) == (200, "", True)
    # The broker's origin is not the corporate IdP's: its responses are not let through that way.
    corp = signed_response(keys, "_corp-same")
    assert _post(client, corp, Origin="null", **{"Sec-Fetch-Site": "same-origin"}) == (403, "UntrustedOrigin", False)


@pytest.mark.parametrize("origin", ["", "HTTPS://EVIL.EXAMPLE", "https://idp.corp.example.evil.example", "x" * 5000])
def test_odd_origin_headers_are_refused_with_a_page(
    client: FlaskClient, rt: Runtime, keys: IdpKeys, origin: str
) -> None:
    assert _post(client, signed_response(keys, "_odd"), Origin=origin) == (403, "UntrustedOrigin", False)
    ((code, message),) = refusals(rt, "ConsoleLogin")
    assert code == "UntrustedOrigin" and len(message) < 300
