"""The loopback listener of the browser sign-in: its checks, and what it does with connections
that say nothing or go away."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import pytest

from broker.cli import loopback
from broker.cli.errors import TokenError


def test_the_loopback_listener_checks_state_and_reports_errors() -> None:
    exchanged: list[str] = []

    def exchange(code: str) -> dict[str, str]:
        exchanged.append(code)
        return {"AccessKeyId": "ASIA"}

    server = loopback.LoopbackServer("expected-state", exchange)
    try:
        assert server.redirect_uri.startswith("http://127.0.0.1:")
        title, _ = server.receive({"state": ["other"], "code": ["c"]})
        assert title == "Sign-in refused" and exchanged == []
        assert server.outcome.error is not None and "state" in server.outcome.error.format_message()

        server.outcome = loopback.Outcome()
        server.receive({"state": ["expected-state"], "error": ["access_denied"], "error_description": ["no"]})
        assert isinstance(server.outcome.error, TokenError) and exchanged == []

        server.outcome = loopback.Outcome()
        title, message = server.receive({"state": ["expected-state"], "code": ["the-code"]})
        assert exchanged == ["the-code"] and server.outcome.body == {"AccessKeyId": "ASIA"}
        assert "close this tab" in message
    finally:
        server.server_close()


def test_the_listener_answers_only_its_path_and_only_once() -> None:

    server = loopback.LoopbackServer("s", lambda code: {"AccessKeyId": "ASIA"})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = server.redirect_uri.rsplit("/", 1)[0]
    try:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base + "/favicon.ico", timeout=5)
        missing.value.close()
        assert missing.value.code == 404
        with urllib.request.urlopen(server.redirect_uri + "?state=s&code=c", timeout=5) as done:
            assert b"You can close this tab" in done.read()
            assert done.headers["Cache-Control"] == "no-store"
        with pytest.raises(urllib.error.HTTPError) as again:
            urllib.request.urlopen(server.redirect_uri + "?state=s&code=c", timeout=5)
        again.value.close()
        assert again.value.code == 409
    finally:
        server.shutdown()
        server.server_close()


def _started(server: loopback.LoopbackServer) -> tuple[str, int]:
    server.start()
    return "127.0.0.1", server.server_address[1]


def test_an_idle_connection_neither_delays_the_callback_nor_the_close() -> None:
    server = loopback.LoopbackServer("s", lambda code: {"AccessKeyId": "ASIA"})
    address = _started(server)
    with socket.create_connection(address) as idle:  # a browser's preconnect: it says nothing
        with urllib.request.urlopen(server.redirect_uri + "?state=s&code=c", timeout=5) as done:
            assert b"You can close this tab" in done.read()
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 3
        assert idle.fileno() != -1  # still open: the close did not wait for it


def test_a_tab_closed_during_the_exchange_prints_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def slow_exchange(code: str) -> dict[str, str]:
        time.sleep(0.3)  # the exchange is a network call; the person closes the tab meanwhile
        return {"AccessKeyId": "ASIA"}

    server = loopback.LoopbackServer("s", slow_exchange)
    address = _started(server)
    try:
        tab = socket.create_connection(address)
        tab.sendall(b"GET /callback?state=s&code=c HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        tab.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, as a closed tab
        tab.close()
        assert server.answered.wait(5)
        assert server.outcome.body == {"AccessKeyId": "ASIA"}  # the sign-in itself succeeded
    finally:
        server.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err
