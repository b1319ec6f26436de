"""Every page, checked in Chromium: axe-core finds no WCAG 2.1 A/AA (or best-practice) violation in
light and dark mode at 1280 and 390 px, nothing overflows sideways at 390 px, and the sign-in
flows (the role page, the CLI's and the AWS tools' consent and device pages) complete with the
keyboard alone, focus visible at each step.

axe-core comes from npm (tests/a11y/package.json, installed by `make test`) and is evaluated in
the page through Playwright; one Chromium and one demo broker serve the whole module, and a second
broker with two providers (no demo IdP) shows the pages that ask which one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask, request, template_rendered
from jinja2 import Template

from broker.crypto.keys import generate_rsa_pair
from broker.demo.setup import prepare_demo, seed_demo
from broker.services.cli_auth.pkce import s256_challenge
from broker.services.runtime import Runtime
from tests.services.federation.corp import add_account, register, trust_role
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.browser import chromium, chromium_page, wait_until
from tests.support.metadata import idp_metadata_xml

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}
RUN_AXE = """async (options) => ({
    violations: (await axe.run(document, options)).violations.map(v => ({
        id: v.id, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + n.failureSummary)})),
    overflow: document.documentElement.scrollWidth - window.innerWidth})"""
# Each colour scheme at each width, ordered so that one of them changes at a time (a change costs
# a layout); a page starts in Playwright's light scheme and is left in it, at 1280 px.
VIEWS = (("light", 1280), ("light", 390), ("dark", 390), ("dark", 1280))
VIEWPORT_HEIGHT = 900
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TEMPLATES = Path(__file__).resolve().parents[2] / "broker" / "web" / "templates"
# Every page template (partials start with "_"; base.html is every page's frame).
PAGE_TEMPLATES = frozenset(t.name for t in TEMPLATES.glob("*.html") if not t.name.startswith("_")) - {"base.html"}
ACCOUNT = "123456789012"
MEMBER = "210987654321"
VERIFIER = "v" * 64
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[LiveBroker]:
    workdir = tmp_path_factory.mktemp("a11y")
    port = free_port()
    settings = make_settings(
        workdir, keys_dir, f"sqlite:///{workdir / 'broker.db'}", f"http://127.0.0.1:{port}", demo=True
    )
    prepare_demo(Runtime.from_settings(settings))
    runtime = make_runtime(settings)
    seed_demo(runtime)
    with LiveBroker(runtime, port) as live:
        yield live


@pytest.fixture(scope="module")
def partner_broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[LiveBroker]:
    """No demo IdP: ``corp`` in the installation's account and ``partner`` in a member account, each
    trusted by a role, so a sign-in starts by asking which provider, and a link to the partner's
    asks before it leaves for another account's IdP."""
    workdir = tmp_path_factory.mktemp("a11y-partner")
    port = free_port()
    runtime = make_runtime(
        make_settings(workdir, keys_dir, f"sqlite:///{workdir / 'broker.db'}", f"http://127.0.0.1:{port}")
    )
    cert_pem = generate_rsa_pair("a11y idp", key_size=2048)[1]
    corp = register(
        runtime, ACCOUNT, "corp", idp_metadata_xml("https://idp.corp.example", cert_pem, "https://idp.corp.example/sso")
    )
    trust_role(runtime, ACCOUNT, "Engineer", corp)
    add_account(runtime, MEMBER, alias="partner-prod")
    partner = register(
        runtime,
        MEMBER,
        "partner",
        idp_metadata_xml("https://partner.example/idp", cert_pem, "https://sso.partner.example:8443/saml/sso"),
    )
    trust_role(runtime, MEMBER, "PartnerRole", partner)
    with LiveBroker(runtime, port) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not AXE_SCRIPT.exists():
        raise RuntimeError(f"{AXE_SCRIPT} is missing: run `make node-deps` (make test does)")
    with chromium() as started:
        yield started


