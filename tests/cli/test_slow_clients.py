"""Slow and silent clients against a real `broker serve`: they hold sockets, never threads.

The server runs with one worker and two threads, so two clients that hold a thread each would
stop it from answering anyone: hundreds of slow connections must leave it answering at once.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.cli.test_serve_workers import _sts, admin_env
from tests.support.aws import UNCHECKED
from tests.support.served import Served, serving

__all__ = ["admin_env"]  # the fixture, used here too
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """What is tested here is the HTTP server in front of the app: one database is enough."""
    return sqlite_url


@pytest.fixture
def slow_env(admin_env: tuple[dict[str, str], dict[str, str], int]) -> tuple[dict[str, str], dict[str, str], int]:
    env, admin, port = admin_env
    env = {
        **env,
        "BROKER_CLIENT_HEADER_TIMEOUT_SECONDS": "2",
        "BROKER_CLIENT_BODY_TIMEOUT_SECONDS": "2",
        "BROKER_MAX_CONNECTIONS_PER_CLIENT": "0",
    }
    return env, admin, port


@pytest.fixture
def served(tmp_path: Path, slow_env: tuple[dict[str, str], dict[str, str], int]) -> Iterator[Served]:
    env, _, port = slow_env
    with serving(env, port, tmp_path / "serve.log", "--workers", "1", "--threads", "2") as server:
        yield server


def connect(port: int, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if first:
        sock.sendall(first)
    return sock


def exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout bounds it)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def closed_already(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (nothing is sent on a held connection)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
        sock.settimeout(10)


def test_hundreds_of_slow_clients_do_not_stop_anyone_else(
    served: Served, slow_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    _, admin, _ = slow_env
    port = served.port
    silent = [connect(port) for _ in range(100)]
    partial_head = [connect(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(100)]
    partial_body = [
        connect(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAction=Get") for _ in range(100)
    ]
    try:
        # Every one of those is open and waiting; two threads serve everyone else meanwhile.
        for _ in range(20):
            assert exchange(port, HEALTHZ, timeout=5).startswith(b"HTTP/1.1 200 ")
        identity = _sts(served, admin).get_caller_identity()
        assert identity["Arn"].endswith(":root") or ":user/" in identity["Arn"]
        # Dribbling a byte now and then does not extend a deadline: the head had 2 s in all.
        for sock in partial_head[:10]:
            sock.sendall(b"a")
        started = time.monotonic()
        for sock in partial_head + partial_body:
            assert closed_by_server(sock).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        for sock in silent:
            assert closed_by_server(sock) == b""  # nothing sent, nothing owed
        assert time.monotonic() - started < 8  # bounded by the 2 s deadlines, not the sockets' 10 s
    finally:
        for sock in silent + partial_head + partial_body:
            sock.close()
    log = served.stderr()
    assert "Traceback" not in log


def test_a_request_arriving_in_pieces_is_served_whole(served: Served) -> None:
    with connect(port := served.port) as sock:
        for piece in (b"GET /hea", b"lthz HTTP/1.1\r\nHo", b"st: x\r\n", b"Connection: close\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(0.05)
        assert closed_by_server(sock).startswith(b"HTTP/1.1 200 ")
    # A chunked body, and two pipelined requests in one write, on a kept-alive connection.
    chunked = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        b"7\r\nAction=\r\n12\r\nGetCallerIdentity&\r\n0\r\n\r\n"
    )
    answer = exchange(port, chunked + HEALTHZ)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 403 ")  # unsigned: the AWS endpoint read the whole body
    assert b"MissingAuthenticationToken" in rest
    assert rest.count(b"HTTP/1.1 200 ") == 1  # then /healthz, pipelined behind it


def test_expect_continue_is_answered_once(served: Served) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with connect(served.port, head) as sock:
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
        sock.sendall(body)
        answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"100 Continue" not in answer


def test_oversized_requests_are_refused_before_they_are_read(served: Served) -> None:
    port = served.port
    too_long = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    assert exchange(port, too_long).startswith(b"HTTP/1.1 413 ")  # not a byte of the body sent
    assert exchange(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n").startswith(b"HTTP/1.1 414 ")
    huge_head = b"GET / HTTP/1.1\r\n" + b"X-Filler: " + b"b" * 120_000 + b"\r\n"
    assert exchange(port, huge_head).startswith(b"HTTP/1.1 431 ")
    assert exchange(port, HEALTHZ).startswith(b"HTTP/1.1 200 ")


def test_one_address_cannot_take_every_connection(
    tmp_path: Path, admin_env: tuple[dict[str, str], dict[str, str], int]
) -> None:
    env, admin, port = admin_env
    # The held connections send nothing: their header deadline must outlast the knocking below.
    env = {**env, "BROKER_MAX_CONNECTIONS_PER_CLIENT": "5", "BROKER_CLIENT_HEADER_TIMEOUT_SECONDS": "60"}
    with serving(env, port, tmp_path / "serve.log", "--workers", "1", "--threads", "2") as server:
        held = [connect(port) for _ in range(5)]
        try:
            # The five are accepted and counted when the worker's loop gets to them, which a loaded
            # machine may delay: a sixth that arrived first is an ordinary connection, which says
            # nothing. Knock, each knock given a second to be refused, until the cap answers.
            deadline = time.monotonic() + 30
            reopened = 0
            while True:
                time.sleep(0.2)
                # A held connection the server let go (a worker replaced under a loaded machine's
                # heartbeat timeout) no longer counts: hold another in its place.
                for index, sock in enumerate(held):
                    if closed_already(sock):
                        sock.close()
                        held[index] = connect(port)
                        reopened += 1
                with connect(port) as knock:
                    knock.settimeout(1)
                    try:
                        answer = closed_by_server(knock)
                    except TimeoutError:
                        answer = b""  # accepted as an ordinary connection: not counted yet
                if answer or time.monotonic() > deadline:
                    break
            assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), (answer, reopened, server.stderr())
            assert b"Retry-After: 1\r\n" in answer
            held.pop().close()
            time.sleep(0.3)
            assert exchange(port, HEALTHZ).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in held:
                sock.close()
        client = boto3.client(
            "sts",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=admin["AccessKeyId"],
            aws_secret_access_key=admin["SecretAccessKey"],
            config=UNCHECKED,
        )
        assert client.get_caller_identity()["Account"]
