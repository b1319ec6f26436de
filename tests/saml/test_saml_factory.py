"""The response factory builds what an IdP sends: schema-valid SAML, in schema order."""

from __future__ import annotations

import base64

import pytest
from lxml import etree
from saml2.xml.schema import validate

from tests.saml.conftest import NOW, Acs
from tests.support.saml_factory import (
    OID_EDUPERSON_TARGETED_ID,
    STATUS_AUTHN_FAILED,
    STATUS_RESPONDER,
    Attr,
    Confirmation,
    Encryption,
    NameIdValue,
    ResponseOptions,
    all_of,
    build_response,
    decode,
    encode,
    insert_comment,
    one,
    replace_text,
    serialized_replace,
    set_key_info_certificate,
)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="assertion-signed"),
        pytest.param({"sign_assertion": None}, id="unsigned"),
        pytest.param({"sign_response": "idp"}, id="both-signed"),
        pytest.param({"encrypt": "sp", "sign_response": "idp"}, id="encrypted"),
        pytest.param({"attributes": (Attr(OID_EDUPERSON_TARGETED_ID, (NameIdValue("x1"),)),)}, id="targeted-id"),
        pytest.param(
            {
                "status_code": STATUS_RESPONDER,
                "nested_status_code": STATUS_AUTHN_FAILED,
                "status_message": "cancelled",
                "include_assertion": False,
                "sign_assertion": None,
            },
            id="failure-status",
        ),
        pytest.param({"confirmations": (Confirmation(not_before=NOW, address="192.0.2.1"),)}, id="confirmation-data"),
    ],
)
def test_built_responses_are_schema_valid(acs: Acs, changes: dict[str, object]) -> None:
    if changes.get("sign_response") == "idp":
        changes["sign_response"] = acs.idp.signer()
    if changes.get("encrypt") == "sp":
        changes["encrypt"] = Encryption(acs.sp.cert_pem)
    validate(etree.tostring(build_response(acs.options(**changes))).decode())


def test_element_order_and_signature_placement(acs: Acs) -> None:
    root = build_response(acs.options(sign_response=acs.idp.signer()))
    assert [etree.QName(child).localname for child in root] == ["Issuer", "Signature", "Status", "Assertion"]
    assertion = one(root, "saml:Assertion")
    assert [etree.QName(child).localname for child in assertion] == [
        "Issuer",
        "Signature",
        "Subject",
        "Conditions",
        "AuthnStatement",
        "AttributeStatement",
    ]


def test_omitted_fields_are_absent(acs: Acs) -> None:
    root = build_response(
        acs.options(
            destination=None,
            in_response_to=None,
            issuer=None,
            sign_assertion=None,
            conditions=False,
            attributes=(),
            session_not_on_or_after=None,
        )
    )
    assert root.get("Destination") is None
    assert root.get("InResponseTo") is None
    assert all_of(root, "saml:Issuer") == []
    assert all_of(root, "//saml:Conditions") == []
    assert all_of(root, "//saml:AttributeStatement") == []
    assert all_of(root, "//saml:SubjectConfirmationData[@InResponseTo]") == []
    assert one(root, "//saml:AuthnStatement").get("SessionNotOnOrAfter") is None


def test_inline_comments_become_comment_nodes() -> None:
    root = build_response(ResponseOptions(now=NOW, name_id="a<!---->b<!-- c -->d"))
    name_id = one(root, "//saml:NameID")
    assert (name_id.text, [c.text for c in name_id], [c.tail for c in name_id]) == ("a", ["", " c "], ["b", "d"])
    assert "".join(name_id.itertext()) == "abd"


def test_mutation_helpers(acs: Acs) -> None:
    message = encode(build_response(acs.options()))
    root = decode(message)
    name_id = one(root, "//saml:NameID")
    insert_comment(name_id, 5, "x")
    assert name_id.text == "alice" and name_id[0].tail == "@corp.example"
    replace_text(name_id, "bob")
    assert (name_id.text, len(name_id)) == ("bob", 0)
    set_key_info_certificate(one(root, "//ds:Signature"), acs.sp.cert_pem)
    der = base64.b64decode(one(root, "//ds:X509Certificate").text or "")
    assert base64.b64encode(der) in acs.sp.cert_pem.replace(b"\n", b"")
    replaced = serialized_replace(message, "alice@corp.example</saml:NameID>", "eve</saml:NameID>")
    assert one(decode(replaced), "//saml:NameID").text == "eve"
    with pytest.raises(AssertionError):
        serialized_replace(message, "not in the document", "")
