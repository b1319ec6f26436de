"""Fuzz the CLI sign-in endpoints: ``/cli/authorize`` (and the consent step it leads to),
``/cli/token``, ``/cli/device``, ``/cli/device/verify``, ``/cli/revoke`` and ``/cli/session``, with
random and hostile fields (durations in non-ASCII digits included), with and without a browser
session.

Every answer is a page, a redirect or an OAuth error ``{"error": ...}``, never a 5xx or a
traceback."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import fuzz_settings, header_text, hostile_text, no_server_error, tried

VERIFIER = "v" * 43
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
ROLE = "arn:aws:iam::123456789012:role/DemoAdmin"
DURATIONS = ["900", "3600", "43200", "²", "٣٦٠٠", "3600 ", "-1", "1e3", ""]


def field(*likely: str) -> st.SearchStrategy[str | None]:
    """A form or query field: absent, one of the likely values, or hostile."""
    return st.one_of(st.none(), st.sampled_from(likely) if likely else st.nothing(), hostile_text)


VALID_AUTHORIZE = {
    "response_type": "code",
    "client_id": "broker-cli",
    "redirect_uri": "http://127.0.0.1:49152/callback",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
    "state": "xyz",
    "role": ROLE,
    "duration": "3600",
    "provider": "demo",
}
ALTERNATIVES = {
    "response_type": ("token",),
    "redirect_uri": ("http://[::1]:5000/", "https://evil.example/", "http://127.0.0.1/"),
    "code_challenge_method": ("plain",),
    "duration": tuple(DURATIONS),
    "role": ("arn:aws:iam::123456789012:role/Nope",),
}


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, str]) -> dict[str, str | None]:
    """``valid`` with up to three fields dropped, changed to a plausible alternative or to junk."""
    fields: dict[str, str | None] = dict(valid)
    for name in draw(st.lists(st.sampled_from(sorted(valid)), max_size=3, unique=True)):
        fields[name] = draw(st.one_of(st.none(), st.sampled_from(ALTERNATIVES.get(name, ("",))), hostile_text))
    return fields


authorize_queries = mutated(VALID_AUTHORIZE)
token_forms = st.fixed_dictionaries(
    {
        "grant_type": field(
            "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "password"
        ),
        "code": field("abc"),
        "code_verifier": field(VERIFIER),
        "redirect_uri": field("http://127.0.0.1:49152/callback"),
        "client_id": field("broker-cli"),
        "refresh_token": field("x"),
        "device_code": field("x"),
        "role": field(ROLE),
        "duration": field(*DURATIONS),
    }
)


def _present(fields: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


def _check(response: TestResponse, surface: str) -> None:
    tried(surface)
    no_server_error(response, surface)
    if response.status_code >= 400 and response.mimetype == "application/json":
        document = json.loads(response.get_data())
        assert isinstance(document.get("error"), str), document


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
consent_changes = st.dictionaries(
    st.sampled_from(["role_arn", "duration", "action", "csrf_token", "consent_token", "request"]),
    st.one_of(st.sampled_from(["approve", "deny", ROLE, *DURATIONS]), hostile_text),
    max_size=3,
)


@fuzz_settings(50)
@given(query=authorize_queries, signed_in=st.booleans(), changes=consent_changes)
def test_authorize_and_consent(
    fuzz_broker: FuzzBroker, query: dict[str, str | None], signed_in: bool, changes: dict[str, str]
) -> None:
    client = fuzz_broker.signed_in() if signed_in else fuzz_broker.anonymous()
    if query.get("role") == ROLE:
        query["role"] = fuzz_broker.role_arn
    response = client.get("/cli/authorize", query_string=_present(query))
    _check(response, "cli authorize")
    page = response.get_data(as_text=True)
    if response.status_code == 200 and 'id="consent-form"' in page:
        # The consent page: post its form back with a few fields changed (or none).
        form = {
            "action": "approve",
            "duration": "3600",
            "role_arn": fuzz_broker.role_arn,
            **dict(_HIDDEN.findall(page)),
        }
        form.update(changes)
        _check(client.post("/cli/authorize/resume", data=form), "cli authorize")


@fuzz_settings(50)
@given(form=token_forms, repeated=st.booleans())
def test_token_endpoint(fuzz_broker: FuzzBroker, form: dict[str, str | None], repeated: bool) -> None:
    pairs = list(_present(form).items())
    if repeated and pairs:
        pairs.append(pairs[0])
    _check(fuzz_broker.anonymous().post("/cli/token", data=MultiDict(pairs)), "cli token")


@fuzz_settings(50)
@given(
    start=mutated({"client_id": "broker-cli", "role": ROLE, "duration": "900"}),
    user_code=field("ABCD-EFGH", "abcd efgh", "BCDF-GHJK"),
    decision=field("approve", "deny"),
    signed_in=st.booleans(),
    csrf_ok=st.booleans(),
)
def test_device_flow(
    fuzz_broker: FuzzBroker,
    start: dict[str, str | None],
    user_code: str | None,
    decision: str | None,
    signed_in: bool,
    csrf_ok: bool,
) -> None:
    anonymous = fuzz_broker.anonymous()
    started = anonymous.post("/cli/device", data=_present(start))
    _check(started, "cli device")
    if started.status_code == 200 and user_code == "BCDF-GHJK":  # use the code the broker issued
        user_code = json.loads(started.get_data())["user_code"]
    browser = fuzz_broker.signed_in() if signed_in else anonymous
    query = {"user_code": user_code} if user_code is not None else {}
    _check(browser.get("/cli/device/verify", query_string=query), "cli device")
    form = _present({"user_code": user_code, "action": decision})
    form["csrf_token"] = fuzz_broker.csrf_token if csrf_ok else "wrong"
    _check(browser.post("/cli/device/verify", data=form), "cli device")


@fuzz_settings(30)
@given(token=field("x"), client_id=field("broker-cli"), bearer=st.one_of(st.none(), header_text))
def test_revoke_and_session(
    fuzz_broker: FuzzBroker, token: str | None, client_id: str | None, bearer: str | None
) -> None:
    client = fuzz_broker.anonymous()
    _check(client.post("/cli/revoke", data=_present({"token": token, "client_id": client_id})), "cli revoke/session")
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    _check(client.get("/cli/session", headers=headers), "cli revoke/session")
