"""Fuzz the SAML routes: the ACS with random and garbled SAMLResponse values (base64 of junk,
of a real response with bytes flipped, of a signed response whose attributes hold hostile
values), random RelayState, with and without a browser session; ``/saml/login`` with random
parameters.

Every answer is a page, a redirect to a local path or a refusal page with its reason code, never
a 5xx or a traceback."""

from __future__ import annotations

import base64
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from werkzeug.test import TestResponse

from broker.demo.setup import demo_idp
from tests.fuzz.conftest import FuzzBroker
from tests.fuzz.support import fuzz_settings, hostile_text, no_server_error, page_error_code, tried

AWS_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/"
ATTRIBUTES = [
    AWS_ATTRIBUTE + "SessionDuration",
    AWS_ATTRIBUTE + "RoleSessionName",
    AWS_ATTRIBUTE + "Role",
    AWS_ATTRIBUTE + "SourceIdentity",
    AWS_ATTRIBUTE + "TransitiveTagKeys",
    AWS_ATTRIBUTE + "PrincipalTag:team",
    "groups",
    "uid",
]
# What an IdP can put in an attribute value at all: characters XML 1.0 allows.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
xml_text = hostile_text.filter(lambda value: _NOT_XML.search(value) is None)
relay_states = st.one_of(st.none(), st.sampled_from(["/saml/roles", "/cli/authorize/resume?request=x"]), hostile_text)


def _signed_response(fuzz_broker: FuzzBroker, attributes: dict[str, list[str]]) -> str:
    """A response the demo IdP signs, for alice with ``attributes`` added (hostile values and all)."""
    settings = fuzz_broker.runtime.settings
    identity = {"uid": ["alice"], "groups": ["admins"], **attributes}
    response = demo_idp(fuzz_broker.runtime).server.create_authn_response(
        identity,
        in_response_to=None,
        destination=settings.acs_url,
        sp_entity_id=settings.sp_entity_id,
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text="demo-alice"),
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        sign_assertion=True,
        sign_response=True,
        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )
    return base64.b64encode(str(response).encode()).decode()


def _check_page(response: TestResponse, surface: str) -> None:
    tried(surface)
    no_server_error(response, surface)
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        local = location.startswith("/") and not location.startswith("//")
        assert local or "SAMLRequest=" in location, location
    elif response.status_code >= 400:  # a refusal page with its reason code, or the page of no roles
        page = response.get_data(as_text=True)
        assert page_error_code(response) or 'id="sign-out-form"' in page, page[-1500:]


@fuzz_settings(100)
@given(
    garbage=st.one_of(
        st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
        hostile_text,
        st.binary(max_size=40).map(lambda b: base64.b64encode(b"<samlp:Response " + b).decode()),
    ),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    from_real=st.booleans(),
    relay_state=relay_states,
    signed_in=st.booleans(),
)
def test_garbled_responses_at_the_acs(
    fuzz_broker: FuzzBroker,
    garbage: str,
    flips: list[tuple[int, int]],
    from_real: bool,
    relay_state: str | None,
    signed_in: bool,
) -> None:
    if from_real:  # a real signed response with bytes changed: XML, signature, base64 all at stake
        settings = fuzz_broker.runtime.settings
        real = bytearray(
            base64.b64decode(
                demo_idp(fuzz_broker.runtime).response_for("bob", None, settings.acs_url, settings.sp_entity_id)
            )
        )
        for at, byte in flips:
            real[at % len(real)] = byte
        garbage = base64.b64encode(bytes(real)).decode()
    form: dict[str, Any] = {"SAMLResponse": garbage}
    if relay_state is not None:
        form["RelayState"] = relay_state
    client = fuzz_broker.signed_in() if signed_in else fuzz_broker.anonymous()
    _check_page(client.post("/saml/acs", data=form, follow_redirects=True), "saml acs")


@fuzz_settings(30)
@given(
    attributes=st.dictionaries(st.sampled_from(ATTRIBUTES), st.lists(xml_text, min_size=1, max_size=3), max_size=3),
    relay_state=relay_states,
)
def test_signed_responses_with_hostile_attributes(
    fuzz_broker: FuzzBroker, attributes: dict[str, list[str]], relay_state: str | None
) -> None:
    form = {"SAMLResponse": _signed_response(fuzz_broker, attributes)}
    if relay_state is not None:
        form["RelayState"] = relay_state
    _check_page(fuzz_broker.anonymous().post("/saml/acs", data=form, follow_redirects=True), "saml acs (signed)")


@fuzz_settings(50)
@given(
    provider=st.one_of(st.sampled_from(["demo", "", "DEMO"]), hostile_text),
    next_path=st.one_of(st.none(), hostile_text),
    signed_in=st.booleans(),
)
def test_login_parameters(fuzz_broker: FuzzBroker, provider: str, next_path: str | None, signed_in: bool) -> None:
    query = {"provider": provider} if next_path is None else {"provider": provider, "next": next_path}
    client = fuzz_broker.signed_in() if signed_in else fuzz_broker.anonymous()
    response = client.get("/saml/login", query_string=query)
    tried("saml login")
    no_server_error(response, "saml login")
    if response.status_code >= 400:
        assert page_error_code(response) or response.status_code == 404
