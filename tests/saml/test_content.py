"""Reading the authenticated assertion from the verified tree (broker/saml/content.py).

The ACS once handed the verified assertion to pysaml2 to parse again into its object model; it
now reads the verified lxml tree itself. These tests pin that the reading is the same (pysaml2
serves as the oracle), that it never leaves the signed element's direct children, that nothing
on the path builds pysaml2 objects, and that what the schema allows once is refused when it
comes twice rather than silently picking one.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree
from saml2 import saml as saml2_saml

from broker.saml.content import own_text, text_of
from tests.saml.conftest import NOW, Acs
from tests.support.saml_factory import (
    AC_PASSWORD_PROTECTED,
    OID_EDUPERSON_TARGETED_ID,
    SAML,
    XSI,
    Attr,
    Encryption,
    NameIdValue,
    build_response,
    encode,
    insert_comment,
    one,
    response_b64,
)

Mutation = Callable[[etree._Element], None]


def _q(local: str) -> str:
    return f"{{{SAML}}}{local}"


def _assertion(root: etree._Element) -> etree._Element:
    return one(root, "saml:Assertion")


def _sub(parent: etree._Element, local: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, _q(local), **attributes)
    element.text = text
    return element


def _foreign(parent: etree._Element, text: str | None = None, tail: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, "{urn:example:foreign}Wrapper")
    element.text, element.tail = text, tail
    return element


def _statement(root: etree._Element) -> etree._Element:
    return one(root, "saml:Assertion/saml:AttributeStatement")


def _attribute(root: etree._Element, name: str, friendly_name: str | None = None) -> etree._Element:
    attribute = _sub(_statement(root), "Attribute", Name=name)
    if friendly_name is not None:
        attribute.set("FriendlyName", friendly_name)
    return attribute


def _value_with_element_then_text(root: etree._Element) -> None:
    value = _sub(_attribute(root, "urn:example:mixed"), "AttributeValue", "  ")
    _foreign(value, "inner", tail="after")


def _value_with_text_and_element(root: etree._Element) -> None:
    value = _sub(_attribute(root, "urn:example:mixed"), "AttributeValue", " outer ")
    _foreign(value, "inner")


def _value_with_comment(root: etree._Element) -> None:
    value = _sub(_attribute(root, "urn:example:commented"), "AttributeValue", "ab")
    comment = etree.Comment("signed comment")
    comment.tail = "cd"
    value.append(comment)


def _nil_value(root: etree._Element) -> None:
    _sub(_attribute(root, "urn:example:nil"), "AttributeValue").set(f"{{{XSI}}}nil", "true")


def _typed_values(root: etree._Element) -> None:
    attribute = _attribute(root, "urn:example:typed")
    for xsi_type, text in (("xs:integer", "x"), ("xs:boolean", "1"), ("xs:date", "soon"), ("other:type", "z")):
        _sub(attribute, "AttributeValue", text).set(f"{{{XSI}}}type", xsi_type)


def _same_name_twice_with_friendly_names(root: etree._Element) -> None:
    _sub(_attribute(root, "urn:example:twice", "first"), "AttributeValue", "a")
    _sub(_attribute(root, "urn:example:twice", "second"), "AttributeValue", "b")
    _sub(_attribute(root, "urn:example:unnamed-friend", ""), "AttributeValue", "c")


def _second_attribute_statement(root: etree._Element) -> None:
    statement = _sub(_assertion(root), "AttributeStatement")
    _sub(_sub(statement, "Attribute", Name="groups"), "AttributeValue", "auditors")


def _second_authn_statement(root: etree._Element) -> None:
    first = one(root, "saml:Assertion/saml:AuthnStatement")
    second = copy.deepcopy(first)
    second.set("SessionNotOnOrAfter", "2025-03-14T12:00:00Z")
    one(second, "saml:AuthnContext/saml:AuthnContextClassRef").text = "urn:example:mfa"
    first.addnext(second)


def _name_id_with_element_child(root: etree._Element) -> None:
    _foreign(one(root, "//saml:Subject/saml:NameID"), "inner", tail="tail")


def _no_authn_context(root: etree._Element) -> None:
    statement = one(root, "saml:Assertion/saml:AuthnStatement")
    statement.remove(one(statement, "saml:AuthnContext"))


# Each leaves a document both readers accept; they must read the same values.
SAME_READING = [
    pytest.param(None, id="plain"),
    pytest.param(_value_with_element_then_text, id="value-element-then-text"),
    pytest.param(_value_with_text_and_element, id="value-text-and-element"),
    pytest.param(_value_with_comment, id="value-with-comment"),
    pytest.param(_nil_value, id="nil-value"),
    pytest.param(_typed_values, id="typed-values-read-as-text"),
    pytest.param(_same_name_twice_with_friendly_names, id="same-name-twice"),
    pytest.param(_second_attribute_statement, id="two-attribute-statements"),
    pytest.param(_second_authn_statement, id="two-authn-statements"),
    pytest.param(_name_id_with_element_child, id="name-id-with-element-child"),
    pytest.param(_no_authn_context, id="no-authn-context"),
]


def _pysaml2_reading(root: etree._Element) -> dict[str, Any]:
    """What the ACS used to read: pysaml2's object model of the assertion, xsi:type dropped."""
    assertion = copy.deepcopy(_assertion(root))
    for value in assertion.iter(_q("AttributeValue")):
        value.attrib.pop(f"{{{XSI}}}type", None)
    model = saml2_saml.assertion_from_string(etree.tostring(assertion))
    attributes: dict[str, list[str]] = {}
    friendly: dict[str, str] = {}
    for statement in model.attribute_statement:
        for attribute in statement.attribute:
            values = attributes.setdefault(attribute.name, [])
            for value in attribute.attribute_value:
                text = value.text
                if not (text or "").strip() and value.extension_elements:
                    text = value.extension_elements[0].text
                values.append((text or "").strip())
            if attribute.friendly_name:
                friendly[attribute.name] = attribute.friendly_name
    class_refs = [
        (s.authn_context.authn_context_class_ref.text or "").strip()
        for s in model.authn_statement
        if s.authn_context is not None and s.authn_context.authn_context_class_ref is not None
    ]
    return {
        "issuer": (model.issuer.text or "").strip(),
        "subject": (model.subject.name_id.text or "").strip(),
        "name_id_format": model.subject.name_id.format,
        "attributes": attributes,
        "friendly_names": friendly,
        "authn_context_class_refs": tuple(class_refs),
    }


