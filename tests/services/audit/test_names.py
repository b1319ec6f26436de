"""CloudTrail's camelCase, nested names for a call's parameters and results."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from broker.services.audit import ANONYMOUS, build_event, camel_keys, query_parameters
from broker.store import models
from tests.support.aws import module_broker, module_iam  # noqa: F401  (the "broker" and "iam" fixtures)
from tests.support.brokers import LiveBroker


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("UserName", "bob")], {"userName": "bob"}),
        ([("SAMLProviderArn", "arn:x")], {"sAMLProviderArn": "arn:x"}),  # as CloudTrail lowers it
        (
            [("Tags.member.2.Key", "b"), ("Tags.member.1.Key", "a"), ("Tags.member.1.Value", "1")],
            {"tags": [{"key": "a", "value": "1"}, {"key": "b"}]},
        ),
        ([("ClientIDList.member.10", "j"), ("ClientIDList.member.9", "i")], {"clientIDList": ["i", "j"]}),
        ([("PolicyArns.member.1.arn", "arn:p")], {"policyArns": [{"arn": "arn:p"}]}),
        # Names that fit no shape, or clash with the shape others built, are kept as sent.
        ([("Tags.member.1.Key", "a"), ("Tags.member.1", "x")], {"tags": [{"key": "a"}], "tags.member.1": "x"}),
        ([("A..B", "z"), ("Tags.member", "y")], {"a..b": "z", "tags": {"member": "y"}}),
        ([("Tags.member.x.Key", "w")], {"tags": {"member": {"x": {"key": "w"}}}}),
    ],
)
def test_query_parameters(pairs: list[tuple[str, str]], expected: dict[str, Any]) -> None:
    assert query_parameters(pairs) == expected


def test_a_name_of_very_many_parts_is_recorded_flat() -> None:
    # A name of 1,000 parts nested 1,000 levels and overflowed the stack: a 500 that anyone could
    # cause, since the record is made before the signature is checked.
    deep = ".".join(["Foo"] + ["a"] * 999)
    assert query_parameters([(deep, "x")]) == {"foo" + ".a" * 999: "x"}
    within = ".".join(["Foo"] + ["a"] * 15)
    nested: Any = query_parameters([(within, "x")])
    for _ in range(16):  # "foo", then 15 times "a"
        nested = nested["foo" if "foo" in nested else "a"]
    assert nested == "x"


def test_camel_keys_reach_every_depth_and_leave_values() -> None:
    body = {"Name": "ou", "Tags": [{"Key": "K", "Value": "V"}], "Content": '{"Statement": []}'}
    assert camel_keys(body) == {"name": "ou", "tags": [{"key": "K", "value": "V"}], "content": '{"Statement": []}'}


def test_secrets_are_still_redacted_once_nested() -> None:
    event = build_event(
        event_name="ChangePassword",
        event_source="iam.amazonaws.com",
        actor=ANONYMOUS,
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        region="us-east-1",
        source_ip=None,
        user_agent=None,
        request_id="r",
        request_parameters=query_parameters(
            [("OldPassword", "o"), ("NewPassword", "n"), ("Tags.member.1.Password", "p"), ("Tags.member.1.Key", "k")]
        ),
        response_elements=camel_keys({"AccessKey": {"AccessKeyId": "AKIA", "SecretAccessKey": "s"}}),
    )
    assert event.record["requestParameters"] == {"tags": [{"key": "k"}]}
    assert event.record["responseElements"] == {"accessKey": {"accessKeyId": "AKIA"}}


def test_iam_query_calls_are_recorded_in_cloudtrail_names(broker: LiveBroker, iam: Any) -> None:
    iam.create_user(UserName="camel", Tags=[{"Key": "team", "Value": "blue"}, {"Key": "env", "Value": "dev"}])
    with broker.runtime.db.transaction() as session:
        records = [
            e.record
            for e in session.scalars(select(models.AuditEvent).where(models.AuditEvent.event_name == "CreateUser"))
        ]
    (record,) = [r for r in records if (r["requestParameters"] or {}).get("userName") == "camel"]
    assert record["requestParameters"] == {
        "userName": "camel",
        "tags": [{"key": "team", "value": "blue"}, {"key": "env", "value": "dev"}],
    }
    user = record["responseElements"]["user"]
    assert user["userName"] == "camel" and user["arn"].endswith(":user/camel")
    assert "UserName" not in json.dumps(record)