class Auditor:
    """Runs axe on the page as it is, in each colour scheme and width, and keeps what it finds.

    While open it also notes which template each of the brokers' pages was rendered from, so that
    a test can tell which templates it audited (a new page with no audit fails)."""

    def __init__(self, *brokers: LiveBroker) -> None:
        self.axe = AXE_SCRIPT.read_text()
        self.audited: list[str] = []
        self.problems: list[str] = []
        self.templates: set[str] = set()
        self._apps = [live.app for live in brokers]
        self._latest: dict[str, str] = {}  # page URL (no query) -> the template its last response rendered

    def __enter__(self) -> Auditor:
        for app in self._apps:
            template_rendered.connect(self._rendered, app)
        return self

    def __exit__(self, *exc: object) -> None:
        for app in self._apps:
            template_rendered.disconnect(self._rendered, app)

    def _rendered(self, app: Flask, template: Template, **extra: object) -> None:
        if template.name is not None:  # in the server's thread, inside the request
            self._latest[request.base_url] = template.name

    def __call__(self, page: Page, name: str) -> None:
        self.audited.append(name)
        wait_for_styles(page)
        shown = urlsplit(page.url)
        template = self._latest.get(f"{shown.scheme}://{shown.netloc}{shown.path}")
        if template is not None:
            self.templates.add(template)
        if page.locator("meta[name=viewport]").count() != 1:
            self.problems.append(f"{name}: no viewport meta")
        page.evaluate(self.axe)
        shown_scheme = "light"
        for scheme, width in VIEWS:
            if scheme != shown_scheme:
                page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                shown_scheme = scheme
            if page.viewport_size != {"width": width, "height": VIEWPORT_HEIGHT}:
                page.set_viewport_size({"width": width, "height": VIEWPORT_HEIGHT})
            found: dict[str, Any] = page.evaluate(RUN_AXE, AXE_OPTIONS)
            for violation in found["violations"]:
                self.problems.append(f"{name} [{scheme} {width}px] {violation['id']}: {violation['nodes']}")
            if found["overflow"] > 0:
                self.problems.append(f"{name} [{scheme} {width}px] overflows sideways by {found['overflow']}px")
        page.emulate_media(color_scheme="light")


def wait_for_styles(page: Page) -> None:
    """Until the page's stylesheets apply: after a click or a key that navigates, Playwright waits
    for an element, not for them, and colours or focus rings checked before would be the defaults."""
    wait_until(page, "() => [...document.querySelectorAll('link[rel=stylesheet]')].every(link => link.sheet)")


def sign_in(page: Page, broker: LiveBroker, user: str) -> None:
    page.goto(f"{broker.url}/saml/login?provider=demo")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{broker.url}/saml/roles")


def cli_authorize_url(broker: LiveBroker, callback: str) -> str:
    query = {
        "response_type": "code",
        "client_id": "broker-cli",
        "redirect_uri": callback,
        "code_challenge": s256_challenge(VERIFIER),
        "code_challenge_method": "S256",
        "state": "a11y",
    }
    return f"{broker.url}/cli/authorize?{urlencode(query)}"