@pytest.mark.parametrize("mutate", SAME_READING)
@pytest.mark.parametrize("mode", ["assertion-signed", "response-signed", "encrypted"])
def test_reads_what_the_pysaml2_object_model_read(acs: Acs, mutate: Mutation | None, mode: str) -> None:
    signer = acs.idp.signer()
    options = acs.options(
        before_signing=mutate,
        sign_assertion=None if mode == "response-signed" else signer,
        sign_response=signer if mode == "response-signed" else None,
    )
    expected = _pysaml2_reading(build_response(options))
    if mode == "encrypted":
        options = acs.options(before_signing=mutate, encrypt=Encryption(acs.sp.cert_pem))
    assertion = acs.accept(response_b64(options))
    assert {key: getattr(assertion, key) for key in expected} == expected


def test_the_values_read_in_the_tricky_cases(acs: Acs) -> None:
    def mutate(root: etree._Element) -> None:
        for change in (_value_with_element_then_text, _value_with_comment, _typed_values, _second_authn_statement):
            change(root)

    assertion = acs.accept(response_b64(acs.options(before_signing=mutate)))
    assert assertion.attributes["urn:example:mixed"] == ["inner"]
    assert assertion.attributes["urn:example:commented"] == ["abcd"]
    assert assertion.attributes["urn:example:typed"] == ["x", "1", "soon", "z"]
    assert assertion.authn_context_class_refs == (AC_PASSWORD_PROTECTED, "urn:example:mfa")
    assert assertion.session_not_on_or_after == dt.datetime(2025, 3, 14, 12, tzinfo=dt.UTC)


