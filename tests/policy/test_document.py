"""Document validation: one row per rejection rule; every message starts with the place."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.policy import (
    VERSION_2008,
    MalformedPolicyDocument,
    PolicyKind,
    StatementEffect,
    read_document,
    validate_document,
)

ALLOW = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
TRUST = {
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/Okta"},
    "Action": "sts:AssumeRoleWithSAML",
}


def document(*statements: dict[str, Any], **top: Any) -> str:
    return json.dumps({"Version": "2012-10-17", **top, "Statement": list(statements)})


def with_(statement: dict[str, Any], **changes: Any) -> dict[str, Any]:
    updated = {**statement, **changes}
    return {key: value for key, value in updated.items() if value is not None}


IDENTITY = PolicyKind.IDENTITY
RESOURCE = PolicyKind.RESOURCE

# (rule, text, kind, the place the message must start with)
RULES: list[tuple[str, str, PolicyKind, str]] = [
    ("invalid JSON", "{", IDENTITY, "Policy document: invalid JSON at line 1 column 2"),
    ("not an object", '"x"', IDENTITY, "Policy document: expected a JSON object"),
    (
        "character set",
        document(with_(ALLOW, Sid="S")).replace('"S"', '"\u0100"'),
        IDENTITY,
        "Policy document: character U+0100",
    ),
    (
        "duplicate top-level key",
        '{"Statement": [], "Statement": []}',
        IDENTITY,
        "Policy document: duplicate element",
    ),
    (
        "unknown top-level element",
        document(ALLOW, Extra=1),
        IDENTITY,
        "Policy document: unknown element 'Extra'",
    ),
    ("missing Statement", '{"Version": "2012-10-17"}', IDENTITY, "Policy document: missing required element"),
    ("bad Version", document(ALLOW, Version="1"), IDENTITY, "Version:"),
    ("bad Id", document(ALLOW, Id=[]), IDENTITY, "Id:"),
    ("empty Statement", document(), IDENTITY, "Statement: must contain at least one statement"),
    ("Statement type", json.dumps({"Statement": 1}), IDENTITY, "Statement: expected an object or a list"),
    (
        "statement type",
        json.dumps({"Statement": [ALLOW, ALLOW, []]}),
        IDENTITY,
        "Statement[2]: expected an object",
    ),
    (
        "duplicate statement key",
        '{"Statement": [{"Effect": "Allow", "Effect": "Deny"}]}',
        IDENTITY,
        "Statement[0]: duplicate element 'Effect'",
    ),
    (
        "unknown statement element",
        document(with_(ALLOW, Actions="x")),
        IDENTITY,
        "Statement[0]: unknown element 'Actions'",
    ),
    ("Sid type", document(with_(ALLOW, Sid=1)), IDENTITY, "Statement[0].Sid: must be a string"),
    (
        "Sid characters",
        document(with_(ALLOW, Sid="a_b")),
        IDENTITY,
        "Statement[0].Sid: 'a_b' must contain only letters and digits",
    ),
    (
        "Sid unique",
        document(ALLOW, with_(ALLOW, Sid="S"), with_(ALLOW, Sid="S")),
        IDENTITY,
        "Statement[2].Sid: 'S' is already used by Statement[1]",
    ),
    (
        "Effect missing",
        document(with_(ALLOW, Effect=None)),
        IDENTITY,
        "Statement[0]: missing required element Effect",
    ),
    (
        "Effect value",
        document(with_(ALLOW, Effect="Permit")),
        IDENTITY,
        "Statement[0].Effect: 'Permit' must be",
    ),
    (
        "Principal forbidden",
        document(with_(ALLOW, Principal="*")),
        IDENTITY,
        "Statement[0]: has prohibited field Principal",
    ),
    (
        "NotPrincipal forbidden",
        document(with_(ALLOW, NotPrincipal="*")),
        PolicyKind.SCP,
        "Statement[0]: has prohibited field NotPrincipal",
    ),
    ("Principal required", document(ALLOW), RESOURCE, "Statement[0]: missing required element Principal"),
    (
        "Principal and NotPrincipal",
        document(with_(ALLOW, Principal="*", NotPrincipal="*")),
        RESOURCE,
        "Statement[0]: has both Principal and NotPrincipal",
    ),
    (
        "Principal value",
        document(with_(ALLOW, Principal={"AWS": "x"})),
        RESOURCE,
        "Statement[0].Principal.AWS: invalid principal 'x'",
    ),
    (
        "Action missing",
        document(with_(ALLOW, Action=None)),
        IDENTITY,
        "Statement[0]: missing required element Action or NotAction",
    ),
    (
        "Action and NotAction",
        document(with_(ALLOW, NotAction="s3:*")),
        IDENTITY,
        "Statement[0]: has both Action and NotAction",
    ),
    (
        "Action type",
        document(with_(ALLOW, Action=3)),
        IDENTITY,
        "Statement[0].Action: expected a string or a list",
    ),
    (
        "Action empty",
        document(with_(ALLOW, Action=[])),
        IDENTITY,
        "Statement[0].Action: must not be an empty list",
    ),
    (
        "Action item type",
        document(with_(ALLOW, Action=["s3:GetObject", None])),
        IDENTITY,
        "Statement[0].Action[1]: expected a string",
    ),
    (
        "Action format",
        document(with_(ALLOW, Action=["s3:GetObject", "s3-GetObject"])),
        IDENTITY,
        "Statement[0].Action[1]: 's3-GetObject' is not an action",
    ),
    (
        "Resource missing",
        document(with_(ALLOW, Resource=None)),
        IDENTITY,
        "Statement[0]: missing required element Resource or NotResource",
    ),
    (
        "Resource and NotResource",
        document(with_(ALLOW, NotResource="*")),
        IDENTITY,
        "Statement[0]: has both Resource and NotResource",
    ),
    (
        "Resource format",
        document(with_(ALLOW, Resource=["*", "bucket"])),
        IDENTITY,
        "Statement[0].Resource[1]: 'bucket' is neither",
    ),
    (
        "Resource in a trust policy",
        document(with_(TRUST, Resource="*")),
        PolicyKind.TRUST,
        "Statement[0]: has prohibited field Resource",
    ),
    (
        "Resource variable",
        document(with_(ALLOW, Resource="arn:aws:s3:::b/${x")),
        IDENTITY,
        "Statement[0].Resource[0]: malformed policy variable",
    ),
    (
        "Condition type",
        document(with_(ALLOW, Condition="x")),
        IDENTITY,
        "Statement[0].Condition: expected an object",
    ),
    (
        "Condition operator",
        document(with_(ALLOW, Condition={"Foo": {}})),
        IDENTITY,
        "Statement[0].Condition.Foo: unknown condition operator",
    ),
    (
        "Condition block",
        document(with_(ALLOW, Condition={"Bool": []})),
        IDENTITY,
        "Statement[0].Condition.Bool: expected an object of condition keys",
    ),
    (
        "Condition block empty",
        document(with_(ALLOW, Condition={"Bool": {}})),
        IDENTITY,
        "Statement[0].Condition.Bool: names no condition key",
    ),
    (
        "Condition key",
        document(with_(ALLOW, Condition={"Bool": {"k": "true"}})),
        IDENTITY,
        "Statement[0].Condition.Bool.k: condition key must look like",
    ),
    (
        "Condition key case",
        document(with_(ALLOW, Condition={"Bool": {"a:b": "true", "A:B": "true"}})),
        IDENTITY,
        "Statement[0].Condition.Bool: condition key 'A:B' repeats 'a:b'",
    ),
    (
        "Condition value",
        document(with_(ALLOW, Condition={"Bool": {"a:b": "maybe"}})),
        IDENTITY,
        "Statement[0].Condition.Bool.a:b: 'maybe' is neither",
    ),
    (
        "duplicate condition key",
        '{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
        '"Condition": {"Bool": {"a:b": "true", "a:b": "false"}}}]}',
        IDENTITY,
        "Statement[0].Condition.Bool: duplicate condition key 'a:b'",
    ),
]


@pytest.mark.parametrize(("rule", "text", "kind", "place"), RULES, ids=[rule for rule, *_ in RULES])
def test_rejection_names_the_place(rule: str, text: str, kind: PolicyKind, place: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        read_document(text, kind)
    assert str(caught.value).startswith(place), rule
    assert caught.value.message == str(caught.value)


def test_valid_document_is_typed_and_normalised() -> None:
    parsed = read_document(
        document(
            {
                "Sid": "A",
                "Effect": "Deny",
                "NotAction": "iam:*",
                "NotResource": ["arn:aws:s3:::b"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            Id="P1",
        ),
        IDENTITY,
    )
    assert parsed.id == "P1"
    assert parsed.allows_variables
    statement = parsed.statements[0]
    assert statement.effect is StatementEffect.DENY
    assert statement.actions == ("iam:*",)
    assert statement.not_action
    assert statement.resources is not None
    assert statement.resources[0].source == "arn:aws:s3:::b"
    assert statement.not_resource
    assert statement.principal is None
    assert statement.conditions[0].key == "aws:SecureTransport"


def test_missing_version_means_2008_semantics() -> None:
    parsed = read_document(json.dumps({"Statement": ALLOW}), IDENTITY)
    assert parsed.version is None
    assert not parsed.allows_variables
    assert read_document(document(ALLOW, Version=VERSION_2008), IDENTITY).version == VERSION_2008


def test_validate_document_takes_already_decoded_json() -> None:
    assert len(validate_document({"Statement": [ALLOW, ALLOW]}, IDENTITY).statements) == 2


def test_sid_rules_by_kind() -> None:
    free_text = document(with_(ALLOW, Principal="*", Sid="Public read (2024)"))
    assert read_document(free_text, RESOURCE).statements[0].sid == "Public read (2024)"
    with pytest.raises(MalformedPolicyDocument):
        read_document(document(with_(TRUST, Sid="x-y")), PolicyKind.TRUST)


@pytest.mark.parametrize("kind", [kind for kind in PolicyKind if not kind.has_principal])
def test_principal_is_forbidden_in_every_identity_like_kind(kind: PolicyKind) -> None:
    with pytest.raises(MalformedPolicyDocument, match="has prohibited field Principal"):
        read_document(document(with_(ALLOW, Principal="*")), kind)


def test_kind_properties() -> None:
    assert {kind for kind in PolicyKind if kind.has_principal} == {PolicyKind.RESOURCE, PolicyKind.TRUST}
    assert PolicyKind.MANAGED.size_limit == 6144
    assert PolicyKind.TRUST.size_limit == 2048
    assert not PolicyKind.SCP.is_identity_like