def sso_call(page: Page, broker: LiveBroker, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """An SSO-OIDC API call, as the AWS tool makes it (JSON in, JSON out)."""
    answer = page.request.post(f"{broker.url}{path}", data=body)
    assert answer.ok, answer.text()
    result: dict[str, Any] = answer.json()
    return result


def register_sso_client(page: Page, broker: LiveBroker, *, code_flow: bool = False) -> dict[str, Any]:
    """An AWS tool's client: a device-flow one, or (``code_flow``) one that may use /authorize."""
    body: dict[str, Any] = {"clientName": "a11y", "clientType": "public"}
    if code_flow:
        body |= {
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": ["http://127.0.0.1/oauth/callback"],  # any port on the loopback callback
            "issuerUrl": f"{broker.url}/start",
            "scopes": ["sso:account:access"],
        }
    return sso_call(page, broker, "/client/register", body)


def sso_authorize_url(broker: LiveBroker, registration: dict[str, Any], callback: str) -> str:
    query = {
        "response_type": "code",
        "client_id": registration["clientId"],
        "redirect_uri": callback,
        "state": "a11y",
        "code_challenge_method": "S256",
        "code_challenge": s256_challenge(VERIFIER),
        "scopes": "sso:account:access",
    }
    return f"{broker.url}/authorize?{urlencode(query)}"


def start_sso_device(page: Page, broker: LiveBroker, registration: dict[str, Any]) -> dict[str, Any]:
    return sso_call(
        page,
        broker,
        "/device_authorization",
        {
            "clientId": registration["clientId"],
            "clientSecret": registration["clientSecret"],
            "startUrl": f"{broker.url}/start",
        },
    )


@contextmanager
def loopback_listener(path: str) -> Iterator[str]:
    """The tool's listener on 127.0.0.1 that the consent page redirects to (the browser follows the
    redirect to it for real: Playwright does not route redirects); yields its callback URL."""

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"Signed in; return to your terminal."
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows what failed
            pass

    server = HTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_every_page_passes_axe_in_both_schemes_at_both_widths(
    broker: LiveBroker, partner_broker: LiveBroker, browser: Browser
) -> None:
    audit = Auditor(broker, partner_broker)
    with audit, chromium_page(browser) as page:
        page.goto(broker.url + "/")
        audit(page, "home")
        page.goto(f"{broker.url}/saml/login")
        audit(page, "error")
        page.goto(f"{broker.url}/saml/login?provider=demo")
        audit(page, "demo IdP sign-in")
        page.fill("#username", "carol")
        page.fill("#password", "wrong")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-error")
        audit(page, "demo IdP sign-in refused")

        sign_in(page, broker, "carol")
        page.wait_for_selector("#no-roles-reason")
        audit(page, "no-role page")
        page.goto(f"{broker.url}/saml/roles/why")
        audit(page, "why page")
        page.click("#sign-out")
        page.wait_for_selector("#signed-out")
        audit(page, "signed-out page")

        sign_in(page, broker, "alice")
        page.wait_for_selector("#role-form")
        audit(page, "role page")
        page.fill("#role-filter", "no-such-role")
        assert page.inner_text("#role-filter-empty") == "No role matches \u201cno-such-role\u201d."
        audit(page, "role page, no matches")
        page.fill("#role-filter", f"readonly {ACCOUNT}")  # words in any order, over name and account
        assert page.locator("#role-list .role:visible").count() == 1 and page.is_hidden("#role-filter-empty")
        page.fill("#role-filter", "")
        assert page.locator("#role-list .role:visible").count() == 3
        page.check(f"input[value='arn:aws:iam::{ACCOUNT}:role/demo/DemoReadOnly']")
        page.click("#get-credentials")
        page.wait_for_selector("#access-key-id")
        assert page.url == f"{broker.url}/saml/credentials"  # no secret in the history's URL
        assert page.inner_text("#expires-in") in ("in 59 minutes", "in 60 minutes")
        assert page.inner_text("#expires-local").endswith("your time")  # the browser's own time zone
        audit(page, "credentials page")
        page.go_back()  # to the role page, a GET: no ERR_CACHE_MISS, no resubmission
        page.wait_for_selector("#role-form")
        assert page.url == f"{broker.url}/saml/roles"
        page.go_forward()
        page.wait_for_selector("#credentials-gone")
        page.reload()
        page.wait_for_selector("#credentials-gone")
        audit(page, "credentials shown once")
        page.goto(broker.url + "/")
        page.wait_for_selector("#role-form")
        audit(page, "home, signed in")

        page.goto(cli_authorize_url(broker, "http://127.0.0.1:9/callback"))
        page.wait_for_selector("#consent-form")
        audit(page, "CLI consent")
        started = page.request.post(f"{broker.url}/cli/device", form={"client_id": "broker-cli"})
        user_code = json.loads(started.text())["user_code"]
        page.goto(f"{broker.url}/cli/device/verify")
        page.wait_for_selector("#user-code-form")
        audit(page, "device code entry")
        page.goto(f"{broker.url}/cli/device/verify?{urlencode({'user_code': user_code})}")
        page.wait_for_selector("#approve")
        audit(page, "device approval")
        page.locator("#role-form input[name=role_arn]").first.check()
        page.click("#approve")
        page.wait_for_selector("#device-result")
        audit(page, "device approved")

        audit_sso_pages(page, broker, audit)
        with chromium_page(browser) as signed_out:
            audit_provider_questions(signed_out, partner_broker, audit)
            audit_auto_post(signed_out, broker, audit)

    assert audit.problems == [], "\n".join(audit.problems)
    assert sorted(PAGE_TEMPLATES - audit.templates) == [], "page templates with no audit"
    assert len(audit.audited) == 26


def audit_sso_pages(page: Page, broker: LiveBroker, audit: Auditor) -> None:
    """The AWS tools' pages, signed in: the portal, the /authorize consent, the device pages."""
    start = page.goto(f"{broker.url}/start")
    assert start is not None and start.status == 200
    page.wait_for_selector("#portal-accounts")
    audit(page, "SSO portal")
    registration = register_sso_client(page, broker, code_flow=True)
    page.goto(sso_authorize_url(broker, registration, "http://127.0.0.1:9/oauth/callback"))
    page.wait_for_selector("#consent-form #approve")
    audit(page, "SSO consent")
    started = start_sso_device(page, broker, register_sso_client(page, broker))
    page.goto(f"{broker.url}/device")
    page.wait_for_selector("#user-code-form")
    audit(page, "SSO device code entry")
    page.goto(f"{broker.url}/device?{urlencode({'user_code': 'BCDF-GHJK'})}")
    page.wait_for_selector("#error-message")
    assert page.get_attribute("#user-code", "aria-describedby") == "error-message"  # read with the field
    audit(page, "SSO device code refused")
    page.goto(started["verificationUriComplete"])
    page.wait_for_selector("#consent-form")
    assert page.inner_text("#user-code") == started["userCode"]
    audit(page, "SSO device approval")
    page.click("#approve")
    page.wait_for_selector("#device-approved")
    audit(page, "SSO device approved")


def audit_provider_questions(page: Page, broker: LiveBroker, audit: Auditor) -> None:
    """Signed out, on a broker with two providers: which one to sign in through, whether to
    continue to another account's IdP, and the portal's sign-in link."""
    page.goto(cli_authorize_url(broker, "http://127.0.0.1:9/callback"))
    page.wait_for_selector(".providers")
    assert page.locator(".providers a").count() == 2
    audit(page, "CLI provider choice")
    page.goto(f"{broker.url}/saml/login?{urlencode({'provider': f'{MEMBER}/partner'})}")
    page.wait_for_selector("#continue-form")
    audit(page, "continue to another account's IdP")
    page.goto(f"{broker.url}/start")
    page.wait_for_selector("#sign-in")
    audit(page, "SSO portal, signed out")


def audit_auto_post(page: Page, broker: LiveBroker, audit: Auditor) -> None:
    """The demo IdP's page that carries the SAMLResponse back. It submits itself at once, so its
    submission is stopped (a 204 leaves the browser on the page); axe cannot run without JavaScript
    (its timers never fire), so the <noscript> button is left to the no-JavaScript test."""
    acs = f"{broker.url}/saml/acs"
    page.route(acs, lambda route: route.fulfill(status=204))
    page.goto(f"{broker.url}/saml/login?provider=demo")
    page.fill("#username", "bob")
    page.fill("#password", "bob-demo")
    with page.expect_request(acs) as posted:
        page.click("#login-form button[type=submit]")
    assert "SAMLResponse=" in (posted.value.post_data or "")
    page.wait_for_selector("#saml-post", state="attached")  # hidden inputs only: nothing to see but the text
    audit(page, "demo IdP auto-post")


def focused(page: Page) -> dict[str, Any]:
    """The focused element: its id, tag, text, value and type, and whether a focus indicator is drawn around it."""
    result: dict[str, Any] = page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {id: e.id, tag: e.tagName.toLowerCase(), text: (e.textContent || "").trim(),
                value: e.value || "", type: e.type || "",
                outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2}; }"""
    )
    return result


def tab_to(page: Page, wanted: str, attribute: str = "id", limit: int = 40) -> None:
    wait_for_styles(page)  # a focus ring is only there once the stylesheet is
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["outline"], f"no visible focus on {now}"
        if now[attribute] == wanted:
            return
    raise AssertionError(f"Tab never reached {attribute}={wanted!r}")


def choose_role_with_space(page: Page) -> str:
    """Tab to the first role radio and choose it with Space; its role ARN."""
    tab_to(page, "radio", attribute="type")
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked") is True
    role_arn = str(focused(page)["value"])
    assert role_arn.startswith(f"arn:aws:iam::{ACCOUNT}:role/"), role_arn
    return role_arn


def sign_in_with_the_keyboard(page: Page, user: str) -> None:
    """At the demo IdP's form (where an unsigned flow sends the browser): name, password, Enter."""
    page.wait_for_selector("#login-form")
    tab_to(page, "username")
    page.keyboard.type(user)
    tab_to(page, "password")
    page.keyboard.type(f"{user}-demo")
    page.keyboard.press("Enter")