def test_validation_builds_no_pysaml2_objects(acs: Acs, monkeypatch: pytest.MonkeyPatch) -> None:
    import saml2

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ACS hot path parsed the message into pysaml2 objects")

    monkeypatch.setattr(saml2, "create_class_from_xml_string", refuse)
    monkeypatch.setattr(saml2, "create_class_from_element_tree", refuse)
    monkeypatch.setattr(saml2_saml, "assertion_from_string", refuse)
    targeted = NameIdValue("c4f1e8d2a9b7", name_qualifier="https://idp.example")
    attributes = (Attr(OID_EDUPERSON_TARGETED_ID, (targeted,)),)
    for changes in (
        {"attributes": attributes},
        {"sign_assertion": None, "sign_response": acs.idp.signer()},
        {"encrypt": Encryption(acs.sp.cert_pem)},
    ):
        assertion = acs.accept(response_b64(acs.options(**changes)))
        assert assertion.subject == "alice@corp.example"


# ---------------------------------------------------------------------------------------------
# Only the signed element's own children are read


def _attribute_in_foreign_wrapper(root: etree._Element) -> None:
    _sub(_sub(_foreign(_statement(root)), "Attribute", Name="urn:example:hidden"), "AttributeValue", "x")


def _attribute_value_in_foreign_wrapper(root: etree._Element) -> None:
    _sub(_foreign(_attribute(root, "urn:example:hidden")), "AttributeValue", "x")


def _attribute_statement_in_advice(root: etree._Element) -> None:
    advice = etree.Element(_q("Advice"))
    one(root, "saml:Assertion/saml:Conditions").addnext(advice)
    _sub(_sub(_sub(advice, "AttributeStatement"), "Attribute", Name="urn:example:hidden"), "AttributeValue", "x")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_attribute_in_foreign_wrapper, id="attribute-in-foreign-element"),
        pytest.param(_attribute_statement_in_advice, id="attribute-statement-in-advice"),
    ],
)
def test_attributes_nested_elsewhere_are_not_read(acs: Acs, mutate: Mutation) -> None:
    assertion = acs.accept(response_b64(acs.options(before_signing=mutate)))
    assert "urn:example:hidden" not in assertion.attributes


def test_attribute_values_nested_elsewhere_are_not_read(acs: Acs) -> None:
    assertion = acs.accept(response_b64(acs.options(before_signing=_attribute_value_in_foreign_wrapper)))
    assert assertion.attributes["urn:example:hidden"] == []


def _name_id_moved_into_confirmation(root: etree._Element) -> None:
    name_id = one(root, "//saml:Subject/saml:NameID")
    one(root, "//saml:Subject/saml:SubjectConfirmation").insert(0, name_id)


def _encrypted_id_instead_of_name_id(root: etree._Element) -> None:
    subject = one(root, "//saml:Subject")
    subject.replace(one(subject, "saml:NameID"), etree.Element(_q("EncryptedID")))


def _authn_statement_in_foreign_wrapper(root: etree._Element) -> None:
    statement = one(root, "saml:Assertion/saml:AuthnStatement")
    _foreign(_assertion(root)).append(statement)


def _unreadable_session_end(root: etree._Element) -> None:
    one(root, "saml:Assertion/saml:AuthnStatement").set("SessionNotOnOrAfter", "at the end of the day")


