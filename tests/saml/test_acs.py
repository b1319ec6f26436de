"""validate_response: what a good Response yields, and one exact error code per refusal rule.

Signature, wrapping, encryption and comment-injection rules live in test_acs_signatures.py.
Every time is relative to NOW and handed to validate_response as ``now``: no test sleeps.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib

import pytest
from lxml import etree

from broker.saml.acs import ProviderTrust
from broker.saml.assertion import Assertion
from broker.saml.errors import SamlError
from tests.saml.conftest import NOW, Acs
from tests.support.saml_factory import (
    AC_PASSWORD_PROTECTED,
    ACS_URL,
    ASSERTION_ID,
    ATTRNAME_BASIC,
    AWS_ROLE,
    AWS_SESSION_NAME,
    HOLDER_OF_KEY,
    IDP_ENTITY_ID,
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
    OID_EDUPERSON_AFFILIATION,
    OID_EDUPERSON_TARGETED_ID,
    OID_MAIL,
    REQUEST_ID,
    RESPONSE_ID,
    SAML,
    SP_ENTITY_ID,
    STATUS_AUTHN_FAILED,
    STATUS_RESPONDER,
    Attr,
    Confirmation,
    Encryption,
    NameIdValue,
    build_response,
    clone,
    encode,
    encode_bytes,
    one,
    response_b64,
)

OTHER_IDP = "https://login.other-idp.example/metadata"
ROLE_ADMIN = "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/Corp"
ROLE_READONLY = "arn:aws:iam::123456789012:role/ReadOnly,arn:aws:iam::123456789012:saml-provider/Corp"


def signed(acs: Acs, **changes: object) -> str:
    return response_b64(acs.options(**changes))


def other_provider(acs: Acs) -> ProviderTrust:
    return ProviderTrust(
        arn="arn:aws:iam::123456789012:saml-provider/Other",
        name="Other",
        entity_id=OTHER_IDP,
        signing_certs=acs.provider.signing_certs,
    )


# ---------------------------------------------------------------------------------------------
# Accepted responses and what they yield


def test_assertion_signed_response_yields_every_field(acs: Acs) -> None:
    message = signed(acs)
    assertion, provider = acs.validate(message)

    assert provider == acs.provider
    assert assertion == Assertion(
        issuer=IDP_ENTITY_ID,
        assertion_id=ASSERTION_ID,
        response_id=RESPONSE_ID,
        in_response_to=REQUEST_ID,
        subject="alice@corp.example",
        name_id_format=NAMEID_EMAIL,
        recipient=ACS_URL,
        audiences=(SP_ENTITY_ID,),
        not_on_or_after=NOW + dt.timedelta(minutes=5),
        issue_instant=NOW,
        attributes={
            AWS_ROLE: [ROLE_ADMIN, ROLE_READONLY],
            AWS_SESSION_NAME: ["alice@corp.example"],
            OID_MAIL: ["alice@corp.example"],
            OID_EDUPERSON_AFFILIATION: ["member", "staff", "employee"],
            "groups": ["engineering", "on-call"],
        },
        friendly_names={OID_MAIL: "mail", OID_EDUPERSON_AFFILIATION: "eduPersonAffiliation"},
        authn_context_class_refs=(AC_PASSWORD_PROTECTED,),
        authn_instant=NOW - dt.timedelta(minutes=1),
        session_not_on_or_after=NOW + dt.timedelta(hours=8),
        response_signed=False,
        assertion_signed=True,
        encrypted=False,
        digest=hashlib.sha256(base64.b64decode(message)).hexdigest(),
    )


@pytest.mark.parametrize(
    ("sign_response", "sign_assertion", "encrypt"),
    [
        pytest.param(True, False, False, id="response-signed"),
        pytest.param(False, True, False, id="assertion-signed"),
        pytest.param(True, True, False, id="both-signed"),
        pytest.param(False, True, True, id="encrypted-assertion-signed"),
        pytest.param(True, False, True, id="encrypted-response-signed"),
        pytest.param(True, True, True, id="encrypted-both-signed"),
    ],
)
def test_accepted_signing_and_encryption_modes(
    acs: Acs, sign_response: bool, sign_assertion: bool, encrypt: bool
) -> None:
    message = signed(
        acs,
        sign_response=acs.idp.signer() if sign_response else None,
        sign_assertion=acs.idp.signer() if sign_assertion else None,
        encrypt=Encryption(acs.sp.cert_pem) if encrypt else None,
    )
    assertion = acs.accept(message)
    assert (assertion.response_signed, assertion.assertion_signed, assertion.encrypted) == (
        sign_response,
        sign_assertion,
        encrypt,
    )
    assert assertion.subject == "alice@corp.example"
    assert assertion.attributes[AWS_ROLE] == [ROLE_ADMIN, ROLE_READONLY]
    assert assertion.assertion_id == ASSERTION_ID
    assert assertion.in_response_to == REQUEST_ID


@pytest.mark.parametrize(
    ("name_id_format", "subject_type", "aws_subject_type"),
    [
        (NAMEID_PERSISTENT, "persistent", "persistent"),
        (NAMEID_TRANSIENT, "transient", "transient"),
        (NAMEID_EMAIL, NAMEID_EMAIL, NAMEID_EMAIL),
        (
            "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos",
            "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos",
            "kerberos",
        ),
        (NAMEID_UNSPECIFIED, NAMEID_UNSPECIFIED, NAMEID_UNSPECIFIED),
        (None, NAMEID_UNSPECIFIED, ""),
    ],
)
def test_subject_type_follows_name_id_format(
    acs: Acs, name_id_format: str | None, subject_type: str, aws_subject_type: str
) -> None:
    assertion = acs.accept(signed(acs, name_id="5f3c9a8e-0b7d-4e2a", name_id_format=name_id_format))
    assert assertion.subject == "5f3c9a8e-0b7d-4e2a"
    assert assertion.name_id_format == name_id_format
    assert assertion.subject_type == subject_type
    assert assertion.aws_subject_type == aws_subject_type


def test_attributes_keep_order_multiple_values_and_friendly_names(acs: Acs) -> None:
    attributes = (
        Attr("https://aws.amazon.com/SAML/Attributes/PrincipalTag:Project", ("blue",), friendly_name="Project"),
        Attr("memberOf", ("cn=b,ou=groups", "cn=a,ou=groups", "cn=b,ou=groups"), name_format=ATTRNAME_BASIC),
        Attr("empty", ("",), name_format=None, xsi_type=None),
        Attr(OID_MAIL, ("alice@corp.example",), friendly_name="mail"),
        # The same attribute in two Attribute elements: values are merged, in document order.
        Attr(OID_MAIL, ("alice.smith@corp.example",), friendly_name="mail"),
    )
    assertion = acs.accept(signed(acs, attributes=attributes))
    assert assertion.attributes == {
        "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Project": ["blue"],
        "memberOf": ["cn=b,ou=groups", "cn=a,ou=groups", "cn=b,ou=groups"],
        "empty": [""],
        OID_MAIL: ["alice@corp.example", "alice.smith@corp.example"],
    }
    assert assertion.friendly_names == {
        "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Project": "Project",
        OID_MAIL: "mail",
    }


def test_no_attribute_statement_yields_no_attributes(acs: Acs) -> None:
    assertion = acs.accept(signed(acs, attributes=()))
    assert assertion.attributes == {}
    assert assertion.friendly_names == {}


def test_authn_statement_without_optional_parts(acs: Acs) -> None:
    assertion = acs.accept(signed(acs, session_not_on_or_after=None, authn_context_class_ref=None, session_index=None))
    assert assertion.session_not_on_or_after is None
    assert assertion.authn_context_class_refs == ()
    assert assertion.authn_instant == NOW - dt.timedelta(minutes=1)


def test_edu_person_targeted_id_name_id_inside_attribute_value(acs: Acs) -> None:
    targeted = NameIdValue(
        "c4f1e8d2a9b7", format=NAMEID_PERSISTENT, name_qualifier=IDP_ENTITY_ID, sp_name_qualifier=SP_ENTITY_ID
    )
    attributes = (Attr(OID_EDUPERSON_TARGETED_ID, (targeted,), friendly_name="eduPersonTargetedID"),)
    assertion = acs.accept(signed(acs, attributes=attributes))
    assert assertion.attributes[OID_EDUPERSON_TARGETED_ID] == ["c4f1e8d2a9b7"]
    assert assertion.friendly_names[OID_EDUPERSON_TARGETED_ID] == "eduPersonTargetedID"


@pytest.mark.parametrize("value", ["1", "0"])
def test_xs_boolean_attribute_value_in_lexical_form_1_or_0(acs: Acs, value: str) -> None:
    attributes = (Attr("urn:example:mfa", (value,), xsi_type="xs:boolean"),)
    assertion = acs.accept(signed(acs, attributes=attributes))
    assert assertion.attributes["urn:example:mfa"] == [value]


@pytest.mark.parametrize(("xsi_type", "value"), [("xs:integer", "forty-two"), ("xs:boolean", "yes")])
def test_mistyped_attribute_value_never_escapes_as_another_exception(acs: Acs, xsi_type: str, value: str) -> None:
    message = signed(acs, attributes=(Attr("urn:example:typed", (value,), xsi_type=xsi_type),))
    outcome: Assertion | SamlError
    try:
        outcome = acs.validate(message)[0]
    except SamlError as exc:
        outcome = exc
    if isinstance(outcome, SamlError):
        assert outcome.code == "MalformedMessage"
    else:
        assert outcome.attributes["urn:example:typed"] == [value]


def test_idp_initiated_response_without_in_response_to(acs: Acs) -> None:
    assertion = acs.accept(signed(acs, in_response_to=None))
    assert assertion.in_response_to is None


def test_response_without_issuer_uses_the_assertion_issuer(acs: Acs) -> None:
    assertion, provider = acs.validate(signed(acs, issuer=None))
    assert assertion.issuer == IDP_ENTITY_ID
    assert provider == acs.provider


def test_holder_of_key_confirmation_besides_the_bearer_one_is_ignored(acs: Acs) -> None:
    confirmations = (Confirmation(method=HOLDER_OF_KEY, recipient=None, in_response_to=None), Confirmation())
    assert acs.accept(signed(acs, confirmations=confirmations)).recipient == ACS_URL


def test_not_on_or_after_is_the_earlier_of_conditions_and_confirmation(acs: Acs) -> None:
    assertion = acs.accept(signed(acs, not_on_or_after=dt.timedelta(minutes=2)))
    assert assertion.not_on_or_after == NOW + dt.timedelta(minutes=2)
    assertion = acs.accept(signed(acs, not_on_or_after=None, not_before=None))
    assert assertion.not_on_or_after == NOW + dt.timedelta(minutes=5)


def test_issue_instant_is_the_earlier_of_response_and_assertion(acs: Acs) -> None:
    assertion = acs.accept(signed(acs, assertion_issue_instant=dt.timedelta(seconds=-3)))
    assert assertion.issue_instant == NOW - dt.timedelta(seconds=3)


def test_now_defaults_to_the_current_time(acs: Acs) -> None:
    real_now = dt.datetime.now(dt.UTC)
    message = response_b64(dataclasses.replace(acs.options(), now=real_now))
    assert acs.accept(message, now=None).issue_instant == real_now.replace(microsecond=0)


# ---------------------------------------------------------------------------------------------
# Time formats real IdPs send


def test_adfs_seven_digit_fractions_and_timezone_offsets(acs: Acs) -> None:
    # 09:26:53 UTC written as ADFS does (7 fractional digits, Z) and with offsets either side.
    message = signed(
        acs,
        issue_instant="2025-03-14T09:26:53.1234567Z",
        assertion_issue_instant="2025-03-14T11:26:52.9999999+02:00",
        authn_instant="2025-03-14T04:25:53.5-05:00",
        not_before="2025-03-14T09:21:53.000Z",
        not_on_or_after="2025-03-14T10:00:00.0000000+00:30",  # 09:30:00 UTC
        session_not_on_or_after="2025-03-14T17:26:53.1234567+00:00",
        confirmations=(Confirmation(not_on_or_after="2025-03-14T04:31:53.1234567-05:00"),),  # 09:31:53
    )
    assertion = acs.accept(message)
    assert assertion.issue_instant == dt.datetime(2025, 3, 14, 9, 26, 52, 999999, tzinfo=dt.UTC)
    assert assertion.authn_instant == dt.datetime(2025, 3, 14, 9, 25, 53, 500000, tzinfo=dt.UTC)
    assert assertion.not_on_or_after == dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)
    assert assertion.session_not_on_or_after == dt.datetime(2025, 3, 14, 17, 26, 53, 123456, tzinfo=dt.UTC)


def test_timezone_offset_is_applied_before_the_expiry_check(acs: Acs) -> None:
    # 10:26:53+02:00 is 08:26:53 UTC: an hour in the past although the wall-clock reads later.
    message = signed(acs, not_on_or_after="2025-03-14T10:26:53+02:00")
    assert "08:26:53" in acs.refuse(message, "Expired").detail


def test_time_without_zone_is_utc(acs: Acs) -> None:
    assertion = acs.accept(signed(acs, authn_instant="2025-03-14T09:25:53"))
    assert assertion.authn_instant == NOW - dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    "text", ["yesterday", "2025-03-14 09:26:53Z", "2025-03-14T09:26Z", "1741944413", "2025-03-14T09:26:53+0200", ""]
)
def test_unreadable_time_is_malformed(acs: Acs, text: str) -> None:
    acs.refuse(signed(acs, issue_instant=text), "MalformedMessage")


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-30T09:26:53Z",
        "2025-00-10T09:26:53Z",
        "2025-13-01T00:00:00Z",
        "2025-03-14T09:61:00Z",
        "2025-03-14T25:00:00Z",
        "\u0662\u0660\u0662\u0665-03-14T09:26:53Z",
    ],
)
def test_impossible_time_is_malformed(acs: Acs, text: str) -> None:
    acs.refuse(signed(acs, issue_instant=text), "MalformedMessage")


# ---------------------------------------------------------------------------------------------
# Time windows


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"not_before": dt.timedelta(seconds=61)}, "NotYetValid", id="not-before-beyond-skew"),
        pytest.param({"not_before": dt.timedelta(hours=2)}, "NotYetValid", id="not-before-hours-ahead"),
        pytest.param({"not_on_or_after": dt.timedelta(seconds=-60)}, "Expired", id="not-on-or-after-at-skew"),
        pytest.param({"not_on_or_after": dt.timedelta(minutes=-10)}, "Expired", id="not-on-or-after-passed"),
        pytest.param(
            {"confirmations": (Confirmation(not_on_or_after=dt.timedelta(seconds=-61)),)},
            "Expired",
            id="confirmation-expired",
        ),
        pytest.param({"session_not_on_or_after": dt.timedelta(minutes=-2)}, "Expired", id="session-ended"),
        pytest.param(
            {"issue_instant": dt.timedelta(days=-1, seconds=-1)}, "Expired", id="response-issued-over-a-day-ago"
        ),
        pytest.param(
            {"assertion_issue_instant": dt.timedelta(days=-2)}, "Expired", id="assertion-issued-over-a-day-ago"
        ),
        pytest.param({"issue_instant": dt.timedelta(seconds=61)}, "NotYetValid", id="response-issued-in-future"),
        pytest.param(
            {"assertion_issue_instant": dt.timedelta(minutes=10)}, "NotYetValid", id="assertion-issued-in-future"
        ),
    ],
)
def test_time_window_refusals(acs: Acs, changes: dict[str, object], code: str) -> None:
    acs.refuse(signed(acs, **changes), code)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"not_before": dt.timedelta(seconds=59)}, id="not-before-within-skew"),
        pytest.param({"not_before": dt.timedelta(seconds=60)}, id="not-before-at-skew"),
        pytest.param({"not_on_or_after": dt.timedelta(seconds=-59)}, id="not-on-or-after-within-skew"),
        pytest.param(
            {"confirmations": (Confirmation(not_on_or_after=dt.timedelta(seconds=-30)),)}, id="confirmation-within-skew"
        ),
        pytest.param({"session_not_on_or_after": dt.timedelta(seconds=-30)}, id="session-within-skew"),
        pytest.param(
            {"issue_instant": dt.timedelta(seconds=60), "assertion_issue_instant": dt.timedelta(seconds=60)},
            id="issued-within-skew-ahead",
        ),
        pytest.param(
            {"issue_instant": dt.timedelta(days=-1), "assertion_issue_instant": dt.timedelta(days=-1)},
            id="issued-exactly-a-day-ago",
        ),
    ],
)
def test_time_window_tolerances(acs: Acs, changes: dict[str, object]) -> None:
    acs.accept(signed(acs, **changes))


def test_clock_skew_comes_from_the_policy(acs: Acs) -> None:
    message = signed(acs, not_before=dt.timedelta(minutes=4))
    acs.refuse(message, "NotYetValid")
    acs.accept(message, policy=dataclasses.replace(acs.policy, clock_skew=dt.timedelta(minutes=5)))


def test_the_same_response_expires_as_now_moves_on(acs: Acs) -> None:
    message = signed(acs)
    acs.accept(message, now=NOW + dt.timedelta(minutes=5, seconds=59))
    acs.refuse(message, "Expired", now=NOW + dt.timedelta(minutes=6))
    acs.refuse(message, "NotYetValid", now=NOW - dt.timedelta(minutes=7))


# ---------------------------------------------------------------------------------------------
# Destination, recipient, subject confirmation, audience


@pytest.mark.parametrize(
    "destination",
    [
        None,
        "https://evil.example/saml/acs",
        ACS_URL + "/",
        "http://broker.example/saml/acs",
        "https://BROKER.example/saml/acs",
        "",
    ],
)
def test_destination_absent_or_wrong(acs: Acs, destination: str | None) -> None:
    acs.refuse(signed(acs, destination=destination), "WrongDestination")


@pytest.mark.parametrize("recipient", [None, "https://evil.example/saml/acs", ACS_URL + "?x=1", ""])
def test_recipient_absent_or_wrong(acs: Acs, recipient: str | None) -> None:
    acs.refuse(signed(acs, confirmations=(Confirmation(recipient=recipient),)), "WrongRecipient")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"confirmations": (Confirmation(not_on_or_after=None),)}, id="no-not-on-or-after"),
        pytest.param({"confirmations": (Confirmation(not_before=dt.timedelta(minutes=-1)),)}, id="not-before"),
        pytest.param({"confirmations": (Confirmation(), Confirmation())}, id="two-bearer"),
        pytest.param({"confirmations": (Confirmation(method=HOLDER_OF_KEY),)}, id="no-bearer"),
        pytest.param({"confirmations": (Confirmation(method=None),)}, id="no-method"),
        pytest.param({"confirmations": ()}, id="no-confirmation"),
        pytest.param({"confirmations": (Confirmation(data=False),)}, id="no-confirmation-data"),
        pytest.param(
            {"confirmations": (Confirmation(in_response_to="_req-someone-else"),)}, id="in-response-to-differs"
        ),
        pytest.param(
            {"confirmations": (Confirmation(in_response_to=None),)},
            id="response-answers-a-request-confirmation-does-not",
        ),
        pytest.param(
            {"in_response_to": None, "confirmations": (Confirmation(in_response_to=REQUEST_ID),)},
            id="confirmation-answers-a-request-response-does-not",
        ),
    ],
)
def test_subject_confirmation_refusals(acs: Acs, changes: dict[str, object]) -> None:
    acs.refuse(signed(acs, **changes), "SubjectConfirmation")


def test_response_in_response_to_is_bound_to_the_signed_confirmation(acs: Acs) -> None:
    # Assertion-signed only: an attacker can rewrite the Response's InResponseTo, not the signed one.
    root = build_response(acs.options())
    root.set("InResponseTo", "_req-attacker-started")
    acs.refuse(encode(root), "SubjectConfirmation")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"conditions": False}, id="no-conditions"),
        pytest.param({"audience_restrictions": ()}, id="no-audience-restriction"),
        pytest.param({"audience_restrictions": ((),)}, id="restriction-without-audience"),
        pytest.param({"audience_restrictions": (("https://other-sp.example/metadata",),)}, id="wrong-audience"),
        pytest.param({"audience_restrictions": ((SP_ENTITY_ID + "/",),)}, id="trailing-slash"),
        pytest.param({"audience_restrictions": (("",),)}, id="empty-audience"),
        pytest.param(
            {"audience_restrictions": ((SP_ENTITY_ID,), ("https://other-sp.example/metadata",))},
            id="second-restriction-lacks-us",
        ),
        pytest.param(
            {"audience_restrictions": (("https://other-sp.example/metadata",), (SP_ENTITY_ID,))},
            id="first-restriction-lacks-us",
        ),
    ],
)
def test_audience_refusals(acs: Acs, changes: dict[str, object]) -> None:
    acs.refuse(signed(acs, **changes), "WrongAudience")


def test_audiences_accepted_when_every_restriction_names_us(acs: Acs) -> None:
    restrictions = (("https://other-sp.example/metadata", SP_ENTITY_ID), (SP_ENTITY_ID,))
    assertion = acs.accept(signed(acs, audience_restrictions=restrictions))
    assert assertion.audiences == ("https://other-sp.example/metadata", SP_ENTITY_ID, SP_ENTITY_ID)


# ---------------------------------------------------------------------------------------------
# Assertion count, issuers, providers, status, subject


def test_no_assertion(acs: Acs) -> None:
    acs.refuse(
        signed(acs, include_assertion=False, sign_assertion=None, sign_response=acs.idp.signer()), "AssertionCount"
    )


def test_two_assertions(acs: Acs) -> None:
    def add_second(root: etree._Element) -> None:
        second = clone(one(root, "saml:Assertion"))
        second.set("ID", "_assert-second")
        root.append(second)

    acs.refuse(signed(acs, before_signing=add_second, sign_response=acs.idp.signer()), "AssertionCount")


def test_plain_and_encrypted_assertion_together(acs: Acs) -> None:
    def add_plain(root: etree._Element) -> None:
        plain = clone(one(root, "saml:Assertion"))
        plain.set("ID", "_assert-plain")
        root.append(plain)

    message = signed(acs, before_signing=add_plain, encrypt=Encryption(acs.sp.cert_pem))
    acs.refuse(message, "AssertionCount")


def test_response_issuer_differs_from_assertion_issuer(acs: Acs) -> None:
    providers = [acs.provider, other_provider(acs)]
    acs.refuse(signed(acs, issuer=OTHER_IDP), "IssuerMismatch", providers=providers)
    acs.refuse(signed(acs, assertion_issuer=OTHER_IDP), "IssuerMismatch", providers=providers)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"issuer": "https://unknown.example", "assertion_issuer": "https://unknown.example"}, id="both-unknown"
        ),
        pytest.param({"issuer": "https://unknown.example"}, id="response-issuer-unknown"),
        pytest.param(
            {"issuer": None, "assertion_issuer": "https://unknown.example"},
            id="assertion-issuer-unknown-no-response-issuer",
        ),
        pytest.param({"issuer": IDP_ENTITY_ID + "/"}, id="near-miss"),
    ],
)
def test_unknown_issuer(acs: Acs, changes: dict[str, object]) -> None:
    acs.refuse(signed(acs, **changes), "UnknownIssuer")


def test_assertion_without_issuer_is_malformed(acs: Acs) -> None:
    acs.refuse(signed(acs, assertion_issuer=None), "MalformedMessage")


def test_provider_registration_expired(acs: Acs) -> None:
    expired = dataclasses.replace(acs.provider, valid_until=NOW - dt.timedelta(seconds=1))
    acs.refuse(signed(acs), "ProviderExpired", provider=expired)
    still_valid = dataclasses.replace(acs.provider, valid_until=NOW + dt.timedelta(days=1))
    acs.accept(signed(acs), provider=still_valid)


def test_status_not_success_names_nested_code_and_message(acs: Acs) -> None:
    message = signed(
        acs,
        status_code=STATUS_RESPONDER,
        nested_status_code=STATUS_AUTHN_FAILED,
        status_message="  The user cancelled the sign-in.  ",
        include_assertion=False,
        sign_assertion=None,
    )
    error = acs.refuse(message, "StatusNotSuccess")
    assert STATUS_RESPONDER in error.detail
    assert STATUS_AUTHN_FAILED in error.detail
    assert "The user cancelled the sign-in." in error.detail


@pytest.mark.parametrize(
    ("changes", "in_detail"),
    [
        pytest.param({"status_code": None}, "missing", id="no-status"),
        pytest.param(
            {
                "status_code": "urn:oasis:names:tc:SAML:2.0:status:Requester",
                "nested_status_code": "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
            },
            "RequestDenied",
            id="requester-denied",
        ),
        pytest.param(
            {"status_code": "urn:oasis:names:tc:SAML:2.0:status:success"}, "status:success", id="lowercase-success"
        ),
        # A successful assertion does not make a failed Response successful.
        pytest.param({"status_code": STATUS_RESPONDER}, "Responder", id="failed-with-assertion"),
    ],
)
def test_status_refusals(acs: Acs, changes: dict[str, object], in_detail: str) -> None:
    assert in_detail in acs.refuse(signed(acs, **changes), "StatusNotSuccess").detail


def test_status_message_detail_is_bounded(acs: Acs) -> None:
    error = acs.refuse(signed(acs, status_code=STATUS_RESPONDER, status_message="x" * 5000), "StatusNotSuccess")
    assert len(error.detail) < 400


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"subject": False}, id="no-subject"),
        pytest.param({"name_id": None}, id="no-name-id"),
        pytest.param({"name_id": "   "}, id="blank-name-id"),
    ],
)
def test_missing_subject(acs: Acs, changes: dict[str, object]) -> None:
    acs.refuse(signed(acs, **changes), "MissingSubject")


# ---------------------------------------------------------------------------------------------
# Malformed, oversized and forbidden XML


@pytest.mark.parametrize("text", ["not base64!", "PHNhbWxwOlJlc3BvbnNlLz4", "%3Csamlp%3AResponse", "\u00e9t\u00e9"])
def test_not_base64(acs: Acs, text: str) -> None:
    acs.refuse(text, "MalformedMessage")


def test_base64_with_line_breaks_is_accepted(acs: Acs) -> None:
    message = signed(acs)
    wrapped = "\r\n".join(message[i : i + 76] for i in range(0, len(message), 76))
    acs.accept(wrapped)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"SAMLResponse", id="text"),
        pytest.param(b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'>", id="unclosed"),
        pytest.param(b"<samlp:Response/>", id="unbound-prefix"),
        pytest.param(b"\x00\x01\x02\x03", id="binary"),
        pytest.param(b"<?xml version='1.0' encoding='bogus'?><a/>", id="unknown-encoding"),
    ],
)
def test_not_xml(acs: Acs, data: bytes) -> None:
    acs.refuse(encode_bytes(data), "MalformedMessage")


@pytest.mark.parametrize(
    "root_xml",
    [
        pytest.param(f'<saml:Assertion xmlns:saml="{SAML}" ID="_a" Version="2.0"/>', id="bare-assertion"),
        pytest.param(
            '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"/>', id="authn-request"
        ),
        pytest.param(
            '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" ResponseID="_r"/>',
            id="saml-1.1-response",
        ),
        pytest.param('<Response ID="_r" Version="2.0"/>', id="no-namespace"),
    ],
)
def test_wrong_root_element(acs: Acs, root_xml: str) -> None:
    acs.refuse(encode_bytes(root_xml.encode()), "MalformedMessage")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"version": "1.1"}, id="response-version"),
        pytest.param({"version": None}, id="no-response-version"),
        pytest.param({"response_id": None}, id="no-response-id"),
        pytest.param({"issue_instant": None}, id="no-issue-instant"),
        pytest.param({"assertion_version": "1.1"}, id="assertion-version"),
        pytest.param({"assertion_issue_instant": None}, id="no-assertion-issue-instant"),
        pytest.param({"authn_statement": False}, id="no-authn-statement"),
    ],
)
def test_malformed_response(acs: Acs, changes: dict[str, object]) -> None:
    acs.refuse(signed(acs, **changes), "MalformedMessage")


def test_signed_response_without_issuer_is_malformed(acs: Acs) -> None:
    acs.refuse(signed(acs, issuer=None, sign_response=acs.idp.signer()), "MalformedMessage")


def test_message_too_large(acs: Acs) -> None:
    message = signed(acs)
    exact = dataclasses.replace(acs.policy, max_bytes=len(message))
    acs.accept(message, policy=exact)
    acs.refuse(message, "MessageTooLarge", policy=dataclasses.replace(exact, max_bytes=len(message) - 1))


def test_default_limit_refuses_a_response_padded_with_attributes(acs: Acs) -> None:
    padding = Attr("urn:example:padding", tuple("x" * 1000 for _ in range(300)))
    message = signed(acs, attributes=(padding,))
    assert len(message) > acs.policy.max_bytes
    acs.refuse(message, "MessageTooLarge")


def _with_prolog(acs: Acs, prolog: str, name_id: str = "alice@corp.example") -> bytes:
    """A signed Response serialized with ``prolog`` before the root and NameID text ``name_id``."""
    root = build_response(acs.options())
    text = etree.tostring(root, encoding="unicode")
    text = text.replace(">alice@corp.example</saml:NameID>", f">{name_id}</saml:NameID>", 1)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}\n{text}'.encode()


BILLION_LAUGHS = (
    '<!DOCTYPE samlp:Response [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10)
    )
    + "]>"
)


@pytest.mark.parametrize(
    ("prolog", "name_id"),
    [
        pytest.param("<!DOCTYPE samlp:Response>", "alice@corp.example", id="bare-doctype"),
        pytest.param(BILLION_LAUGHS, "&lol9;", id="billion-laughs"),
        pytest.param('<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;", id="xxe-file"),
        pytest.param('<!DOCTYPE r [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil.dtd">]>', "&xxe;", id="xxe-http"),
        pytest.param(
            '<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>', "alice@corp.example", id="parameter-entity"
        ),
        pytest.param('<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">', "alice@corp.example", id="external-dtd"),
        pytest.param('<!doctype r [<!entity a "admin">]>', "&a;@corp.example", id="lowercase"),
    ],
)
def test_forbidden_xml(acs: Acs, prolog: str, name_id: str) -> None:
    acs.refuse(encode_bytes(_with_prolog(acs, prolog, name_id)), "ForbiddenXml")


def test_doctype_hidden_by_utf16_encoding_is_still_forbidden(acs: Acs) -> None:
    text = _with_prolog(acs, '<!DOCTYPE r [<!ENTITY a "admin">]>', "&a;@corp.example").decode()
    data = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    acs.refuse(encode_bytes(data), "ForbiddenXml")


def test_processing_instruction_inside_the_document_is_forbidden(acs: Acs) -> None:
    root = build_response(acs.options())
    one(root, "//saml:NameID").append(etree.ProcessingInstruction("xml-stylesheet", 'href="evil.xsl"'))
    acs.refuse(encode(root), "ForbiddenXml")