def type_user_code(page: Page, user_code: str) -> None:
    """The code page puts focus in its one field (autofocus): type the code, Enter."""
    wait_for_styles(page)
    wait_until(page, "() => document.activeElement !== null && document.activeElement.id === 'user-code'")
    assert focused(page)["outline"], "no visible focus on the code field"
    page.keyboard.type(user_code)
    page.keyboard.press("Enter")


def test_sign_in_role_and_credentials_with_the_keyboard_alone(broker: LiveBroker, browser: Browser) -> None:
    with chromium_page(browser) as page:
        page.goto(broker.url + "/")
        tab_to(page, "demo", attribute="text")
        page.keyboard.press("Enter")
        page.wait_for_selector("#login-form")
        tab_to(page, "username")
        page.keyboard.type("bob")
        tab_to(page, "password")
        page.keyboard.type("bob-demo")
        page.keyboard.press("Enter")
        page.wait_for_selector("#role-form")
        choose_role_with_space(page)
        tab_to(page, "get-credentials")
        page.keyboard.press("Enter")
        page.wait_for_selector("#access-key-id")
        assert page.inner_text("#access-key-id").startswith("ASIA")
        # The tabs answer the keyboard too: Enter on the fish tab shows its snippet.
        tab_to(page, "tab-fish-tab")
        page.keyboard.press("Enter")
        assert page.is_visible("#snippet-fish") and not page.is_visible("#snippet-bash")
        tab_to(page, "sign-out")
        page.keyboard.press("Space")
        page.wait_for_selector("#signed-out")


