"""Headless Chromium for tests: Playwright's sync API driving Debian's /usr/bin/chromium.

    from tests.support.browser import chromium_page

    def test_login(idp):
        with chromium_page() as page:
            page.goto(url)
            ...

Playwright never downloads a browser here: `executable_path` points at the system Chromium
and `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1` is set before Playwright is imported. Loopback only:
background networking is off and no proxy is used. Timeouts are short (10 s per action, 15 s
per navigation) so a stuck flow fails fast with Playwright's own message instead of hanging.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 15_000


@contextmanager
def chromium(*, slow_mo_ms: float = 0) -> Iterator[Browser]:
    """Start Playwright and the system Chromium; both stop when the block ends."""
    if not CHROMIUM_PATH.exists():
        raise RuntimeError(f"{CHROMIUM_PATH} is missing (Debian package chromium); no browser is downloaded")
    from playwright.sync_api import sync_playwright  # imported late: after the env var above

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH),
            headless=True,
            args=list(CHROMIUM_ARGS),
            # Proxy settings from the environment must not route loopback traffic anywhere.
            env={key: value for key, value in os.environ.items() if "proxy" not in key.lower()},
            timeout=30_000,
            slow_mo=slow_mo_ms,
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(browser: Browser | None = None) -> Iterator[Page]:
    """A page in a fresh browser context (its own cookies), with the short default timeouts.

    Pass `browser` to reuse one Chromium across tests (e.g. from a session-scoped fixture
    around `chromium()`); otherwise a browser is started and stopped with the page.
    """
    if browser is None:
        with chromium() as own_browser, chromium_page(own_browser) as page:
            yield page
        return
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_until(page: Page, predicate: str, timeout_s: float = ACTION_TIMEOUT_MS / 1000) -> None:
    """Poll a JavaScript function (`() => ...`) in the page until it returns something truthy.

    Once its first check fails, Playwright's `wait_for_function` re-evaluates a string predicate with `eval`
    inside the page, which the page's own Content-Security-Policy forbids in Chromium 156 (the broker's pages send
    `script-src 'none'` or `'self'`). `page.evaluate` of a function is compiled by the DevTools
    protocol instead, which CSP does not govern, so this polls with it.
    """
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s:g} s: {predicate}")
        time.sleep(0.02)
