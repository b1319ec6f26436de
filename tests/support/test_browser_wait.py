"""`wait_until` polls through the DevTools protocol, so a page's own CSP cannot stop it.

Playwright's `wait_for_function` with a string re-evaluates the string with `eval` in the page
once its first check fails, and Chromium 156 refuses that under `script-src 'none'` (every
broker page sends a script-src without 'unsafe-eval'). This failed the keyboard a11y test only
when the stylesheet was still loading at the first check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.browser import chromium_page, wait_until

pytestmark = pytest.mark.browser


class _StrictPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>strict</title><p>nothing runs here</p>"
        self.send_response(200)
        self.send_header("Content-Security-Policy", "default-src 'none'; script-src 'none'")
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def strict_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StrictPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_waits_for_a_late_change_under_script_src_none(strict_url: str) -> None:
    with chromium_page() as page:
        page.goto(strict_url)
        page.evaluate("() => { setTimeout(() => { document.title = 'ready'; }, 150); }")
        assert page.title() == "strict"  # the first check fails, so it must poll
        wait_until(page, "() => document.title === 'ready'")
        assert page.title() == "ready"


def test_gives_up_with_the_predicate_named(strict_url: str) -> None:
    with chromium_page() as page:
        page.goto(strict_url)
        with pytest.raises(AssertionError, match=r"document\.title === 'never'"):
            wait_until(page, "() => document.title === 'never'", timeout_s=0.3)
