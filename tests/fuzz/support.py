"""What every fuzz test shares: the bounded hypothesis settings, the count of inputs tried per
surface, request signing, hostile values, and the properties every answer must have.

CI runs each test with a fixed budget (derandomised, no example database, so a run is
reproducible); ``BROKER_FUZZ_EXAMPLES=N`` runs N random examples per test instead, for long runs
(a failure prints the ``@reproduce_failure`` blob that replays it).
"""

from __future__ import annotations

import base64
import json
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from broker.services.runtime import Runtime
from broker.store.audit.events import newest_records

# Inputs tried, per surface; the terminal summary prints them (tests/fuzz/conftest.py).
TRIED: Counter[str] = Counter()
HOST = "localhost"
REGION = "us-east-1"


def fuzz_settings(ci_examples: int) -> settings:
    """``ci_examples`` per test in CI (the whole suite within about a minute on two cores), the
    same inputs every run; a long run (``BROKER_FUZZ_EXAMPLES``) draws new ones each time."""
    long_run = os.environ.get("BROKER_FUZZ_EXAMPLES")
    return settings(
        max_examples=int(long_run) if long_run else ci_examples,
        derandomize=not long_run,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def tried(surface: str) -> None:
    TRIED[surface] += 1


# Values chosen to break parsers: digits that isdigit() accepts and int() refuses (or reads),
# numbers out of range, control characters, markup, huge and deeply nested text.
HOSTILE_VALUES = (
    "",
    " ",
    "0",
    "-1",
    "3600",
    "²",
    "¹²³",
    "٣٦٠٠",
    "\uff13\uff16\uff10\uff10",
    "1_000",
    " 7 ",
    "1e3",
    "NaN",
    "99999999999999999999999999",
    "9" * 5000,
    "\x00",
    "\x01\x02\x7f",
    "\ufeff",
    "\ufffe",
    "&<>\"'",
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
    "${aws:username}",
    "arn:aws:iam::123456789012:role/DemoAdmin",
    "arn:aws:iam::123456789012:saml-provider/demo",
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:sts::123456789012:assumed-role/x/y",
    "*",
    "a" * 70,
    "A" * 20_000,
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    '{"Version":"2012-10-17","Statement":' + "[" * 1500 + "]" * 1500 + "}",
    "[" * 3000,
    "{" * 3000,
    "/../../etc/passwd",
    "http://127.0.0.1:1/cb",
    "https://evil.example/",
    "//evil.example",
    "%00%ff",
    "true",
    "false",
    "null",
)
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.one_of(hostile_text, st.text(max_size=12)), children)
        ),
        max_leaves=max_leaves,
    )


def nested(depth: int, kind: str = "[") -> str:
    """A JSON value nesting ``depth`` arrays (or objects)."""
    if kind == "[":
        return "[" * depth + "1" + "]" * depth
    return '{"x":' * depth + "1" + "}" * depth


# Bodies that are not the JSON the endpoint expects, or JSON nested or sized to hurt.
odd_json_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'"x"',
            b"NaN",
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b"\xef\xbb\xbf{}",
            b"\xff\xfe{\x00}\x00",
            b'{"a": 1, "a": 2}',
            b"{" * 100,
            nested(65).encode(),
            nested(1000).encode(),
            nested(1000, "{").encode(),
            nested(100_000).encode(),
            b'{"a":"' + b"[" * 5000 + b'"}',
            b'"' + b'\\"' * 5000,
            b"[" * 5000 + b"]" * 4999,
            b"1" * 5000,
        ]
    ),
)


def _latin1(text: str) -> str:
    return quote(text, safe="", encoding="latin-1", errors="replace")


