"""The AWS-managed policies the broker ships: data files, listing, versions, read-only, attachment, evaluation."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from broker.iam.aws_managed import shipped_policies
from broker.policy import PolicyKind, PolicySet, Principal, Request, evaluate, parse_policy
from broker.services.setup import sync_aws_managed_policies
from broker.store.iam import policies as policy_store
from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    client,
    document,
    error,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
    user_with_key,
)
from tests.support.brokers import LiveBroker

SHIPPED = {
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/PowerUserAccess",
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
    "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
    "arn:aws:iam::aws:policy/SecurityAudit",
    "arn:aws:iam::aws:policy/job-function/Billing",
    "arn:aws:iam::aws:policy/job-function/DatabaseAdministrator",
    "arn:aws:iam::aws:policy/job-function/DataScientist",
    "arn:aws:iam::aws:policy/job-function/NetworkAdministrator",
    "arn:aws:iam::aws:policy/job-function/SupportUser",
    "arn:aws:iam::aws:policy/job-function/SystemAdministrator",
    "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
}
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"


# --- the data files -----------------------------------------------------------------------------


def test_every_shipped_policy_is_present_once() -> None:
    arns = [policy.arn for policy in shipped_policies()]
    assert sorted(arns) == sorted(SHIPPED)
    assert len({policy.policy_id for policy in shipped_policies()}) == len(arns)


@pytest.mark.parametrize("policy", shipped_policies(), ids=lambda policy: policy.arn.rsplit(":", 1)[1])
def test_each_file_parses_and_validates(policy: Any) -> None:
    parsed = parse_policy(policy.document, PolicyKind.AWS_MANAGED, policy_id=policy.arn)
    assert parsed.statements
    assert policy.policy_id.startswith("ANPA") and len(policy.policy_id) == 21
    assert policy.version_id.startswith("v") and policy.version_number >= 1
    assert policy.create_date <= policy.update_date and policy.description
    # The file lies under its policy's path.
    location = resources.files("broker.iam.aws_managed").joinpath(*policy.path.strip("/").split("/"))
    assert location.joinpath(f"{policy.name}.json").is_file()


def test_the_data_files_are_package_data() -> None:
    """pyproject.toml names every data file, so an installed broker ships them."""
    config = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["broker.iam.aws_managed"]
    directory = Path(str(resources.files("broker.iam.aws_managed")))
    files = [path.relative_to(directory).as_posix() for path in directory.rglob("*.json")]
    assert len(files) == len(SHIPPED)
    assert all(any(fnmatch.fnmatch(name, pattern) for pattern in patterns) for name in files)


def _allowed(arn: str, action: str, resource: str = "*") -> bool:
    [policy] = [p for p in shipped_policies() if p.arn == arn]
    compiled = parse_policy(policy.document, PolicyKind.AWS_MANAGED, policy_id=arn)
    request = Request(
        principal=Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/x", account=ACCOUNT),
        action=action,
        resource=resource,
        context={},
    )
    return evaluate(request, PolicySet(identity=(compiled,))).allowed


def test_the_engine_evaluates_the_documents() -> None:
    assert _allowed(ADMIN, "iam:CreateUser")
    assert _allowed(POWER_USER, "s3:PutObject") and not _allowed(POWER_USER, "iam:CreateUser")
    assert _allowed(POWER_USER, "iam:CreateServiceLinkedRole")
    assert _allowed(READ_ONLY, "iam:GetUser") and not _allowed(READ_ONLY, "iam:DeleteUser")
    assert _allowed(READ_ONLY, "s3:GetObject") and not _allowed(READ_ONLY, "s3:PutObject")
    assert _allowed(VIEW_ONLY, "iam:ListUsers") and not _allowed(VIEW_ONLY, "iam:GetUserPolicy")
    assert _allowed("arn:aws:iam::aws:policy/IAMReadOnlyAccess", "iam:ListRoles")
    assert not _allowed("arn:aws:iam::aws:policy/IAMReadOnlyAccess", "iam:CreateRole")
    assert _allowed("arn:aws:iam::aws:policy/job-function/SupportUser", "support:CreateCase")


# --- through the API ------------------------------------------------------------------------------


def test_listed_with_scope_aws_and_all(iam: Any) -> None:
    aws = list(iam.get_paginator("list_policies").paginate(Scope="AWS"))
    listed = {p["Arn"]: p for page in aws for p in page["Policies"]}
    assert set(listed) == SHIPPED
    billing = listed["arn:aws:iam::aws:policy/job-function/Billing"]
    assert billing["Path"] == "/job-function/" and billing["PolicyName"] == "Billing"
    assert billing["IsAttachable"] is True and "Description" not in billing
    iam.create_policy(
        PolicyName="local-one", PolicyDocument=document({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    )
    everything = {
        p["Arn"] for page in iam.get_paginator("list_policies").paginate(Scope="All") for p in page["Policies"]
    }
    assert SHIPPED | {f"arn:aws:iam::{ACCOUNT}:policy/local-one"} <= everything
    local = {p["Arn"] for page in iam.get_paginator("list_policies").paginate(Scope="Local") for p in page["Policies"]}
    assert not local & SHIPPED
    job_functions = iam.list_policies(Scope="AWS", PathPrefix="/job-function/")["Policies"]
    assert {p["PolicyName"] for p in job_functions} == {
        "Billing",
        "DatabaseAdministrator",
        "DataScientist",
        "NetworkAdministrator",
        "SupportUser",
        "SystemAdministrator",
        "ViewOnlyAccess",
    }


def test_get_policy_and_its_one_version(iam: Any) -> None:
    [shipped] = [p for p in shipped_policies() if p.arn == POWER_USER]
    policy = iam.get_policy(PolicyArn=POWER_USER)["Policy"]
    assert policy["PolicyId"] == shipped.policy_id and policy["DefaultVersionId"] == shipped.version_id
    assert policy["Description"] == shipped.description and policy["UpdateDate"] == shipped.update_date
    versions = iam.list_policy_versions(PolicyArn=POWER_USER)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [(shipped.version_id, True)]
    version = iam.get_policy_version(PolicyArn=POWER_USER, VersionId=shipped.version_id)["PolicyVersion"]
    assert version["Document"] == json.loads(shipped.document)
    assert error(iam.get_policy_version, PolicyArn=POWER_USER, VersionId="v1") == (
        "NoSuchEntity",
        f"Policy {POWER_USER} version v1 does not exist or is not attachable.",
    )
    # ReadOnlyAccess is far above the customer quota: stored and served whole.
    read_only = iam.get_policy(PolicyArn=READ_ONLY)["Policy"]
    document_ = iam.get_policy_version(PolicyArn=READ_ONLY, VersionId=read_only["DefaultVersionId"])
    assert len(json.dumps(document_["PolicyVersion"]["Document"])) > 90000


@pytest.mark.parametrize(
    ("method", "action", "extra"),
    [
        ("delete_policy", "iam:DeletePolicy", {}),
        (
            "create_policy_version",
            "iam:CreatePolicyVersion",
            {"PolicyDocument": document({"Effect": "Allow", "Action": "*", "Resource": "*"})},
        ),
        ("delete_policy_version", "iam:DeletePolicyVersion", {"VersionId": "v1"}),
        ("set_default_policy_version", "iam:SetDefaultPolicyVersion", {"VersionId": "v1"}),
        ("tag_policy", "iam:TagPolicy", {"Tags": [{"Key": "k", "Value": "v"}]}),
        ("untag_policy", "iam:UntagPolicy", {"TagKeys": ["k"]}),
    ],
)
def test_read_only_to_customers(iam: Any, method: str, action: str, extra: dict[str, Any]) -> None:
    code_, message = error(getattr(iam, method), PolicyArn=ADMIN, **extra)
    assert code_ == "AccessDenied"
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/admin is not authorized to perform: {action} on resource: {ADMIN} "
        f"because no resource-based policy allows the {action} action"
    )


def test_attached_counted_and_evaluated(broker: LiveBroker, iam: Any) -> None:
    key, secret = user_with_key(iam, "viewer")
    iam.attach_user_policy(UserName="viewer", PolicyArn=VIEW_ONLY)
    iam.create_group(GroupName="auditors")
    iam.attach_group_policy(GroupName="auditors", PolicyArn=VIEW_ONLY)
    assert iam.get_policy(PolicyArn=VIEW_ONLY)["Policy"]["AttachmentCount"] == 2
    attached = iam.list_attached_user_policies(UserName="viewer")["AttachedPolicies"]
    assert attached == [{"PolicyName": "ViewOnlyAccess", "PolicyArn": VIEW_ONLY}]
    entities = iam.list_entities_for_policy(PolicyArn=VIEW_ONLY)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["viewer"]
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["auditors"]

    viewer = client(broker, "iam", key, secret)
    assert viewer.list_users()["Users"]  # iam:List* is in ViewOnlyAccess
    assert error(viewer.create_user, UserName="nope")[0] == "AccessDenied"
    iam.detach_user_policy(UserName="viewer", PolicyArn=VIEW_ONLY)
    iam.attach_user_policy(UserName="viewer", PolicyArn=READ_ONLY)  # ~97,000 characters, evaluated whole
    assert viewer.get_user(UserName="viewer")["User"]["UserName"] == "viewer"
    assert error(viewer.delete_group, GroupName="auditors")[0] == "AccessDenied"
    assert iam.get_policy(PolicyArn=VIEW_ONLY)["Policy"]["AttachmentCount"] == 1


def test_sync_is_idempotent_and_restores_what_was_changed(broker: LiveBroker, iam: Any) -> None:
    with broker.runtime.db.transaction() as tx:
        assert policy_store.sync_aws_managed_policies(tx, shipped_policies()) == []
        # As a database seeded by an older broker has it: one v1 with another document.
        policy_store.add_policy_version(
            tx,
            "ANPAEDQ2UXPS7T3FOTNEO",
            document({"Effect": "Deny", "Action": "*", "Resource": "*"}),
            True,
            broker.runtime.now(),
        )
    assert len(iam.list_policy_versions(PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")["Versions"]) == 2
    sync_aws_managed_policies(broker.runtime)
    versions = iam.list_policy_versions(PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v4", True)]
    with broker.runtime.db.transaction() as tx:
        assert policy_store.sync_aws_managed_policies(tx, shipped_policies()) == []
