"""The loopback listener of the browser sign-in (RFC 8252 section 7.3): one HTTP answer on
127.0.0.1 at a random port, for the broker's redirect with ``code`` and ``state``.

Used by `broker login` (oauth.browser_login) and `broker login --sso-session`.
"""

from __future__ import annotations

import hmac
import html
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from broker.cli.errors import BrokerError, TokenError
from broker.cli.waiting import Progress

CALLBACK_PATH = "/callback"

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}</style></head>
<body><h1 id="result">{title}</h1><p id="message">{message}</p></body></html>"""


# How long the listener, once the answer is in, lets its page reach the browser before closing.
_PAGE_GRACE_SECONDS = 2.0


@dataclass
class Outcome:
    body: dict[str, Any] | None = None
    error: BrokerError | None = None


class LoopbackServer(ThreadingHTTPServer):
    """The one-shot listener of the browser's return.

    Each connection is served by its own daemon thread, and a connection that says nothing is
    dropped after ``_CallbackHandler.timeout``: a browser's speculative preconnect, or any local
    process holding an idle connection, must neither keep the genuine callback waiting nor keep
    the command from ending when it times out.
    """

    daemon_threads = True
    block_on_close = False  # closing must not wait for a handler stuck on an idle connection

    def __init__(self, state: str, exchange: Callable[[str], dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _CallbackHandler)
        self.expected_state = state
        self.exchange = exchange
        self.outcome = Outcome()
        self.finished = threading.Event()  # the answer is in (the code exchanged, or refused)
        self.answered = threading.Event()  # and its page was written to the browser (or could not be)
        self._claim = threading.Lock()
        self._claimed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening. A page being written gets a moment to reach the browser; nothing else is
        waited for (an idle connection's thread ends at its timeout, or with the process)."""
        if self.finished.is_set():
            self.answered.wait(_PAGE_GRACE_SECONDS)
        if self._thread is not None:
            self.shutdown()  # returns at once: serve_forever only accepts, threads do the rest
            self._thread.join(timeout=5)
        self.server_close()

    def claim(self) -> bool:
        """Whether this request is the first to bring an answer; later ones are told it is done."""
        with self._claim:
            first = not self._claimed
            self._claimed = True
            return first

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The browser went away (the tab closed while the code was exchanged): the terminal has the
        # outcome already, and a socketserver traceback in the middle of a sign-in would only alarm.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{CALLBACK_PATH}"

    def receive(self, params: dict[str, list[str]]) -> tuple[str, str]:
        """Handle the browser's return; (title, message) for the page it shows."""
        state = (params.get("state") or [""])[0]
        if not hmac.compare_digest(state.encode(), self.expected_state.encode()):
            self.outcome.error = BrokerError(
                "the browser came back with a state this login did not send (an old tab, or a forged redirect); "
                "nothing was stored. Run `broker login` again"
            )
            return "Sign-in refused", "This answer does not belong to the login the terminal is waiting for."
        if "error" in params:
            error = params["error"][0][:100]
            description = (params.get("error_description") or [error])[0][:300]
            self.outcome.error = TokenError(error, f"the broker refused the sign-in: {description} ({error})")
            return "Sign-in refused", f"The broker refused: {description}."
        code = (params.get("code") or [""])[0]
        if not code:
            self.outcome.error = BrokerError("the browser came back without a code; run `broker login` again")
            return "Sign-in failed", "The answer carried no code."
        try:
            self.outcome.body = self.exchange(code)
        except BrokerError as exc:
            self.outcome.error = exc
            return "Sign-in failed", f"The terminal could not get credentials: {exc.format_message()}"
        return "Signed in", "The broker command has your credentials. You can close this tab."


class _CallbackHandler(BaseHTTPRequestHandler):
    server: LoopbackServer
    timeout = 10  # seconds a connection may stay silent (StreamRequestHandler sets it on the socket)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._reply(404, "Not found", "This address only receives the broker's sign-in answer.")
            return
        if not self.server.claim():
            self._reply(409, "Already done", "This login has finished; look at your terminal.")
            return
        try:
            try:
                title, message = self.server.receive(parse_qs(parts.query))
            finally:
                self.server.finished.set()
            self._reply(200 if self.server.outcome.error is None else 400, title, message)
        finally:
            self.server.answered.set()

    def _reply(self, status: int, title: str, message: str) -> None:
        body = _PAGE.format(title=html.escape(title), message=html.escape(message)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the tab was closed: the terminal tells the outcome

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the query string carries the code: keep it off the terminal


def wait_for_browser(finished: threading.Event, timeout: float, progress: Progress | None) -> bool:
    """Wait for the browser's return, showing the time left; whether it came back in time."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return finished.is_set()
            if progress is not None:
                progress.update("Waiting for the sign-in in the browser", left)
            if finished.wait(min(1.0, left)):
                return True
    finally:
        if progress is not None:
            progress.done()
