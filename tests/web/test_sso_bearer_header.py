"""`broker serve` passes the SSO portal's bearer header on, and no other header with an underscore.

gunicorn drops every header whose name has an underscore (X_Forwarded_For and X-Forwarded-For
would share one WSGI variable). The request reader renames exactly ``x-amz-sso_bearer_token`` to
its dashed spelling before gunicorn parses the head; tests/flows/test_sso_clients.py shows it
reaching the app under `broker serve`, with a spoofed X_Forwarded_For still dropped.
"""

from __future__ import annotations

from broker.web.request_reader import ReaderLimits, RequestReader

LIMITS = ReaderLimits(max_request_line=200, max_head=2000, max_body=5000)


def read(data: bytes, *, byte_by_byte: bool = False) -> bytes:
    reader = RequestReader(LIMITS)
    pieces = [data[i : i + 1] for i in range(len(data))] if byte_by_byte else [data]
    for piece in pieces:
        reader.feed(piece)
    assert reader.complete
    return reader.data


def test_the_bearer_header_is_renamed_in_any_case_and_nothing_else_changes() -> None:
    body = b"x-amz-sso_bearer_token: in the body stays"
    request = (
        b"POST /logout HTTP/1.1\r\nHost: x\r\nX-Amz-SSO_Bearer_Token: abc\r\n"
        b"X_Forwarded_For: 203.0.113.9\r\nx-amz-sso_bearer_token2: other\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    for byte_by_byte in (False, True):
        seen = read(request, byte_by_byte=byte_by_byte)
        assert b"\r\nx-amz-sso-bearer-token: abc\r\n" in seen
        assert b"\r\nX_Forwarded_For: 203.0.113.9\r\n" in seen
        assert b"\r\nx-amz-sso_bearer_token2: other\r\n" in seen
        assert seen.endswith(body)
        assert len(seen) == len(request)


def test_a_pipelined_request_is_renamed_when_its_turn_comes() -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"GET /assignment/accounts HTTP/1.1\r\nHost: x\r\nx-amz-sso_bearer_token: t\r\n\r\n"
    seen = read(first + second)
    assert seen == first + second  # only the head being gathered is looked at
    assert b"x-amz-sso-bearer-token" in read(seen[len(first) :])
