"""Tag conditions on Organizations calls: ``aws:ResourceTag/*`` of the root, OU, account or policy
acted on, and ``aws:RequestTag/*`` and ``aws:TagKeys`` of the tags a call passes, as AWS's service
authorization reference lists them. A review found every one of them missing: a guardrail that
denies touching resources tagged protected=true did nothing."""

from __future__ import annotations

import json
from typing import Any

from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    admin_client,
    allow,
    client,
    deny,
    document,
    error,
    module_broker,
    module_iam,
    user_with_key,
)
from tests.support.brokers import LiveBroker

PROTECTED = [{"Key": "protected", "Value": "true"}]


def test_tag_guardrails_bind_organizations_calls(broker: LiveBroker, iam: Any) -> None:
    org = admin_client(broker, "organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    locked = org.create_organizational_unit(ParentId=root, Name="Locked", Tags=PROTECTED)["OrganizationalUnit"]["Id"]
    open_ou = org.create_organizational_unit(ParentId=root, Name="Open")["OrganizationalUnit"]["Id"]
    guard = org.create_policy(
        Name="Guard",
        Description="d",
        Type="SERVICE_CONTROL_POLICY",
        Content=document(deny("iam:CreateUser")),
        Tags=PROTECTED,
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=guard, TargetId=locked)

    is_protected = {"StringEquals": {"aws:ResourceTag/protected": "true"}}
    key, secret = user_with_key(
        iam,
        "org-operator",
        policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    allow("organizations:*"),
                    deny("organizations:*", Condition=is_protected),
                    deny(
                        ["organizations:TagResource", "organizations:UntagResource"],
                        Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["protected"]}},
                    ),
                    deny(
                        ["organizations:CreateOrganizationalUnit", "organizations:CreatePolicy"],
                        Condition={"StringEquals": {"aws:RequestTag/protected": "true"}},
                    ),
                ],
            }
        ),
    )
    operator = client(broker, "organizations", key, secret)

    def refused(call: Any, **kwargs: Any) -> bool:
        return error(call, **kwargs)[0] == "AccessDeniedException"

    # aws:ResourceTag: the protected OU and policy are out of reach; the open OU is not.
    assert refused(operator.describe_organizational_unit, OrganizationalUnitId=locked)
    assert operator.describe_organizational_unit(OrganizationalUnitId=open_ou)["OrganizationalUnit"]["Name"] == "Open"
    assert refused(operator.detach_policy, PolicyId=guard, TargetId=locked)
    assert refused(operator.update_policy, PolicyId=guard, Content=document(deny("nothing:Nothing")))
    assert refused(operator.untag_resource, ResourceId=locked, TagKeys=["protected"])
    # aws:TagKeys and aws:RequestTag: the protected tag cannot be put on or taken off anything.
    assert refused(operator.tag_resource, ResourceId=open_ou, Tags=PROTECTED)
    assert refused(operator.create_organizational_unit, ParentId=root, Name="Sneaky", Tags=PROTECTED)
    assert refused(
        operator.create_policy,
        Name="Sneaky",
        Description="d",
        Type="SERVICE_CONTROL_POLICY",
        Content=document(allow("*")),
        Tags=PROTECTED,
    )
    operator.tag_resource(ResourceId=open_ou, Tags=[{"Key": "team", "Value": "blue"}])
    made = operator.create_organizational_unit(ParentId=root, Name="Fine", Tags=[{"Key": "team", "Value": "red"}])
    assert made["OrganizationalUnit"]["Name"] == "Fine"

    # Nothing changed on the protected resources.
    assert org.list_tags_for_resource(ResourceId=locked)["Tags"] == PROTECTED
    assert json.loads(org.describe_policy(PolicyId=guard)["Policy"]["Content"])["Statement"][0]["Action"] == (
        "iam:CreateUser"
    )
    targets = org.list_targets_for_policy(PolicyId=guard)["Targets"]
    assert [target["TargetId"] for target in targets] == [locked]