def _unreadable_authn_instant(root: etree._Element) -> None:
    one(root, "saml:Assertion/saml:AuthnStatement").set("AuthnInstant", "2025-02-30T00:00:00Z")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        # The same codes the pysaml2 reading gave.
        pytest.param(_name_id_moved_into_confirmation, "MissingSubject", id="name-id-only-in-confirmation"),
        pytest.param(_encrypted_id_instead_of_name_id, "MissingSubject", id="encrypted-id"),
        pytest.param(_authn_statement_in_foreign_wrapper, "MalformedMessage", id="authn-statement-nested"),
        pytest.param(_unreadable_session_end, "MalformedMessage", id="session-not-on-or-after-unreadable"),
        pytest.param(_unreadable_authn_instant, "MalformedMessage", id="authn-instant-impossible"),
    ],
)
@pytest.mark.parametrize("mode", ["assertion-signed", "encrypted-response-signed"])
def test_moved_checks_refuse_with_the_same_code(acs: Acs, mutate: Mutation, code: str, mode: str) -> None:
    changes: dict[str, object] = {}
    if mode == "encrypted-response-signed":
        changes = {"sign_assertion": None, "sign_response": acs.idp.signer(), "encrypt": Encryption(acs.sp.cert_pem)}
    acs.refuse(response_b64(acs.options(before_signing=mutate, **changes)), code)


# ---------------------------------------------------------------------------------------------
# Once in the schema, once in the message


def _second_name_id(root: etree._Element) -> None:
    subject = one(root, "//saml:Subject")
    extra = etree.Element(_q("NameID"), Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    extra.text = "admin"
    subject.insert(1, extra)


def _second_class_ref(root: etree._Element) -> None:
    _sub(one(root, "//saml:AuthnStatement/saml:AuthnContext"), "AuthnContextClassRef", "urn:example:mfa")


def _second_authn_context(root: etree._Element) -> None:
    context = _sub(one(root, "//saml:AuthnStatement"), "AuthnContext")
    _sub(context, "AuthnContextClassRef", "urn:example:mfa")


def _attribute_without_name(root: etree._Element) -> None:
    _sub(_sub(_statement(root), "Attribute"), "AttributeValue", "x")


@pytest.mark.parametrize(
    "mutate",
    [
        # pysaml2 kept the last NameID (another person) or class reference without a word, and
        # read an Attribute without Name under the key None.
        pytest.param(_second_name_id, id="two-name-ids"),
        pytest.param(_second_class_ref, id="two-authn-context-class-refs"),
        pytest.param(_second_authn_context, id="two-authn-contexts"),
        pytest.param(_attribute_without_name, id="attribute-without-name"),
    ],
)
def test_ambiguous_content_is_malformed(acs: Acs, mutate: Mutation) -> None:
    acs.refuse(response_b64(acs.options(before_signing=mutate)), "MalformedMessage")


# ---------------------------------------------------------------------------------------------
# Comments inserted after signing never cut a value short


def test_comment_inserted_into_authn_context_class_ref_after_signing(acs: Acs) -> None:
    root = build_response(acs.options(authn_context_class_ref="urn:example:weak-password.mfa"))
    insert_comment(one(root, "//saml:AuthnContextClassRef"), len("urn:example:weak-password"))
    assert acs.accept(encode(root)).authn_context_class_refs == ("urn:example:weak-password.mfa",)


def test_comment_inserted_into_the_assertion_issuer_after_signing(acs: Acs) -> None:
    root = build_response(acs.options())
    insert_comment(one(root, "saml:Assertion/saml:Issuer"), 8)
    assert acs.accept(encode(root), now=NOW).issuer == "https://idp.corp.example/saml2/idp/metadata"


def test_text_helpers() -> None:
    element = etree.fromstring(b"<a> x<!--c-->y<b>z<!--d-->w</b>tail<!--e-->more</a>")
    assert own_text(element) == " xy"
    assert text_of(element) == "xyzwtailmore"
    assert text_of(etree.fromstring(b"<a> <!--c--> </a>")) is None
    assert text_of(None) is None