def form_body(pairs: list[tuple[str, str]], mangle: int = 0) -> str:
    """``pairs`` as a form body; ``mangle`` picks an odd but parseable spelling."""
    if mangle == 1:  # spaces as '+', everything else raw where the form allows
        return "&".join(f"{quote(n, safe='')}={quote(v, safe='').replace('%20', '+')}" for n, v in pairs)
    if mangle == 2:  # stray separators and a broken percent escape
        return "&&" + "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs) + "&=&%zz=%&"
    if mangle == 3:  # latin-1 bytes where UTF-8 is expected
        return "&".join(f"{_latin1(n)}={_latin1(v)}" for n, v in pairs)
    return "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str


def signed_headers(
    keys: Keys,
    service: str,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    token: str | None = None,
) -> dict[str, str]:
    """``headers`` plus a valid SigV4 signature over the request as the test client sends it."""
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", data=body, headers=dict(headers))
    credentials = Credentials(keys.access_key_id, keys.secret_access_key, token)
    SigV4Auth(credentials, service, REGION).add_auth(request)
    return dict(request.headers.items())


def send(client: FlaskClient, method: str, path: str, body: bytes, headers: dict[str, str]) -> TestResponse:
    return client.open(path, method=method, data=body, headers=headers)


def no_server_error(response: TestResponse, surface: str) -> None:
    assert response.status_code < 500, f"{surface}: {response.status_code} {response.get_data(as_text=True)[:500]}"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "/' not in text, f"{surface}: a traceback in the body"


def query_error(response: TestResponse) -> tuple[str, str]:
    """The ``(code, request id)`` of a Query-protocol ``ErrorResponse``; fails on any other shape."""
    root = ET.fromstring(response.get_data())  # noqa: S314  (the broker's own answer)
    assert root.tag.endswith("ErrorResponse"), response.get_data(as_text=True)[:300]
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    error = root.find(f"{namespace}Error")
    assert error is not None
    assert error.findtext(f"{namespace}Type") in ("Sender", "Receiver")
    code = error.findtext(f"{namespace}Code")
    assert code and error.find(f"{namespace}Message") is not None
    request_id = root.findtext(f"{namespace}RequestId")
    assert request_id
    return code, request_id


def json_error(response: TestResponse) -> tuple[str, str]:
    """The ``(__type, request id)`` of a JSON-protocol error; fails on any other shape."""
    document = json.loads(response.get_data())
    assert isinstance(document, dict) and isinstance(document.get("__type"), str), document
    assert isinstance(document.get("message"), str), document
    assert response.headers["x-amzn-ErrorType"] == document["__type"]
    return document["__type"], response.headers["x-amzn-RequestId"]


def decision_error(response: TestResponse) -> tuple[str, str]:
    document = json.loads(response.get_data())
    error = document["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), document
    assert error["requestId"] == response.headers["X-Request-Id"]
    return error["code"], error["requestId"]


_ERROR_CODE = re.compile(r'id="error-code">([^<]*)<')


def page_error_code(response: TestResponse) -> str | None:
    """The reason code an HTML refusal page shows, if it shows one."""
    found = _ERROR_CODE.search(response.get_data(as_text=True))
    return found.group(1) if found else None


def audited(runtime: Runtime, request_id: str, code: str | None = None) -> dict[str, Any]:
    """The audit record of the request ``request_id`` (it must be among the newest events)."""
    with runtime.db.read() as tx:
        records = newest_records(tx, 50)
    for _, record in reversed(records):
        if record.get("requestID") == request_id:
            if code is not None:
                assert record.get("errorCode") == code, record
            return dict(record)
    raise AssertionError(f"no audit event for request {request_id}")


def _header_safe(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in value for c in "\r\n\x00")


# What can travel in an HTTP header at all: latin-1, one line.
header_text = hostile_text.filter(_header_safe)


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Session tokens that are not the broker's: JWT-shaped, with headers and claims of odd JSON.
junk_tokens = st.one_of(
    header_text,
    st.tuples(odd_json_bodies, odd_json_bodies, st.binary(max_size=64)).map(
        lambda parts: ".".join(_segment(part) for part in parts)
    ),
).filter(_header_safe)
