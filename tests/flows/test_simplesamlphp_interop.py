"""Interoperability with a real SimpleSAMLphp IdP (Debian package) against a live broker."""

from __future__ import annotations

import http.cookiejar
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.saml.xmlsafe import parse_xml, q
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import post_to_acs, provider_arn, register, users
from tests.support.simplesamlphp import NAMEID_TRANSIENT, SimpleSamlPhpIdp

pytestmark = pytest.mark.simplesamlphp


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


def start_idp(
    broker: LiveBroker, provider_options: dict[str, object] | None = None, **options: object
) -> SimpleSamlPhpIdp:
    idp = SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users(), **options)  # type: ignore[arg-type]
    idp.start()
    register(broker.runtime, idp.metadata_xml(), options=provider_options)
    return idp


def sp_initiated(broker: LiveBroker, idp: SimpleSamlPhpIdp, user: str) -> tuple[object, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    form = idp.login_http(user, start_url=f"{broker.url}/saml/login?provider=ssp", cookie_jar=jar)
    return form, jar


@pytest.mark.parametrize(("sign_assertion", "sign_response"), [(True, False), (False, True), (True, True)])
def test_sp_initiated_sign_in_with_each_signing_mode(
    broker: LiveBroker, sign_assertion: bool, sign_response: bool
) -> None:
    idp = start_idp(broker, sign_assertion=sign_assertion, sign_response=sign_response)
    try:
        form, jar = sp_initiated(broker, idp, "bob")
        document = parse_xml(form.response_xml())  # type: ignore[attr-defined]
        assert document.get("InResponseTo")  # answers the broker's AuthnRequest
        page = post_to_acs(form, jar)  # type: ignore[arg-type]
    finally:
        idp.stop()
    # bob's groups map to exactly one role: straight to credentials
    assert page.status == 200, page.body
    assert page.element("access-key-id").startswith("ASIA")
    assert page.element("assumed-role-arn") == "arn:aws:sts::123456789012:assumed-role/Engineer/bob"


def test_idp_initiated_sign_in_is_accepted_by_default(broker: LiveBroker) -> None:
    idp = start_idp(broker)
    try:
        form = idp.login_http("bob", start_url=idp.idp_initiated_url(broker.runtime.settings.sp_entity_id))
        assert parse_xml(form.response_xml()).get("InResponseTo") is None
        page = post_to_acs(form)
    finally:
        idp.stop()
    assert page.status == 200, page.body
    assert page.element("assumed-role-arn").endswith("assumed-role/Engineer/bob")


def test_idp_initiated_sign_in_refused_when_the_provider_says_so(broker: LiveBroker) -> None:
    idp = start_idp(broker, provider_options={"refuse_unsolicited": True})
    try:
        page = post_to_acs(idp.login_http("bob"))
    finally:
        idp.stop()
    assert page.status == 403
    assert page.element("error-code") == "UnsolicitedRefused"


def test_aws_role_attribute_limits_the_roles_offered(broker: LiveBroker) -> None:
    idp = start_idp(broker)
    try:
        form, jar = sp_initiated(broker, idp, "alice")
        page = post_to_acs(form, jar)  # type: ignore[arg-type]
    finally:
        idp.stop()
    assert page.status == 200, page.body
    assert page.element("assumed-role-arn") == "arn:aws:sts::123456789012:assumed-role/Admin/alice"


def test_listed_role_whose_trust_policy_refuses_shows_the_no_role_page(broker: LiveBroker) -> None:
    idp = start_idp(broker)
    try:
        form, jar = sp_initiated(broker, idp, "carol")
        page = post_to_acs(form, jar)  # type: ignore[arg-type]
    finally:
        idp.stop()
    assert page.status == 403
    assert "No role is available to you" in page.body
    assert provider_arn() in page.body


def test_encrypted_assertion_sp_initiated(broker: LiveBroker) -> None:
    # SimpleSAMLphp 1.19 wraps its session key with RSA-OAEP and always encrypts data with
    # AES-128-CBC (GCM only with a shared key), so this provider opts in to CBC.
    idp = start_idp(broker, encrypt_assertion=True, sign_response=False, provider_options={"allow_cbc": True})
    try:
        form, jar = sp_initiated(broker, idp, "bob")
        document = parse_xml(form.response_xml())  # type: ignore[attr-defined]
        assert document.find(q("saml", "EncryptedAssertion")) is not None
        assert document.find(q("saml", "Assertion")) is None
        page = post_to_acs(form, jar)  # type: ignore[arg-type]
    finally:
        idp.stop()
    assert page.status == 200, page.body
    assert page.element("assumed-role-arn").endswith("assumed-role/Engineer/bob")


def test_encrypted_assertion_aes_cbc_needs_the_provider_opt_in(broker: LiveBroker) -> None:
    idp = start_idp(broker, encrypt_assertion=True)  # SimpleSAMLphp 1.19's default is AES-128-CBC
    try:
        refused = post_to_acs(idp.login_http("bob"))
    finally:
        idp.stop()
    assert refused.status == 403
    assert refused.element("error-code") == "DisallowedAlgorithm"


def test_encrypted_assertion_aes_cbc_with_opt_in(broker: LiveBroker) -> None:
    idp = start_idp(broker, encrypt_assertion=True, provider_options={"allow_cbc": True})
    try:
        page = post_to_acs(idp.login_http("bob"))
    finally:
        idp.stop()
    assert page.status == 200, page.body


def test_transient_name_id_and_session_name_fallback(broker: LiveBroker) -> None:
    idp = start_idp(broker, nameid_format=NAMEID_TRANSIENT)
    try:
        page = post_to_acs(idp.login_http("bob"))
    finally:
        idp.stop()
    assert page.status == 200, page.body
    # no RoleSessionName attribute: the (random) transient NameID becomes the session name
    assert page.element("assumed-role-arn").startswith("arn:aws:sts::123456789012:assumed-role/Engineer/")
