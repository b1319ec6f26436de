"""A real headless Chromium: broker /saml/login -> SimpleSAMLphp login -> role selection -> credentials.

Also what Chromium really sends to the ACS: the IdP's own origin for SimpleSAMLphp's post page
(another port of 127.0.0.1: same site, another origin), and another site's origin, or ``null``,
when an attacker's page posts a response, which the broker refuses (login CSRF).
"""

from __future__ import annotations

import html
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import boto3
import pytest

from broker.services.iam import providers, roles
from broker.store import models
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.browser import chromium_page
from tests.support.interop import group_trust_policy, register, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp, login

if TYPE_CHECKING:  # Playwright is imported by tests.support.browser, after its environment is set
    from playwright.sync_api import Request

MEMBER = "210987654321"

pytestmark = [pytest.mark.simplesamlphp, pytest.mark.browser]


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


def test_sign_in_choose_role_and_read_credentials(broker: LiveBroker) -> None:
    with SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users()) as idp:
        register(broker.runtime, idp.metadata_xml())
        with chromium_page() as page:
            acs_origins: list[str | None] = []
            page.on("request", lambda r: acs_origins.extend(_acs_origin(r, broker)))
            page.goto(f"{broker.url}/saml/login?provider=ssp")
            login(page, "dave", "davepw")
            page.wait_for_selector("#role-form")
            assert acs_origins == [idp.base_url]  # the IdP's post page, on its own origin
            radios = page.locator("#role-form input[name=role_arn]")
            values = sorted(radios.nth(i).get_attribute("value") or "" for i in range(radios.count()))
            assert values == ["arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/Engineer"]
            # labels are wired to inputs, so a screen reader (and this click) reaches the radio by name
            page.get_by_label("Engineer", exact=False).first.check()
            page.select_option("#duration", "1800")
            page.click("#get-credentials")
            page.wait_for_selector("#access-key-id")
            key = page.inner_text("#access-key-id")
            secret = page.inner_text("#secret-access-key")
            token = page.inner_text("#session-token")
            expiration = page.inner_text("#expiration")
            # Signing out in the browser ends the broker session: the role page is gone.
            page.click("#sign-out")
            page.wait_for_selector("#signed-out")
            page.goto(f"{broker.url}/saml/roles")
            assert page.url == f"{broker.url}/"
            assert not [c for c in page.context.cookies() if c["name"] == "broker_session"]
    assert key.startswith("ASIA") and len(secret) == 40 and expiration.endswith("Z")
    identity = boto3.client(
        "sts",
        endpoint_url=broker.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/Engineer/dave"


def _acs_origin(request: Request, broker: LiveBroker) -> list[str | None]:
    if request.method == "POST" and request.url == f"{broker.url}/saml/acs":
        return [request.all_headers().get("origin")]
    return []


def test_a_provider_of_another_account_is_named_then_signed_in_through(broker: LiveBroker) -> None:
    """The SimpleSAMLphp IdP registered by a member account: the broker first names the IdP's host
    and the account, and the person continues with one click."""
    runtime = broker.runtime
    provider_arn = f"arn:aws:iam::{MEMBER}:saml-provider/partner"
    with SimpleSamlPhpIdp(runtime.sp.metadata_xml, users()) as idp:
        with runtime.db.transaction() as session:
            session.add(models.Account(id=MEMBER, alias="partner-prod", name="partner", created_at=runtime.now()))
        with runtime.db.transaction() as session:
            providers.create_saml_provider(session, MEMBER, "partner", idp.metadata_xml(), None, runtime.now())
            roles.create_role(
                session,
                MEMBER,
                name="PartnerEngineer",
                trust_policy=group_trust_policy(provider_arn, "engineers", runtime.settings.acs_url),
                path="/",
                description=None,
                max_session_duration=3600,
                permissions_boundary=None,
                tags=None,
                now=runtime.now(),
            )
        with chromium_page() as page:
            page.goto(f"{broker.url}/saml/login?provider={MEMBER}/partner")
            host = idp.base_url.removeprefix("http://")
            assert page.inner_text("#idp-host") == host
            assert page.inner_text("#login-account") == "partner-prod"
            page.click("#continue")
            login(page, "bob", "bobpw")
            page.wait_for_selector("#access-key-id")
            assert page.inner_text("#assumed-role-arn") == f"arn:aws:sts::{MEMBER}:assumed-role/PartnerEngineer/bob"


class _AttackerSite:
    """Another site (another port), whose page auto-posts a response the attacker got to the ACS."""

    def __init__(self, page_html: str) -> None:
        body = page_html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _auto_post(acs_url: str, saml_response: str) -> str:
    return (
        f'<form method="post" action="{html.escape(acs_url)}">'
        f'<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}"></form>'
        "<script>document.forms[0].submit()</script>"
    )


def test_an_attackers_page_cannot_sign_the_victim_in_as_the_attacker(broker: LiveBroker) -> None:
    """Login CSRF in a real browser: the attacker's own IdP-initiated response, posted by a page on
    another origin (``Origin: http://127.0.0.1:PORT``) or by a ``data:`` URL (``Origin: null``)."""
    with SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users()) as idp:
        register(broker.runtime, idp.metadata_xml())
        attackers_response = idp.login_http("bob").saml_response  # bob is the attacker
        second_response = idp.login_http("bob").saml_response
    forged = _auto_post(broker.runtime.settings.acs_url, attackers_response)
    site = _AttackerSite(forged)
    try:
        with chromium_page() as page:
            acs_origins: list[str | None] = []
            page.on("request", lambda r: acs_origins.extend(_acs_origin(r, broker)))
            page.goto(site.url)
            page.wait_for_selector("#error-code")
            assert page.inner_text("#error-code") == "UntrustedOrigin"
            page.goto("data:text/html," + quote(_auto_post(broker.runtime.settings.acs_url, second_response)))
            page.wait_for_selector("#error-code")
            assert page.inner_text("#error-code") == "UntrustedOrigin"
            assert acs_origins == [site.url.rstrip("/"), "null"]
            assert not [c for c in page.context.cookies() if c["name"] == "broker_session"]
    finally:
        site.close()
