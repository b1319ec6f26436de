"""Fuzz the JSON protocol (``POST /`` with ``X-Amz-Target``): random targets and bodies, JSON nested
deep and wide, wrong types, unsigned and signed by an administrator.

Every answer is a 2xx or a 4xx with ``__type``, never a 5xx or a traceback; every refusal is
in the audit trail."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from hypothesis import given
from hypothesis import strategies as st

from broker.services.api import JSON_ACTIONS
from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import (
    audited,
    fuzz_settings,
    header_text,
    hostile_text,
    json_error,
    json_values,
    no_server_error,
    odd_json_bodies,
    query_error,
    send,
    signed_headers,
    tried,
)

TARGETS = sorted(JSON_ACTIONS)
JSON_TYPE = {"Content-Type": "application/x-amz-json-1.1"}


def _members() -> dict[str, list[str]]:
    session = botocore.session.get_session()
    found: dict[str, list[str]] = {}
    for service in ("organizations", "cloudtrail"):
        model = session.get_service_model(service)
        for name in model.operation_names:
            shape = model.operation_model(name).input_shape
            found[name] = list(shape.members) if shape is not None else []
    return found


MEMBERS = _members()


@st.composite
def json_calls(draw: st.DrawFn) -> tuple[str, bytes]:
    target = draw(st.one_of(st.sampled_from(TARGETS), header_text, st.sampled_from(TARGETS).map(lambda t: t + "x")))
    members = MEMBERS.get(target.rpartition(".")[2]) or ["Name"]
    shaped = st.dictionaries(st.one_of(st.sampled_from(members), hostile_text), json_values(), max_size=6)
    body = draw(st.one_of(shaped.map(lambda d: json.dumps(d).encode()), odd_json_bodies))
    return target, body


def _check(fuzz_broker: FuzzBroker, response: Any, surface: str, target: str) -> None:
    tried(surface)
    no_server_error(response, surface)
    if response.status_code != 200:
        # An empty X-Amz-Target names no JSON operation: the request is read as a Query call.
        code, request_id = json_error(response) if target else query_error(response)
        audited(fuzz_broker.runtime, request_id, code)
    else:
        assert target and isinstance(json.loads(response.get_data()), dict)


@fuzz_settings(120)
@given(call=json_calls())
def test_unsigned_json_calls(fuzz_broker: FuzzBroker, call: tuple[str, bytes]) -> None:
    target, body = call
    response = send(fuzz_broker.anonymous(), "POST", "/", body, {**JSON_TYPE, "X-Amz-Target": target})
    _check(fuzz_broker, response, "json protocol", target)


@fuzz_settings(150)
@given(call=json_calls(), as_session=st.booleans())
def test_signed_json_calls(fuzz_broker: FuzzBroker, call: tuple[str, bytes], as_session: bool) -> None:
    """Signed by the administrator's key, or by a session's (with its token)."""
    target, body = call
    service = "cloudtrail" if "CloudTrail" in target else "organizations"
    keys, token = (fuzz_broker.session, fuzz_broker.session_token) if as_session else (fuzz_broker.admin, None)
    headers = {**JSON_TYPE, "X-Amz-Target": target}
    response = send(
        fuzz_broker.anonymous(), "POST", "/", body, signed_headers(keys, service, "POST", "/", body, headers, token)
    )
    _check(fuzz_broker, response, "json protocol (SigV4)", target)
