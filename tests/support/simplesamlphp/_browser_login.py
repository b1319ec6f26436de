"""Fill SimpleSAMLphp's login form in a Playwright page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep this package importable where Playwright isn't installed
    from playwright.sync_api import Page


def login(page: Page, username: str, password: str) -> None:
    """Sign in on the `exampleauth:UserPass` form the page currently shows, and submit.

    Returns once the form is submitted; SimpleSAMLphp then renders its post page, whose script
    submits the SAMLResponse to the ACS, so wait for the SP's URL next (`page.wait_for_url`).
    """
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.locator('form:has(input[name="password"]) [type="submit"]').first.click()
