"""What an assertion means for a session: context keys, Role pairs, session attributes, duration."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from broker.iam.errors import AwsError
from broker.saml.assertion import Assertion
from broker.services.saml_session import (
    fallback_session_name,
    name_qualifier,
    role_pairs,
    saml_context,
    session_attributes,
    session_duration,
)

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
AWS = "https://aws.amazon.com/SAML/Attributes/"
ROLE = "arn:aws:iam::123456789012:role/Dev"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/okta"


def assertion(attributes: dict[str, list[str]] | None = None, **overrides: object) -> Assertion:
    values: dict[str, object] = dict(
        issuer="http://www.okta.com/exk1",
        assertion_id="a1",
        response_id="r1",
        in_response_to=None,
        subject="alice@example.org",
        name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        recipient="https://sso.example.com/saml/acs",
        audiences=("https://sso.example.com/saml/metadata",),
        not_on_or_after=NOW + dt.timedelta(minutes=5),
        issue_instant=NOW,
        attributes=attributes or {},
    )
    values.update(overrides)
    return Assertion(**values)  # type: ignore[arg-type]


def test_name_qualifier_is_aws_formula() -> None:
    expected = base64.b64encode(hashlib.sha1(b"http://www.okta.com/exk1123456789012/okta").digest()).decode()  # noqa: S324
    assert name_qualifier("http://www.okta.com/exk1", "123456789012", "okta") == expected


@pytest.mark.parametrize(
    ("name_id_format", "sub_type"),
    [
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "persistent"),
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "transient"),
        (
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        ),
        (None, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
    ],
)
def test_sub_type(name_id_format: str | None, sub_type: str) -> None:
    assert saml_context(assertion(name_id_format=name_id_format), "123456789012", "okta")["saml:sub_type"] == sub_type


def test_context_keys_from_attributes_oids_and_friendly_names() -> None:
    context = saml_context(
        assertion(
            {
                "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": ["urn:mace:ent:a", "urn:mace:ent:b"],
                "urn:oid:0.9.2342.19200300.100.1.1": ["alice"],
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": ["g-1", "g-2"],
                "urn:mace:dir:attribute-def:mail": ["alice@example.org"],
            },
            friendly_names={"urn:mace:dir:attribute-def:mail": "mail"},
            authn_context_class_refs=("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",),
        ),
        "123456789012",
        "okta",
    )
    assert context["saml:edupersonentitlement"] == ["urn:mace:ent:a", "urn:mace:ent:b"]
    assert context["saml:uid"] == ["alice"]
    assert context["saml:http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"] == ["g-1", "g-2"]
    assert context["saml:mail"] == ["alice@example.org"]
    assert context["saml:iss"] == "http://www.okta.com/exk1"
    assert context["saml:aud"] == "https://sso.example.com/saml/acs"
    assert context["saml:sub"] == "alice@example.org"
    assert context["saml:doc"] == "123456789012/okta"
    assert context["saml:authncontextclassref"] == ["urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"]


def test_role_pairs_in_either_order_and_junk_ignored() -> None:
    pairs = role_pairs(assertion({AWS + "Role": [f"{ROLE},{PROVIDER}", f"{PROVIDER}, {ROLE}Two", "garbage", "a,b,c"]}))
    assert pairs is not None
    assert [(p.role_arn, p.provider_arn) for p in pairs] == [(ROLE, PROVIDER), (ROLE + "Two", PROVIDER)]
    assert role_pairs(assertion()) is None  # no attribute: broker-side mapping


def test_session_attributes_read_with_aws_names() -> None:
    attributes = session_attributes(
        assertion(
            {
                AWS + "RoleSessionName": ["alice.smith@example.org"],
                AWS + "SessionDuration": ["7200"],
                AWS + "PrincipalTag:team": ["blue"],
                AWS + "PrincipalTag:cost-center": ["42"],
                AWS + "TransitiveTagKeys": ["team"],
                AWS + "SourceIdentity": ["alice"],
            }
        )
    )
    assert attributes.session_name == "alice.smith@example.org"
    assert attributes.requested_duration == 7200
    assert attributes.tags == {"team": "blue", "cost-center": "42"}
    assert attributes.transitive_tag_keys == ("team",)
    assert attributes.source_identity == "alice"


def test_session_name_falls_back_to_the_name_id() -> None:
    assert session_attributes(assertion(subject="alice smith/ops")).session_name == "alice-smith-ops"
    assert fallback_session_name("x") == "x-"
    assert len(fallback_session_name("a" * 100)) == 64


@pytest.mark.parametrize(
    ("attributes", "fragment"),
    [
        ({AWS + "RoleSessionName": ["a"]}, "RoleSessionName"),
        ({AWS + "RoleSessionName": ["a", "b"]}, "exactly one value"),
        ({AWS + "SessionDuration": ["899"]}, "SessionDuration"),
        ({AWS + "SessionDuration": ["43201"]}, "SessionDuration"),
        ({AWS + "SessionDuration": ["1h"]}, "SessionDuration"),
        ({AWS + "PrincipalTag:team": ["a", "b"]}, "exactly one value"),
        ({AWS + "PrincipalTag:aws:x": ["a"]}, "not valid"),
        ({AWS + "PrincipalTag:" + "k" * 129: ["a"]}, "not valid"),
        ({AWS + "PrincipalTag:team": ["v" * 257]}, "value that is not valid"),
        ({AWS + "PrincipalTag:Team": ["a"], AWS + "PrincipalTag:team": ["b"]}, "case-insensitive"),
        ({AWS + "TransitiveTagKeys": ["team"]}, "not a session tag"),
        ({AWS + "SourceIdentity": ["a"]}, "SourceIdentity"),
        ({AWS + f"PrincipalTag:k{i}": ["v"] for i in range(51)}, "at most 50"),
    ],
)
def test_session_attribute_limits(attributes: dict[str, list[str]], fragment: str) -> None:
    with pytest.raises(AwsError) as raised:
        session_attributes(assertion(attributes))
    assert raised.value.code == "InvalidIdentityToken"
    assert fragment in raised.value.message


def test_fifty_tags_are_allowed() -> None:
    assert len(session_attributes(assertion({AWS + f"PrincipalTag:k{i}": ["v"] for i in range(50)})).tags) == 50


@pytest.mark.parametrize(
    ("requested", "attribute", "maximum", "session_end", "expected"),
    [
        (None, None, 3600, None, 3600),
        (None, None, 43200, None, 3600),  # default 1 h even when the role allows more
        (None, 7200, 43200, None, 7200),  # SessionDuration attribute
        (None, 43200, 7200, None, 7200),  # attribute capped by the role
        (900, None, 3600, None, 900),
        (3600, None, 3600, NOW + dt.timedelta(minutes=20), 1200),  # IdP session ends first
    ],
)
def test_duration_bounds(
    requested: int | None, attribute: int | None, maximum: int, session_end: dt.datetime | None, expected: int
) -> None:
    assert session_duration(requested, attribute, maximum, session_end, NOW) == expected


@pytest.mark.parametrize(("requested", "maximum"), [(899, 3600), (43201, 43200), (7200, 3600)])
def test_duration_out_of_bounds_is_a_validation_error(requested: int, maximum: int) -> None:
    with pytest.raises(AwsError) as raised:
        session_duration(requested, None, maximum, None, NOW)
    assert raised.value.code == "ValidationError"


def test_ended_idp_session_gives_no_credentials() -> None:
    with pytest.raises(AwsError) as raised:
        session_duration(None, None, 3600, NOW - dt.timedelta(seconds=1), NOW)
    assert raised.value.code == "ExpiredTokenException"


def test_attribute_names_differing_in_case_merge_into_one_condition_key() -> None:
    context = saml_context(
        assertion(
            {
                "Email": ["a@example.org"],
                "email": ["b@example.org", "a@example.org"],
                "urn:oid:2.5.4.3": ["Alice"],
                "urn:x:cn": ["Alice A."],
            },
            friendly_names={"urn:x:cn": "CN"},
        ),
        "123456789012",
        "okta",
    )
    lowered = [key.lower() for key in context]
    assert len(lowered) == len(set(lowered))
    assert context["saml:Email"] == ["a@example.org", "b@example.org"]
    assert context["saml:cn"] == ["Alice", "Alice A."]
    # the aws saml: keys are never displaced by an attribute of the same name
    spoofed = saml_context(
        assertion({"iss": ["evil"], "AuthnContextClassRef": ["urn:mfa"]}, authn_context_class_refs=("urn:password",)),
        "123456789012",
        "okta",
    )
    assert spoofed["saml:iss"] == "http://www.okta.com/exk1"
    assert spoofed["saml:authncontextclassref"] == ["urn:password"]


def test_protocol_keys_are_never_supplied_by_attributes_even_when_absent() -> None:
    context = saml_context(assertion({"authncontextclassref": ["urn:mfa"], "doc": ["x"]}), "123456789012", "okta")
    assert "saml:authncontextclassref" not in context  # the assertion had no AuthnContextClassRef
    assert context["saml:doc"] == "123456789012/okta"
