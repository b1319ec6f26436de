"""Compiled policies: caching, equality, the action index."""

from __future__ import annotations

import json
from typing import Any

from broker.policy import Policy, PolicyKind, compile_policy, parse_policy, read_document


def text(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: object, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": "*", **extra}


def test_parse_policy_is_cached() -> None:
    source = text(allow("s3:GetObject"))
    assert parse_policy(source, PolicyKind.MANAGED, "p") is parse_policy(source, PolicyKind.MANAGED, "p")


def test_policies_are_equal_by_kind_id_and_text() -> None:
    source = text(allow("s3:GetObject"))
    one = compile_policy(read_document(source, PolicyKind.MANAGED), PolicyKind.MANAGED, "p", source)
    two = compile_policy(read_document(source, PolicyKind.MANAGED), PolicyKind.MANAGED, "p", source)
    assert one == two
    assert hash(one) == hash(two)
    assert one != parse_policy(source, PolicyKind.MANAGED, "other")
    assert one != parse_policy(source, PolicyKind.IDENTITY, "p")
    assert len({one, two}) == 1
    assert one.size == len(source.replace(" ", ""))


def test_statements_for_uses_exact_service_and_unindexed_buckets() -> None:
    policy = parse_policy(
        text(
            allow("s3:GetObject"),
            allow("s3:Get*"),
            allow("*"),
            allow("*:GetObject"),
            allow("ec2:*"),
            {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
            allow(["S3:GETOBJECT", "ec2:RunInstances"]),
        ),
        PolicyKind.IDENTITY,
    )
    assert [s.index for s in policy.statements_for("s3:getobject")] == [0, 1, 2, 3, 5, 6]
    assert [s.index for s in policy.statements_for("ec2:runinstances")] == [2, 4, 5, 6]
    assert [s.index for s in policy.statements_for("iam:createuser")] == [2]
    assert [s.index for s in policy.statements_for("s3:putobject")] == [2, 5]


def test_statements_for_is_memoised() -> None:
    policy = parse_policy(text(allow("s3:Get*")), PolicyKind.IDENTITY, "memo")
    first = policy.statements_for("s3:getobject")
    assert policy.statements_for("s3:getobject") is first


def test_resource_star_needs_no_test() -> None:
    policy = parse_policy(text(allow("s3:GetObject")), PolicyKind.IDENTITY)
    assert policy.statements[0].resource_test is None


def test_policy_type_is_a_value() -> None:
    assert isinstance(parse_policy(text(allow("s3:GetObject")), PolicyKind.IDENTITY), Policy)
