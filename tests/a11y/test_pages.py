"""Every page, checked in Chromium: axe-core finds no WCAG 2.1 A/AA (or best-practice) violation in
light and dark mode at 1280 and 390 px, nothing overflows sideways at 390 px, and the main flow
completes with the keyboard alone, focus visible at each step.

axe-core comes from npm (tests/a11y/package.json, installed by `make test`) and is evaluated in
the page through Playwright; one Chromium and one demo broker serve the whole module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from broker.demo.setup import prepare_demo, seed_demo
from broker.services.cli_auth.pkce import s256_challenge
from broker.services.runtime import Runtime
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.browser import chromium, chromium_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}
RUN_AXE = """async (options) => (await axe.run(document, options)).violations.map(v => ({
    id: v.id, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ") + ": " + n.failureSummary)}))"""
SCHEMES = ("light", "dark")
WIDTHS = (1280, 390)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ACCOUNT = "123456789012"


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
def browser() -> Iterator[Browser]:
    if not AXE_SCRIPT.exists():
        raise RuntimeError(f"{AXE_SCRIPT} is missing: run `make node-deps` (make test does)")
    with chromium() as started:
        yield started


class Auditor:
    """Runs axe on the page as it is, in each colour scheme and width, and keeps what it finds."""

    def __init__(self) -> None:
        self.axe = AXE_SCRIPT.read_text()
        self.audited: list[str] = []
        self.problems: list[str] = []

    def __call__(self, page: Page, name: str) -> None:
        self.audited.append(name)
        if page.locator("meta[name=viewport]").count() != 1:
            self.problems.append(f"{name}: no viewport meta")
        page.evaluate(self.axe)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                found: list[dict[str, Any]] = page.evaluate(RUN_AXE, AXE_OPTIONS)
                for violation in found:
                    self.problems.append(f"{name} [{scheme} {width}px] {violation['id']}: {violation['nodes']}")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if overflow > 0:
                    self.problems.append(f"{name} [{scheme} {width}px] overflows sideways by {overflow}px")
        page.emulate_media(color_scheme="light")
        page.set_viewport_size({"width": 1280, "height": 900})


def sign_in(page: Page, broker: LiveBroker, user: str) -> None:
    page.goto(f"{broker.url}/saml/login?provider=demo")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{broker.url}/saml/roles")


def test_every_page_passes_axe_in_both_schemes_at_both_widths(broker: LiveBroker, browser: Browser) -> None:
    audit = Auditor()
    with chromium_page(browser) as page:
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

        query = {
            "response_type": "code",
            "client_id": "broker-cli",
            "redirect_uri": "http://127.0.0.1:9/callback",
            "code_challenge": s256_challenge("v" * 64),
            "code_challenge_method": "S256",
            "state": "a11y",
        }
        page.goto(f"{broker.url}/cli/authorize?{urlencode(query)}")
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

        start = page.goto(f"{broker.url}/start")
        if start is not None and start.status == 200:  # the SSO portal page, where it is built
            audit(page, "SSO portal")

    assert audit.problems == [], "\n".join(audit.problems)
    assert len(audit.audited) >= 17


def focused(page: Page) -> dict[str, Any]:
    """The focused element: its id, tag and whether a focus indicator is drawn around it."""
    result: dict[str, Any] = page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {id: e.id, tag: e.tagName.toLowerCase(), text: (e.textContent || "").trim(),
                value: e.value || "", outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2}; }"""
    )
    return result


def tab_to(page: Page, wanted: str, attribute: str = "id", limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["outline"], f"no visible focus on {now}"
        if now[attribute] == wanted:
            return
    raise AssertionError(f"Tab never reached {attribute}={wanted!r}")


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
        # The first role radio: Space chooses it, then on to the button.
        for _ in range(40):
            page.keyboard.press("Tab")
            now = focused(page)
            assert now["outline"], f"no visible focus on {now}"
            if now["value"].startswith(f"arn:aws:iam::{ACCOUNT}:role/"):
                break
        page.keyboard.press("Space")
        assert page.evaluate("document.activeElement.checked") is True
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


def test_screenshots_of_the_main_pages(broker: LiveBroker, browser: Browser) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
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
        (SCREENSHOTS / f"{name}.png").write_bytes(png)


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