def test_the_cli_consent_and_device_flows_with_the_keyboard_alone(broker: LiveBroker, browser: Browser) -> None:
    with loopback_listener("/callback") as callback, chromium_page(browser) as page:
        page.goto(cli_authorize_url(broker, callback))  # not signed in: to the demo IdP and back
        sign_in_with_the_keyboard(page, "bob")
        page.wait_for_selector("#consent-form")
        role_arn = choose_role_with_space(page)
        tab_to(page, "approve")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: url.startswith(callback + "?"))
        redirect = parse_qs(urlsplit(page.url).query)
        assert redirect["state"] == ["a11y"]
        exchanged = page.request.post(
            f"{broker.url}/cli/token",
            form={
                "grant_type": "authorization_code",
                "code": redirect["code"][0],
                "code_verifier": VERIFIER,
                "redirect_uri": callback,
                "client_id": "broker-cli",
            },
        )
        assert exchanged.ok, exchanged.text()
        grant = exchanged.json()
        assert grant["AccessKeyId"].startswith("ASIA") and grant["RoleArn"] == role_arn and grant["Subject"]

        started = page.request.post(f"{broker.url}/cli/device", form={"client_id": "broker-cli"}).json()
        page.goto(f"{broker.url}/cli/device/verify")
        type_user_code(page, started["user_code"])
        page.wait_for_selector("#role-form")
        assert page.inner_text("#user-code") == started["user_code"]
        role_arn = choose_role_with_space(page)
        tab_to(page, "approve")
        page.keyboard.press("Enter")
        page.wait_for_selector("#device-result")
        assert page.inner_text("#device-result") == "Device approved"
        polled = page.request.post(
            f"{broker.url}/cli/token",
            form={"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": "broker-cli"},
        )
        assert polled.ok, polled.text()
        assert polled.json()["AccessKeyId"].startswith("ASIA") and polled.json()["RoleArn"] == role_arn


