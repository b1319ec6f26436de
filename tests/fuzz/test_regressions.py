"""Inputs the fuzzers found answered with a 5xx, kept as plain tests so each stays fixed.

Each test fails until its bug is fixed (in a module outside the fuzz suite's owner's files when
it says so); none is marked expected-to-fail.

A real server hands the application the query string exactly as the client sent it: a byte that
is not UTF-8 arrives as it is (waitress and gunicorn decode the request line as latin-1). The
test client percent-encodes what it is given, so these set ``QUERY_STRING`` themselves.
"""

from __future__ import annotations

import base64
import re

import pytest

from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import audited, no_server_error, query_error, signed_headers
from tests.fuzz.test_cli import VALID_AUTHORIZE

RAW_QUERY = "provider=demo\xff&user_code=AB\xffCD&request=\xff&Action=ListUsers\xff&Version=2010-05-08"


def test_the_aws_endpoint_reads_a_query_string_that_is_not_utf8(fuzz_broker: FuzzBroker) -> None:
    response = fuzz_broker.anonymous().post(
        "/",
        data="Action=ListUsers&Version=2010-05-08",
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"QUERY_STRING": RAW_QUERY},
    )
    no_server_error(response, "POST /")
    assert response.status_code == 400 and query_error(response)[0] == "InvalidQueryParameter"  # Action twice


@pytest.mark.parametrize("path", ["/", "/saml/login", "/cli/authorize", "/cli/authorize/resume", "/cli/device/verify"])
def test_pages_read_a_query_string_that_is_not_utf8(fuzz_broker: FuzzBroker, path: str) -> None:
    # Found by the fuzzer: werkzeug's request.args decodes the query string as strict UTF-8 and
    # raises UnicodeDecodeError, so every route that reads request.args answered 500.
    for client in (fuzz_broker.anonymous(), fuzz_broker.signed_in()):
        response = client.get(path, environ_overrides={"QUERY_STRING": RAW_QUERY})
        no_server_error(response, f"GET {path}")


def _token_with_deep_header(depth: int = 3_000) -> str:
    # A JWT-shaped token whose header segment is JSON nested ``depth`` levels: fits in an 8 KiB
    # header line, and json.loads raised RecursionError choosing the verification key.
    return base64.urlsafe_b64encode(b"[" * depth).rstrip(b"=").decode() + ".e30.c2ln"


def test_a_session_token_with_a_deeply_nested_header_on_a_signed_call(fuzz_broker: FuzzBroker) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = signed_headers(
        fuzz_broker.session,
        "sts",
        "POST",
        "/",
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
        _token_with_deep_header(),
    )
    response = fuzz_broker.anonymous().post("/", data=body, headers=headers)
    no_server_error(response, "POST / with a session token")
    code, request_id = query_error(response)
    assert code == "InvalidClientTokenId"
    audited(fuzz_broker.runtime, request_id, code)


def test_a_bearer_token_with_a_deeply_nested_header_at_the_decision_api(fuzz_broker: FuzzBroker) -> None:
    response = fuzz_broker.anonymous().post(
        "/v1/decisions",
        data=b'{"action":"s3:GetObject","resource":"*"}',
        headers={"Authorization": f"Bearer {_token_with_deep_header()}", "Content-Type": "application/json"},
    )
    no_server_error(response, "POST /v1/decisions with a bearer token")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/saml/roles", {"role_arn": "arn:aws:iam::123456789012:role/DemoAdmin"}),
        ("/saml/logout", {}),
        ("/cli/device/verify", {"user_code": "BCDF-GHJK", "action": "approve"}),
    ],
)
def test_a_csrf_token_that_is_not_ascii(fuzz_broker: FuzzBroker, path: str, form: dict[str, str]) -> None:
    # Found by the fuzzer (every route, long run): hmac.compare_digest refuses str arguments with
    # non-ASCII characters (TypeError), broker/services/federation/sessions.py csrf_matches.
    response = fuzz_broker.signed_in().post(path, data={**form, "csrf_token": "é"})
    no_server_error(response, f"POST {path}")
    assert 400 <= response.status_code < 500  # refused, whichever way the fix answers


def test_a_consent_token_that_is_not_ascii(fuzz_broker: FuzzBroker) -> None:
    # The same TypeError in broker/services/cli_auth/code_flow.py, on the CLI consent form.
    client = fuzz_broker.signed_in()
    query = {**VALID_AUTHORIZE, "role": fuzz_broker.role_arn}
    page = client.get("/cli/authorize", query_string=query).get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert "consent_token" in form, page[-500:]
    response = client.post("/cli/authorize/resume", data={**form, "action": "approve", "consent_token": "é"})
    no_server_error(response, "POST /cli/authorize/resume")
