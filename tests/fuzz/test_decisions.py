"""Fuzz the decision API (``POST /v1/decisions``): random and hostile bodies, JSON nested deep,
wrong media types, unsigned, signed by an administrator's key and by a session (SigV4 with its
token, and the bearer scheme).

Every answer is a 200 or a 4xx ``{"error": {...}}``, never a 5xx or a traceback; every refusal
is in the audit trail under its request id."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import (
    audited,
    decision_error,
    fuzz_settings,
    header_text,
    hostile_text,
    json_values,
    junk_tokens,
    no_server_error,
    odd_json_bodies,
    send,
    signed_headers,
    tried,
)

PATH = "/v1/decisions"
ACTIONS = ["s3:GetObject", "iam:CreateRole", "sts:AssumeRole", "*", "s3:*"]
RESOURCES = ["arn:aws:s3:::bucket/key", "arn:aws:iam::123456789012:role/DemoAdmin", "*"]
CONTEXT_KEYS = ["aws:SourceIp", "aws:CurrentTime", "aws:PrincipalArn", "s3:prefix", "aws:MultiFactorAuthPresent"]

one_query = st.fixed_dictionaries(
    {},
    optional={
        "action": st.one_of(st.sampled_from(ACTIONS), hostile_text, json_values(3)),
        "resource": st.one_of(st.sampled_from(RESOURCES), hostile_text, json_values(3)),
        "context": st.one_of(
            st.dictionaries(st.one_of(st.sampled_from(CONTEXT_KEYS), hostile_text), json_values(4), max_size=5),
            json_values(3),
        ),
        "extra": json_values(2),
    },
)
bodies = st.one_of(
    one_query.map(lambda q: json.dumps(q).encode()),
    st.lists(one_query, max_size=4).map(lambda qs: json.dumps({"requests": qs}).encode()),
    odd_json_bodies,
)
media_types = st.one_of(st.sampled_from(["application/json", "application/problem+json", ""]), header_text)


@fuzz_settings(100)
@given(body=bodies, media_type=media_types, bearer=st.one_of(st.sampled_from(["", "session"]), junk_tokens))
def test_unsigned_and_bearer_decisions(fuzz_broker: FuzzBroker, body: bytes, media_type: str, bearer: str) -> None:
    headers = {"Content-Type": media_type} if media_type else {}
    if bearer:
        headers["Authorization"] = "Bearer " + (fuzz_broker.session_token if bearer == "session" else bearer)
    _check(fuzz_broker, send(fuzz_broker.anonymous(), "POST", PATH, body, headers), "decision API")


@fuzz_settings(120)
@given(body=bodies, media_type=media_types, as_session=st.booleans())
def test_signed_decisions(fuzz_broker: FuzzBroker, body: bytes, media_type: str, as_session: bool) -> None:
    headers = {"Content-Type": media_type} if media_type else {}
    keys, token = (fuzz_broker.session, fuzz_broker.session_token) if as_session else (fuzz_broker.admin, None)
    headers = signed_headers(keys, "execute-api", "POST", PATH, body, headers, token)
    _check(fuzz_broker, send(fuzz_broker.anonymous(), "POST", PATH, body, headers), "decision API (SigV4)")


def _check(fuzz_broker: FuzzBroker, response: TestResponse, surface: str) -> None:
    tried(surface)
    no_server_error(response, surface)
    if response.status_code != 200:
        code, request_id = decision_error(response)
        audited(fuzz_broker.runtime, request_id, code)
    else:
        assert "allowed" in response.get_data(as_text=True) or "results" in response.get_data(as_text=True)
