"""Callers (Principal) and the Principal element that names them."""

from __future__ import annotations

import pytest

from broker.policy import MalformedPolicyDocument, Principal
from broker.policy.principals import Grant, PrincipalSpec, account_of, parse_principal

ACCOUNT = "111122223333"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice"
SAML = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"


def spec(raw: object) -> PrincipalSpec:
    return parse_principal(raw, "Principal", {})


def test_account_is_derived_from_the_arn() -> None:
    assert Principal(arn=USER).account == ACCOUNT
    assert Principal(arn=SESSION, role_arn=ROLE, is_session=True).account == ACCOUNT
    assert Principal(role_arn=ROLE).account == ACCOUNT
    assert Principal(federated=SAML).account is None
    assert Principal(arn=USER, account="444455556666").account == "444455556666"


def test_account_of() -> None:
    assert account_of(USER) == ACCOUNT
    assert account_of("arn:aws:s3:::bucket") is None
    assert account_of("not-an-arn") is None
    assert account_of(None) is None


def test_chain_of_a_session() -> None:
    principal = Principal(arn=SESSION, role_arn=ROLE, is_session=True)
    assert principal.chain == {f"account:{ACCOUNT}", f"arn:{SESSION}", f"arn:{ROLE}"}
    assert not principal.is_anonymous
    assert Principal().is_anonymous


def test_principals_are_hashable_values() -> None:
    assert {Principal(arn=USER), Principal(arn=USER)} == {Principal(arn=USER)}


@pytest.mark.parametrize(
    ("element", "principal", "grant"),
    [
        ("*", Principal(), Grant.DIRECT),
        ({"AWS": "*"}, Principal(federated=SAML), Grant.DIRECT),
        ({"AWS": USER}, Principal(arn=USER), Grant.DIRECT),
        ({"AWS": ACCOUNT}, Principal(arn=USER), Grant.ACCOUNT),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Principal(arn=USER), Grant.ACCOUNT),
        ({"AWS": ROLE}, Principal(arn=SESSION, role_arn=ROLE, is_session=True), Grant.ROLE),
        ({"AWS": [ROLE, ACCOUNT]}, Principal(arn=SESSION, role_arn=ROLE, is_session=True), Grant.ROLE),
        ({"AWS": SESSION}, Principal(arn=SESSION, role_arn=ROLE, is_session=True), Grant.DIRECT),
        ({"AWS": [ROLE, SESSION]}, Principal(arn=SESSION, role_arn=ROLE, is_session=True), Grant.DIRECT),
        ({"Federated": SAML}, Principal(federated=SAML), Grant.DIRECT),
        ({"Service": "EC2.amazonaws.com"}, Principal(service="ec2.amazonaws.com"), Grant.DIRECT),
        ({"AWS": USER}, Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/bob"), None),
        ({"AWS": ACCOUNT}, Principal(federated=SAML), None),
        ({"Federated": SAML}, Principal(arn=USER), None),
        ({"CanonicalUser": "abc123"}, Principal(arn=USER), None),
    ],
)
def test_grant_for(element: object, principal: Principal, grant: Grant | None) -> None:
    assert spec(element).grant_for(principal) is grant


def test_not_principal_excludes_only_a_fully_listed_chain() -> None:
    session = Principal(arn=SESSION, role_arn=ROLE, is_session=True)
    assert not spec({"AWS": [ACCOUNT, ROLE]}).excludes(session)
    assert spec({"AWS": [ACCOUNT, ROLE, SESSION]}).excludes(session)
    assert spec("*").excludes(session)
    assert not spec({"AWS": ACCOUNT}).excludes(Principal())


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ("123", 'Principal: expected "*" or an object'),
        ({}, "Principal: names no principal"),
        ({"aws": ACCOUNT}, "Principal.aws: unknown principal type"),
        ({"AWS": []}, "Principal.AWS: expected a string or a non-empty list"),
        ({"AWS": [ACCOUNT, 5]}, "Principal.AWS: expected a string or a non-empty list"),
        ({"AWS": "arn:aws:iam::111122223333:user/*"}, "Principal.AWS: invalid principal"),
        ({"AWS": "arn:aws:iam::111122223333:group/g"}, "Principal.AWS: invalid principal"),
        ({"AWS": "arn:aws:s3:::bucket"}, "Principal.AWS: invalid principal"),
        ({"Federated": "*"}, "Principal.Federated: invalid federated principal"),
        ({"Service": "ec2 .amazonaws.com"}, "Principal.Service: invalid service principal"),
        ({"CanonicalUser": "a-b"}, "Principal.CanonicalUser: invalid canonical user id"),
    ],
)
def test_invalid_principals_name_the_place(element: object, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        spec(element)
    assert str(caught.value).startswith(message)


def test_valid_federated_and_partitions() -> None:
    assert spec({"Federated": "accounts.google.com"}).grant_for(Principal(federated="accounts.google.com"))
    assert spec({"AWS": "arn:aws-cn:iam::111122223333:role/x"}).links == {"arn:arn:aws-cn:iam::111122223333:role/x"}
