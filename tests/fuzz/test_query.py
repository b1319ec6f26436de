"""Fuzz the Query protocol (``POST /`` and ``GET /?Action=``): random actions and parameters,
repeated names, odd encodings, hostile values, unsigned and signed by an administrator.

Every answer is a 2xx or a 4xx ``ErrorResponse``, never a 5xx or a traceback, and every refusal
is in the audit trail under the request id it was answered with."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import botocore.session
from hypothesis import given
from hypothesis import strategies as st

from broker.services.api import QUERY_ACTIONS
from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import (
    audited,
    form_body,
    fuzz_settings,
    hostile_text,
    junk_tokens,
    no_server_error,
    query_error,
    send,
    signed_headers,
    tried,
)

ACTIONS = sorted(QUERY_ACTIONS)
VERSIONS = ["2010-05-08", "2011-06-15", "", "2099-01-01"]
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _parameter_names() -> dict[str, list[str]]:
    """Each action's input members as botocore models them, with list and map spellings."""
    session = botocore.session.get_session()
    names: dict[str, list[str]] = {}
    for service in ("iam", "sts"):
        model = session.get_service_model(service)
        for action in model.operation_names:
            shape = model.operation_model(action).input_shape
            members = list(shape.members) if shape is not None else []
            spelled: list[str] = []
            for member in members:
                spelled += [member, f"{member}.member.1", f"{member}.member.2", f"{member}.member.²"]
                spelled += [f"{member}.member.1.Key", f"{member}.member.1.Value", f"{member}.member.0"]
                spelled += [f"{member}.member.1.ContextKeyName", f"{member}.member.1.ContextKeyValues.member.1"]
                spelled += [f"{member}.member.1.ContextKeyType", f"{member}.member.99999999999999999999"]
            names[action] = spelled or ["Marker"]
    return names


NAMES = _parameter_names()
ALL_NAMES = sorted({name for spelled in NAMES.values() for name in spelled})


@st.composite
def query_calls(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    action = draw(st.one_of(st.sampled_from(ACTIONS), hostile_text))
    names = NAMES.get(action, ALL_NAMES)
    pairs = [("Action", action), ("Version", draw(st.one_of(st.sampled_from(VERSIONS), hostile_text)))]
    for _ in range(draw(st.integers(0, 6))):
        pairs.append((draw(st.one_of(st.sampled_from(names), hostile_text)), draw(hostile_text)))
    if draw(st.integers(0, 3)) == 0:  # a name given twice, with the same or another value
        name, value = draw(st.sampled_from(pairs))
        pairs.append((name, draw(st.one_of(st.just(value), hostile_text))))
    if draw(st.booleans()):
        pairs = list(draw(st.permutations(pairs)))
    return action, pairs


def _service(action: str) -> str:
    operation = QUERY_ACTIONS.get(action)
    return "sts" if operation is not None and operation.service.event_source.startswith("sts") else "iam"


def _check(fuzz_broker: FuzzBroker, response: Any, surface: str) -> None:
    tried(surface)
    no_server_error(response, surface)
    if response.status_code != 200:
        code, request_id = query_error(response)
        audited(fuzz_broker.runtime, request_id, code)


# What a real server may pass on as the query string: any byte, decoded as latin-1.
raw_query_strings = st.one_of(st.just(""), st.text(alphabet=st.characters(max_codepoint=255), max_size=60))


@fuzz_settings(200)
@given(call=query_calls(), mangle=st.integers(0, 3), raw_query=raw_query_strings)
def test_unsigned_query_calls(
    fuzz_broker: FuzzBroker, call: tuple[str, list[tuple[str, str]]], mangle: int, raw_query: str
) -> None:
    _, pairs = call
    client = fuzz_broker.anonymous()
    body = form_body(pairs, mangle).encode()
    response = client.post("/", data=body, headers=FORM, environ_overrides={"QUERY_STRING": raw_query})
    _check(fuzz_broker, response, "query")


@fuzz_settings(200)
@given(
    call=query_calls(), mangle=st.integers(0, 3), signer=st.one_of(st.sampled_from(["admin", "session"]), junk_tokens)
)
def test_signed_query_calls(
    fuzz_broker: FuzzBroker, call: tuple[str, list[tuple[str, str]]], mangle: int, signer: str
) -> None:
    """Signed by the administrator's key, by a session's (with its token), or with a junk token."""
    action, pairs = call
    body = form_body(pairs, mangle).encode()
    keys, token = (fuzz_broker.admin, None) if signer == "admin" else (fuzz_broker.session, fuzz_broker.session_token)
    if signer not in ("admin", "session"):
        token = signer
    headers = signed_headers(keys, _service(action), "POST", "/", body, FORM, token)
    response = send(fuzz_broker.anonymous(), "POST", "/", body, headers)
    _check(fuzz_broker, response, "query (SigV4)")


@fuzz_settings(60)
@given(call=query_calls(), signed=st.booleans())
def test_query_calls_by_get(fuzz_broker: FuzzBroker, call: tuple[str, list[tuple[str, str]]], signed: bool) -> None:
    action, pairs = call
    path = "/?" + "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)
    headers = signed_headers(fuzz_broker.admin, _service(action), "GET", path, b"", {}) if signed else {}
    response = send(fuzz_broker.anonymous(), "GET", path, b"", headers)
    _check(fuzz_broker, response, "query (GET)")