def test_the_aws_tools_consent_and_device_pages_with_the_keyboard_alone(broker: LiveBroker, browser: Browser) -> None:
    with loopback_listener("/oauth/callback") as callback, chromium_page(browser) as page:
        registration = register_sso_client(page, broker, code_flow=True)
        page.goto(sso_authorize_url(broker, registration, callback))  # not signed in: the IdP first
        sign_in_with_the_keyboard(page, "bob")
        page.wait_for_selector("#consent-form")
        tab_to(page, "approve")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: url.startswith(callback + "?"))
        redirect = parse_qs(urlsplit(page.url).query)
        assert redirect["state"] == ["a11y"]
        tokens = sso_call(
            page,
            broker,
            "/token",
            {
                "clientId": registration["clientId"],
                "clientSecret": registration["clientSecret"],
                "grantType": "authorization_code",
                "code": redirect["code"][0],
                "redirectUri": callback,
                "codeVerifier": VERIFIER,
            },
        )
        assert tokens["tokenType"] == "Bearer" and tokens["accessToken"]
        # The bearer header's dashed spelling: the test server, like gunicorn, drops underscore names.
        bearer = {"x-amz-sso-bearer-token": tokens["accessToken"]}
        accounts = page.request.get(f"{broker.url}/assignment/accounts", headers=bearer)
        assert accounts.json()["accountList"] == [{"accountId": ACCOUNT, "accountName": "demo"}]

        device_client = register_sso_client(page, broker)
        started = start_sso_device(page, broker, device_client)
        page.goto(f"{broker.url}/device")
        type_user_code(page, started["userCode"])
        page.wait_for_selector("#consent-form")
        assert page.inner_text("#user-code") == started["userCode"]
        tab_to(page, "approve")
        page.keyboard.press("Space")
        page.wait_for_selector("#device-approved")
        tokens = sso_call(
            page,
            broker,
            "/token",
            {
                "clientId": device_client["clientId"],
                "clientSecret": device_client["clientSecret"],
                "grantType": DEVICE_GRANT,
                "deviceCode": started["deviceCode"],
            },
        )
        assert tokens["tokenType"] == "Bearer" and tokens["accessToken"] and tokens["refreshToken"]


def test_screenshots_of_the_main_pages(broker: LiveBroker, browser: Browser, tmp_path: Path) -> None:
    """The README's pictures. A test run writes them to a scratch folder, so ``make test`` leaves
    the checkout as it found it; ``make screenshots`` (BROKER_UPDATE_SCREENSHOTS=1) replaces the
    committed ones."""
    folder = SCREENSHOTS if os.environ.get("BROKER_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shots = {}
    with chromium_page(browser) as page:
        page.set_viewport_size({"width": 1024, "height": 700})
        page.goto(broker.url + "/")
        shots["sign-in"] = page.screenshot(full_page=True)
        sign_in(page, broker, "alice")
        shots["roles"] = page.screenshot(full_page=True)
        page.check(f"input[value='arn:aws:iam::{ACCOUNT}:role/demo/DemoDeveloper']")
        page.click("#get-credentials")
        page.wait_for_selector("#access-key-id")
        shots["credentials"] = page.screenshot(full_page=True)
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 1600, f"the credentials page is {height}px tall"
        page.click("#sign-out")
        sign_in(page, broker, "carol")
        shots["no-role"] = page.screenshot(full_page=True)
    for name, png in shots.items():
        assert png.startswith(b"\x89PNG")
        (folder / f"{name}.png").write_bytes(png)


def test_without_javascript_the_tabs_are_sections_and_the_flow_still_works(
    broker: LiveBroker, browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{broker.url}/saml/login?provider=demo")
        page.fill("#username", "bob")
        page.fill("#password", "bob-demo")
        page.click("#login-form button[type=submit]")
        page.click("#saml-post button[type=submit]")  # the demo IdP's <noscript> button
        page.wait_for_selector("#role-form")
        assert page.is_hidden("#role-filter")  # a filter that cannot work is not offered
        page.locator("#role-form input[name=role_arn]").first.check()
        page.click("#get-credentials")
        page.wait_for_selector("#access-key-id")
        for heading in ("shell-label", "fish-label", "powershell-label", "file-label", "process-label"):
            assert page.is_visible(f"#{heading}")
        assert page.locator("button[data-copy]:visible").count() == 0
        assert page.locator("[role=tab]").count() == 0
    finally:
        context.close()
