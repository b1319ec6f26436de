"""The AWS Organizations JSON API through boto3 against a live broker: shapes, behaviour, errors.

Every Organizations client the tests make checks every answer against botocore's own service
model: a response's members (recursively) must be members of the operation's output shape, with
enum values and identifier patterns as modeled; an error's code must be one the model lists for
the operation (or a common one), and ``InvalidInputException`` / ``ConstraintViolationException``
must say why in a modeled ``Reason``.

One organization per module broker (the ``org`` fixture: SCPs enabled, one member account reached
through ``OrganizationAccountAccessRole``); tests make their own OUs, accounts and policies under
unique names and clean up what can be deleted. The lifecycle of an organization (none yet,
create, delete) runs on brokers of its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape

from broker.services.setup import bootstrap_admin
from tests.support.aws import (  # noqa: F401  (module_broker, module_iam: the "broker" and "iam" fixtures)
    ACCOUNT,
    BACKENDS,
    admin_client,
    allow,
    client,
    deny,
    document,
    error,
    module_broker,
    module_iam,
    running_broker,
    user_with_key,
)
from tests.support.brokers import LiveBroker

MODEL = botocore.session.get_session().get_service_model("organizations")
SCP = "SERVICE_CONTROL_POLICY"
FULL_ACCESS = "p-FullAWSAccess"
FULL_ACCESS_ARN = "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"
ACCESS_ROLE = "OrganizationAccountAccessRole"
AWS = str(Path(sys.executable).with_name("aws"))
# Errors any AWS JSON-protocol operation may answer with, modeled or not.
COMMON_ERRORS = {
    "AccessDeniedException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "SerializationException",
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalFailure",
}
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


# --- botocore's model as the oracle ---------------------------------------------------------------


def pattern_of(shape_name: str) -> str:
    return str(MODEL.shape_for(shape_name).metadata["pattern"])


def assert_modeled_id(shape_name: str, value: str) -> None:
    assert re.fullmatch(pattern_of(shape_name), value), f"{value!r} is not a modeled {shape_name}"


def conforms(shape: Shape, value: Any, where: str) -> None:
    """``value`` has the type, members, enum values and identifier patterns the shape models."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), where
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: {sorted(unknown)} are not members of {shape.name}"
        for key, item in value.items():
            conforms(shape.members[key], item, f"{where}.{key}")
    elif kind == "list":
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            conforms(shape.member, item, f"{where}[{index}]")
    elif kind == "string":
        assert isinstance(value, str), where
        if shape.enum:
            assert value in shape.enum, f"{where}: {value!r} is not one of {shape.name}'s values"
        # ARN patterns are checked by hand below: botocore's PolicyArn wants 10+ characters after
        # "p-" while its PolicyId allows 8, so the model contradicts itself there.
        # Unicode-class patterns (\p{L}: tag keys and values) are beyond Python's re; the tag
        # tests check those values explicitly.
        pattern = shape.metadata.get("pattern")
        if pattern and not shape.name.endswith("Arn") and "\\p{" not in pattern:
            assert re.fullmatch(pattern, value), f"{where}: {value!r} does not match {shape.name} {pattern}"
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind in ("integer", "long"):
        assert isinstance(value, int), where
    elif kind == "timestamp":
        assert isinstance(value, dt.datetime), where


def check_against_model(http_response: Any, parsed: dict[str, Any], model: OperationModel, **_: Any) -> None:
    """botocore's ``after-call`` hook: every answer the broker gives is checked before a test sees it."""
    if "Error" in parsed:
        code = parsed["Error"]["Code"]
        modeled = {shape.name for shape in model.error_shapes}
        assert code in modeled | COMMON_ERRORS, f"{model.name} answered {code}, which botocore does not model for it"
        # AWS's API reference gives every Organizations client error HTTP status 400.
        assert http_response.status_code == (500 if code == "ServiceException" else 400), (model.name, code)
        if code in ("InvalidInputException", "ConstraintViolationException"):
            reasons = MODEL.shape_for(f"{code}Reason").enum
            assert parsed.get("Reason") in reasons, f"{model.name}: {code} without a modeled Reason: {parsed}"
        return
    assert http_response.status_code == 200, model.name
    body = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    if model.output_shape is None:
        assert body == {}, f"{model.name} has no output shape but answered {body}"
    else:
        conforms(model.output_shape, body, model.name)


def organizations(broker: LiveBroker, key: str, secret: str, token: str | None = None) -> Any:
    api = client(broker, "organizations", key, secret, token)
    api.meta.events.register("after-call.organizations", check_against_model)
    return api


def admin_organizations(broker: LiveBroker) -> Any:
    admin = bootstrap_admin(broker.runtime)
    return organizations(broker, admin.access_key_id, admin.secret_access_key)


def session_client(broker: LiveBroker, service: str, creds: dict[str, str]) -> Any:
    key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    if service == "organizations":
        return organizations(broker, key, secret, token)
    return client(broker, service, key, secret, token)


def failure(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str | None]:
    """(code, Reason) of the ClientError a call raises."""
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"]), raised.value.response.get("Reason")


# --- the module's organization ------------------------------------------------------------------


@dataclass
class Org:
    api: Any  # the management account administrator's Organizations client
    id: str
    root: str
    member: str  # a member account created under the root
    member_creds: dict[str, str]  # an OrganizationAccountAccessRole session in the member account

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:organizations::{ACCOUNT}:{kind}/{self.id}/{resource_id}"

    def missing_ou(self) -> str:
        """A well-formed OU id under this root that names no OU."""
        return f"ou-{self.root.removeprefix('r-')}-zzzzzzzz"


def create_account(api: Any, *, email: str | None = None, **extra: Any) -> dict[str, Any]:
    """CreateAccount, then the request's final status as DescribeCreateAccountStatus gives it."""
    status = api.create_account(Email=email or f"{unique('acct')}@example.com", AccountName=unique("Acct"), **extra)
    started = status["CreateAccountStatus"]
    final = api.describe_create_account_status(CreateAccountRequestId=started["Id"])["CreateAccountStatus"]
    assert final["Id"] == started["Id"] and final["AccountName"] == started["AccountName"]
    # AWS answers IN_PROGRESS and finishes in the background; a finished answer must not change.
    assert started["State"] in ("IN_PROGRESS", final["State"])
    return dict(final)


def new_account(api: Any, **extra: Any) -> str:
    status = create_account(api, **extra)
    assert status["State"] == "SUCCEEDED", status
    return str(status["AccountId"])


def assume(broker: LiveBroker, account: str, role: str = ACCESS_ROLE) -> dict[str, str]:
    """The management administrator's session in a member account's role."""
    sts = admin_client(broker, "sts")
    arn = f"arn:aws:iam::{account}:role/{role}"
    return dict(sts.assume_role(RoleArn=arn, RoleSessionName="org-admin")["Credentials"])


@pytest.fixture(scope="module")
def org(broker: LiveBroker) -> Org:
    api = admin_organizations(broker)
    organization = api.create_organization()["Organization"]
    root = api.list_roots()["Roots"][0]["Id"]
    member = new_account(api)
    return Org(api, organization["Id"], root, member, assume(broker, member))


def new_ou(org: Org, parent: str | None = None, name: str | None = None) -> str:
    unit = org.api.create_organizational_unit(ParentId=parent or org.root, Name=name or unique("ou"))
    return str(unit["OrganizationalUnit"]["Id"])


def new_scp(org: Org, *statements: dict[str, Any], name: str | None = None) -> str:
    content = document(*(statements or (deny("s3:DeleteBucket"),)))
    policy = org.api.create_policy(Name=name or unique("scp"), Description="test", Type=SCP, Content=content)
    return str(policy["Policy"]["PolicySummary"]["Id"])


def children(org: Org, parent: str, child_type: str) -> list[str]:
    pages = org.api.get_paginator("list_children").paginate(ParentId=parent, ChildType=child_type)
    return [child["Id"] for page in pages for child in page["Children"]]


def policies_on(org: Org, target: str) -> set[str]:
    return {p["Id"] for p in org.api.list_policies_for_target(TargetId=target, Filter=SCP)["Policies"]}


def targets_of(org: Org, policy_id: str) -> dict[str, dict[str, str]]:
    pages = org.api.get_paginator("list_targets_for_policy").paginate(PolicyId=policy_id)
    return {t["TargetId"]: t for page in pages for t in page["Targets"]}


# --- the lifecycle of an organization -------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_organization_lifecycle(tmp_path: Path, keys_dir: Path, backend: str) -> None:
    with running_broker(tmp_path, keys_dir, backend) as broker:
        api = admin_organizations(broker)
        # An account in no organization.
        for call in (api.describe_organization, api.list_roots, api.list_accounts, api.delete_organization):
            assert failure(call)[0] == "AWSOrganizationsNotInUseException"
        # Permission comes first: a user without organizations permissions learns nothing.
        iam = admin_client(broker)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        nobody = organizations(broker, key["AccessKeyId"], key["SecretAccessKey"])
        for call in (nobody.describe_organization, nobody.list_roots):
            assert failure(call)[0] == "AccessDeniedException"

        created = api.create_organization()["Organization"]  # FeatureSet defaults to ALL
        org_id = created["Id"]
        assert_modeled_id("OrganizationId", org_id)
        assert created["FeatureSet"] == "ALL"
        assert created["Arn"] == f"arn:aws:organizations::{ACCOUNT}:organization/{org_id}"
        assert created["MasterAccountId"] == ACCOUNT
        assert created["MasterAccountArn"] == f"arn:aws:organizations::{ACCOUNT}:account/{org_id}/{ACCOUNT}"
        assert api.describe_organization()["Organization"] == created
        assert failure(api.create_organization, FeatureSet="ALL")[0] == "AlreadyInOrganizationException"
        (root,) = api.list_roots()["Roots"]
        # All features (the default): SCPs are on from the start, FullAWSAccess on the root and
        # the management account, as AWS creates it.
        assert root["Name"] == "Root"
        assert root["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]
        for target in (root["Id"], ACCOUNT):
            listed = api.list_policies_for_target(TargetId=target, Filter=SCP)["Policies"]
            assert [p["Name"] for p in listed] == ["FullAWSAccess"]
        assert root["Arn"] == f"arn:aws:organizations::{ACCOUNT}:root/{org_id}/{root['Id']}"
        assert [a["Id"] for a in api.list_accounts()["Accounts"]] == [ACCOUNT]

        # An organization with nothing but its management account (and OUs, policies) can go.
        new_ou_id = api.create_organizational_unit(ParentId=root["Id"], Name="Empty")["OrganizationalUnit"]["Id"]
        api.create_policy(Name="Unused", Description="", Type=SCP, Content=document(deny("s3:*")))
        api.delete_organization()
        assert failure(api.describe_organization)[0] == "AWSOrganizationsNotInUseException"
        assert failure(api.describe_organizational_unit, OrganizationalUnitId=new_ou_id)[0] == (
            "AWSOrganizationsNotInUseException"
        )

        # A consolidated-billing organization cannot use SCPs.
        billing = api.create_organization(FeatureSet="CONSOLIDATED_BILLING")["Organization"]
        assert billing["FeatureSet"] == "CONSOLIDATED_BILLING" and billing["Id"] != org_id
        billing_root = api.list_roots()["Roots"][0]["Id"]
        assert api.list_roots()["Roots"][0]["PolicyTypes"] == []
        assert failure(api.enable_policy_type, RootId=billing_root, PolicyType=SCP)[0] == (
            "PolicyTypeNotAvailableForOrganizationException"
        )
        # While member accounts remain, the organization cannot be deleted.
        member = new_account(api)
        assert failure(api.delete_organization)[0] == "OrganizationNotEmptyException"
        assert api.describe_account(AccountId=member)["Account"]["Id"] == member
        assert api.describe_organization()["Organization"]["Id"] == billing["Id"]


# --- identifiers ----------------------------------------------------------------------------------


def test_ids_and_arns_follow_botocores_patterns(org: Org) -> None:
    assert_modeled_id("OrganizationId", org.id)
    assert_modeled_id("RootId", org.root)
    ou = new_ou(org)
    try:
        assert_modeled_id("OrganizationalUnitId", ou)
        # An OU id carries its root's suffix: ou-{root}-{unit}.
        assert ou.split("-")[1] == org.root.removeprefix("r-")
        described = org.api.describe_organizational_unit(OrganizationalUnitId=ou)["OrganizationalUnit"]
        assert described["Arn"] == org.arn("ou", ou)
        assert re.match(pattern_of("OrganizationalUnitArn"), described["Arn"])
        policy_id = new_scp(org)
        assert_modeled_id("PolicyId", policy_id)
        summary = org.api.describe_policy(PolicyId=policy_id)["Policy"]["PolicySummary"]
        assert summary["Arn"] == f"arn:aws:organizations::{ACCOUNT}:policy/{org.id}/service_control_policy/{policy_id}"
        org.api.delete_policy(PolicyId=policy_id)
        status = create_account(org.api)
        assert_modeled_id("CreateAccountRequestId", status["Id"])
        assert_modeled_id("AccountId", status["AccountId"])
        account = org.api.describe_account(AccountId=status["AccountId"])["Account"]
        assert account["Arn"] == org.arn("account", status["AccountId"])
        assert re.match(pattern_of("AccountArn"), account["Arn"])
        root = org.api.list_roots()["Roots"][0]
        assert re.match(pattern_of("RootArn"), root["Arn"])
        assert re.match(pattern_of("OrganizationArn"), org.api.describe_organization()["Organization"]["Arn"])
    finally:
        org.api.delete_organizational_unit(OrganizationalUnitId=ou)


def test_malformed_input_is_invalid_input_with_its_reason(org: Org) -> None:
    api = org.api
    cases: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
        (api.describe_organizational_unit, {"OrganizationalUnitId": "ou-BAD"}, "INVALID_PATTERN"),
        (api.create_organizational_unit, {"ParentId": "root", "Name": "x"}, "INVALID_PATTERN"),
        (api.list_children, {"ParentId": "r-!!", "ChildType": "ACCOUNT"}, "INVALID_PATTERN"),
        (api.list_parents, {"ChildId": org.root}, "INVALID_PATTERN"),  # a root is nobody's child
        (api.describe_account, {"AccountId": "12345"}, "INVALID_PATTERN"),
        (api.describe_policy, {"PolicyId": "policy"}, "INVALID_PATTERN"),
        (api.describe_create_account_status, {"CreateAccountRequestId": "car-UPPER"}, "INVALID_PATTERN"),
        (api.attach_policy, {"PolicyId": FULL_ACCESS, "TargetId": "everyone"}, "INVALID_PATTERN_TARGET_ID"),
        (api.describe_organizational_unit, {}, "INPUT_REQUIRED"),
        (api.create_organizational_unit, {"ParentId": org.root}, "INPUT_REQUIRED"),
        (api.create_organizational_unit, {"ParentId": org.root, "Name": "n" * 129}, "MAX_LENGTH_EXCEEDED"),
        (api.list_children, {"ParentId": org.root, "ChildType": "POLICY"}, "INVALID_ENUM"),
        (api.list_roots, {"MaxResults": 0}, "MIN_VALUE_EXCEEDED"),
        (api.list_roots, {"MaxResults": 21}, "MAX_VALUE_EXCEEDED"),
        (api.create_organization, {"FeatureSet": "SOME"}, "INVALID_ENUM"),
    ]
    for call, kwargs, reason in cases:
        assert failure(call, **kwargs) == ("InvalidInputException", reason), (call.__name__, kwargs)


# --- organizational units -------------------------------------------------------------------------


def test_organizational_units_are_created_described_renamed_and_deleted(org: Org) -> None:
    api = org.api
    name = unique("Security")
    created = api.create_organizational_unit(ParentId=org.root, Name=name, Tags=[{"Key": "team", "Value": "sec"}])[
        "OrganizationalUnit"
    ]
    ou = created["Id"]
    assert created == {"Id": ou, "Arn": org.arn("ou", ou), "Name": name}
    assert api.describe_organizational_unit(OrganizationalUnitId=ou)["OrganizationalUnit"] == created

    renamed = api.update_organizational_unit(OrganizationalUnitId=ou, Name=f"{name}-new")["OrganizationalUnit"]
    assert renamed == {**created, "Name": f"{name}-new"}
    assert api.describe_organizational_unit(OrganizationalUnitId=ou)["OrganizationalUnit"]["Name"] == f"{name}-new"

    # At most 50 tags, each key once.
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert failure(api.create_organizational_unit, ParentId=org.root, Name=unique("tags"), Tags=many) == (
        "ConstraintViolationException",
        "MAX_TAG_LIMIT_EXCEEDED",
    )
    twice = [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]
    assert failure(api.create_organizational_unit, ParentId=org.root, Name=unique("tags"), Tags=twice) == (
        "InvalidInputException",
        "DUPLICATE_TAG_KEY",
    )
    # Keys and values follow botocore's pattern: letters, numbers, spaces and _.:/=+-@ only.
    for bad in ({"Key": "line\nbreak", "Value": "v"}, {"Key": "k", "Value": "semi;colon"}):
        assert failure(api.create_organizational_unit, ParentId=org.root, Name=unique("tags"), Tags=[bad]) == (
            "InvalidInputException",
            "INVALID_PATTERN",
        )
    fine = [{"Key": "Équipe/owner:team", "Value": "data platform+ops@example.com"}]
    tagged = api.create_organizational_unit(ParentId=org.root, Name=unique("tags"), Tags=fine)["OrganizationalUnit"]
    assert api.list_tags_for_resource(ResourceId=tagged["Id"])["Tags"] == fine
    api.delete_organizational_unit(OrganizationalUnitId=tagged["Id"])

    # Names are unique among a parent's OUs, not across the organization.
    child = new_ou(org, ou, name="Shared")
    assert failure(api.create_organizational_unit, ParentId=ou, Name="Shared")[0] == (
        "DuplicateOrganizationalUnitException"
    )
    sibling = new_ou(org)
    other = new_ou(org, sibling, name="Shared")
    assert failure(api.update_organizational_unit, OrganizationalUnitId=sibling, Name=f"{name}-new")[0] == (
        "DuplicateOrganizationalUnitException"
    )
    assert api.describe_organizational_unit(OrganizationalUnitId=other)["OrganizationalUnit"]["Name"] == "Shared"

    # An OU with a child OU or an account cannot be deleted.
    assert failure(api.delete_organizational_unit, OrganizationalUnitId=ou)[0] == "OrganizationalUnitNotEmptyException"
    api.delete_organizational_unit(OrganizationalUnitId=child)
    account = new_account(api)
    api.move_account(AccountId=account, SourceParentId=org.root, DestinationParentId=ou)
    assert failure(api.delete_organizational_unit, OrganizationalUnitId=ou)[0] == "OrganizationalUnitNotEmptyException"
    api.move_account(AccountId=account, SourceParentId=ou, DestinationParentId=org.root)

    api.delete_organizational_unit(OrganizationalUnitId=ou)
    for call in (api.describe_organizational_unit, api.delete_organizational_unit):
        assert failure(call, OrganizationalUnitId=ou)[0] == "OrganizationalUnitNotFoundException"
    assert failure(api.update_organizational_unit, OrganizationalUnitId=ou, Name="x")[0] == (
        "OrganizationalUnitNotFoundException"
    )
    for missing in (org.missing_ou(), "r-zzzz"):
        assert failure(api.create_organizational_unit, ParentId=missing, Name="x")[0] == "ParentNotFoundException"
    api.delete_organizational_unit(OrganizationalUnitId=other)
    api.delete_organizational_unit(OrganizationalUnitId=sibling)


def test_ous_nest_at_most_five_levels_below_the_root(org: Org) -> None:
    chain = [new_ou(org)]
    try:
        for _ in range(4):
            chain.append(new_ou(org, chain[-1]))
        assert [p["Id"] for p in org.api.list_parents(ChildId=chain[-1])["Parents"]] == [chain[-2]]
        assert failure(org.api.create_organizational_unit, ParentId=chain[-1], Name="sixth") == (
            "ConstraintViolationException",
            "OU_DEPTH_LIMIT_EXCEEDED",
        )
        assert children(org, chain[-1], "ORGANIZATIONAL_UNIT") == []
    finally:
        for ou in reversed(chain):
            org.api.delete_organizational_unit(OrganizationalUnitId=ou)


def test_children_and_parents_of_roots_ous_and_accounts(org: Org) -> None:
    api = org.api
    top = new_ou(org, name=unique("Top"))
    below = new_ou(org, top, name="Below")
    account = new_account(api)
    api.move_account(AccountId=account, SourceParentId=org.root, DestinationParentId=top)
    try:
        assert children(org, top, "ORGANIZATIONAL_UNIT") == [below]
        assert children(org, top, "ACCOUNT") == [account]
        assert api.list_children(ParentId=top, ChildType="ACCOUNT")["Children"] == [{"Id": account, "Type": "ACCOUNT"}]
        assert top in children(org, org.root, "ORGANIZATIONAL_UNIT")
        root_accounts = children(org, org.root, "ACCOUNT")
        assert ACCOUNT in root_accounts and org.member in root_accounts and account not in root_accounts

        assert api.list_parents(ChildId=below)["Parents"] == [{"Id": top, "Type": "ORGANIZATIONAL_UNIT"}]
        assert api.list_parents(ChildId=top)["Parents"] == [{"Id": org.root, "Type": "ROOT"}]
        assert api.list_parents(ChildId=account)["Parents"] == [{"Id": top, "Type": "ORGANIZATIONAL_UNIT"}]
        assert api.list_parents(ChildId=ACCOUNT)["Parents"] == [{"Id": org.root, "Type": "ROOT"}]

        units = api.list_organizational_units_for_parent(ParentId=top)["OrganizationalUnits"]
        assert units == [{"Id": below, "Arn": org.arn("ou", below), "Name": "Below"}]
        assert api.list_organizational_units_for_parent(ParentId=below)["OrganizationalUnits"] == []
        listed = api.list_accounts_for_parent(ParentId=top)["Accounts"]
        assert [a["Id"] for a in listed] == [account]
        assert listed[0] == api.describe_account(AccountId=account)["Account"]

        for missing in ("000000000000", org.missing_ou()):
            assert failure(api.list_parents, ChildId=missing)[0] == "ChildNotFoundException"
        for call, extra in (
            (api.list_children, {"ChildType": "ACCOUNT"}),
            (api.list_organizational_units_for_parent, {}),
            (api.list_accounts_for_parent, {}),
        ):
            assert failure(call, ParentId=org.missing_ou(), **extra)[0] == "ParentNotFoundException"
    finally:
        api.move_account(AccountId=account, SourceParentId=top, DestinationParentId=org.root)
        api.delete_organizational_unit(OrganizationalUnitId=below)
        api.delete_organizational_unit(OrganizationalUnitId=top)


def test_lists_paginate_with_max_results_and_next_token(org: Org) -> None:
    api = org.api
    parent = new_ou(org)
    units = sorted(new_ou(org, parent) for _ in range(3))
    try:
        first = api.list_children(ParentId=parent, ChildType="ORGANIZATIONAL_UNIT", MaxResults=1)
        assert len(first["Children"]) == 1 and first["NextToken"]
        second = api.list_children(
            ParentId=parent, ChildType="ORGANIZATIONAL_UNIT", MaxResults=2, NextToken=first["NextToken"]
        )
        assert len(second["Children"]) == 2 and "NextToken" not in second
        assert sorted(c["Id"] for c in first["Children"] + second["Children"]) == units

        paged = api.get_paginator("list_children").paginate(
            ParentId=parent, ChildType="ORGANIZATIONAL_UNIT", PaginationConfig={"PageSize": 1}
        )
        pages = list(paged)
        assert len(pages) == 3 and sorted(c["Id"] for p in pages for c in p["Children"]) == units
        by_ou = api.get_paginator("list_organizational_units_for_parent").paginate(
            ParentId=parent, PaginationConfig={"PageSize": 2}
        )
        assert sorted(u["Id"] for p in by_ou for u in p["OrganizationalUnits"]) == units

        everyone = api.list_accounts(MaxResults=20)
        assert "NextToken" not in everyone or len(everyone["Accounts"]) == 20
        one_by_one = api.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 1})
        ids = [a["Id"] for page in one_by_one for a in page["Accounts"]]
        assert len(ids) == len(set(ids)) and {ACCOUNT, org.member} <= set(ids)

        # A NextToken the service never issued is refused, whether garbage or plausible-looking.
        def listed_after(token: str) -> tuple[str, str | None]:
            return failure(api.list_children, ParentId=parent, ChildType="ORGANIZATIONAL_UNIT", NextToken=token)

        assert listed_after("not a token!") == ("InvalidInputException", "INVALID_NEXT_TOKEN")
        forged = base64.urlsafe_b64encode(b'{"offset": 1}').decode().rstrip("=")
        assert listed_after(forged) == ("InvalidInputException", "INVALID_NEXT_TOKEN")
    finally:
        for unit in [*units, parent]:
            api.delete_organizational_unit(OrganizationalUnitId=unit)


# --- accounts -------------------------------------------------------------------------------------


def test_create_account_and_its_request_status(org: Org) -> None:
    api = org.api
    email = f"{unique('status')}@example.com"
    done = create_account(api, email=email)
    assert done["State"] == "SUCCEEDED" and "FailureReason" not in done
    assert done["CompletedTimestamp"] >= done["RequestedTimestamp"]
    account = api.describe_account(AccountId=done["AccountId"])["Account"]
    assert account["Email"] == email and account["Name"] == done["AccountName"]

    refused = create_account(api, email=email)
    assert refused["State"] == "FAILED" and refused["FailureReason"] == "EMAIL_ALREADY_EXISTS"
    assert "AccountId" not in refused

    def statuses(**kwargs: Any) -> dict[str, dict[str, Any]]:
        pages = api.get_paginator("list_create_account_status").paginate(**kwargs)
        return {s["Id"]: s for page in pages for s in page["CreateAccountStatuses"]}

    failed = statuses(States=["FAILED"])
    assert refused["Id"] in failed and done["Id"] not in failed
    assert {s["State"] for s in failed.values()} == {"FAILED"}
    succeeded = statuses(States=["SUCCEEDED"])
    assert succeeded[done["Id"]] == done and refused["Id"] not in succeeded
    assert {done["Id"], refused["Id"]} <= set(statuses())
    assert statuses(States=["IN_PROGRESS"]) == {}

    missing = "car-" + "0" * 32
    assert failure(api.describe_create_account_status, CreateAccountRequestId=missing)[0] == (
        "CreateAccountStatusNotFoundException"
    )
    assert failure(api.create_account, Email="not-an-email", AccountName="x")[0] == "InvalidInputException"


def test_accounts_are_listed_and_described(org: Org) -> None:
    api = org.api
    pages = api.get_paginator("list_accounts").paginate()
    accounts = {a["Id"]: a for page in pages for a in page["Accounts"]}
    assert {ACCOUNT, org.member} <= set(accounts)
    for account_id, account in accounts.items():
        assert account["Arn"] == org.arn("account", account_id)
        assert account["Status"] == "ACTIVE"
        assert isinstance(account["JoinedTimestamp"], dt.datetime)
    member = accounts[org.member]
    assert member["JoinedMethod"] == "CREATED" and member["Email"].endswith("@example.com")
    assert api.describe_account(AccountId=org.member)["Account"] == member
    assert api.describe_account(AccountId=ACCOUNT)["Account"] == accounts[ACCOUNT]
    assert failure(api.describe_account, AccountId="000000000000")[0] == "AccountNotFoundException"


def test_move_account_between_parents(org: Org) -> None:
    api = org.api
    account = new_account(api)
    ou = new_ou(org)
    try:
        assert api.move_account(AccountId=account, SourceParentId=org.root, DestinationParentId=ou) is not None
        assert api.list_parents(ChildId=account)["Parents"] == [{"Id": ou, "Type": "ORGANIZATIONAL_UNIT"}]
        assert [a["Id"] for a in api.list_accounts_for_parent(ParentId=ou)["Accounts"]] == [account]
        assert account not in children(org, org.root, "ACCOUNT")

        move = api.move_account
        assert failure(move, AccountId=account, SourceParentId=org.missing_ou(), DestinationParentId=org.root)[0] == (
            "SourceParentNotFoundException"
        )
        assert failure(move, AccountId=account, SourceParentId=ou, DestinationParentId=org.missing_ou())[0] == (
            "DestinationParentNotFoundException"
        )
        assert failure(move, AccountId=account, SourceParentId=ou, DestinationParentId=ou)[0] == (
            "DuplicateAccountException"
        )
        assert failure(move, AccountId="000000000000", SourceParentId=org.root, DestinationParentId=ou)[0] == (
            "AccountNotFoundException"
        )
        assert api.list_parents(ChildId=account)["Parents"][0]["Id"] == ou
    finally:
        api.move_account(AccountId=account, SourceParentId=ou, DestinationParentId=org.root)
        api.delete_organizational_unit(OrganizationalUnitId=ou)
    assert api.list_parents(ChildId=account)["Parents"] == [{"Id": org.root, "Type": "ROOT"}]


def test_a_custom_role_name_is_the_new_accounts_administrator_role(broker: LiveBroker, org: Org) -> None:
    account = new_account(org.api, RoleName="OrgAdmin")
    creds = assume(broker, account, "OrgAdmin")
    iam = session_client(broker, "iam", creds)
    role = iam.get_role(RoleName="OrgAdmin")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{account}:role/OrgAdmin"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    attached = iam.list_attached_role_policies(RoleName="OrgAdmin")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert error(iam.get_role, RoleName=ACCESS_ROLE)[0] == "NoSuchEntity"
    identity = session_client(broker, "sts", creds).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{account}:assumed-role/OrgAdmin/org-admin"


# --- service control policies ---------------------------------------------------------------------


def test_full_aws_access_is_aws_managed_and_attached_everywhere(org: Org) -> None:
    api = org.api
    policy = api.describe_policy(PolicyId=FULL_ACCESS)["Policy"]
    assert policy["PolicySummary"] == {
        "Id": FULL_ACCESS,
        "Arn": FULL_ACCESS_ARN,
        "Name": "FullAWSAccess",
        "Description": "Allows access to every operation",
        "Type": SCP,
        "AwsManaged": True,
    }
    assert json.loads(policy["Content"])["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    listed = api.get_paginator("list_policies").paginate(Filter=SCP)
    assert policy["PolicySummary"] in [p for page in listed for p in page["Policies"]]
    assert api.list_roots()["Roots"][0]["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]

    # OUs and accounts made while SCPs are enabled start with FullAWSAccess.
    ou = new_ou(org)
    account = new_account(api)
    try:
        for target in (org.root, ou, account, org.member, ACCOUNT):
            assert api.list_policies_for_target(TargetId=target, Filter=SCP)["Policies"] == [policy["PolicySummary"]]
        targets = targets_of(org, FULL_ACCESS)
        assert targets[org.root] == {
            "TargetId": org.root,
            "Arn": org.arn("root", org.root),
            "Name": "Root",
            "Type": "ROOT",
        }
        assert targets[ou]["Type"] == "ORGANIZATIONAL_UNIT" and targets[ou]["Arn"] == org.arn("ou", ou)
        assert targets[account]["Type"] == "ACCOUNT" and targets[account]["Arn"] == org.arn("account", account)
    finally:
        api.delete_organizational_unit(OrganizationalUnitId=ou)


def test_policies_are_created_described_updated_listed_and_deleted(org: Org) -> None:
    api = org.api
    name = unique("DenyLeaving")
    content = document(deny("organizations:LeaveOrganization"))
    created = api.create_policy(Name=name, Description="no leaving", Type=SCP, Content=content)["Policy"]
    policy_id = created["PolicySummary"]["Id"]
    assert created == {
        "PolicySummary": {
            "Id": policy_id,
            "Arn": f"arn:aws:organizations::{ACCOUNT}:policy/{org.id}/service_control_policy/{policy_id}",
            "Name": name,
            "Description": "no leaving",
            "Type": SCP,
            "AwsManaged": False,
        },
        "Content": content,
    }
    assert api.describe_policy(PolicyId=policy_id)["Policy"] == created
    listed = [p for page in api.get_paginator("list_policies").paginate(Filter=SCP) for p in page["Policies"]]
    assert created["PolicySummary"] in listed

    # A name is unique among the organization's policies of a type.
    assert failure(api.create_policy, Name=name, Description="", Type=SCP, Content=content)[0] == (
        "DuplicatePolicyException"
    )
    other = new_scp(org)
    assert failure(api.update_policy, PolicyId=other, Name=name)[0] == "DuplicatePolicyException"

    # UpdatePolicy changes what it is given and keeps the rest.
    renamed = api.update_policy(PolicyId=policy_id, Name=f"{name}-2")["Policy"]
    assert renamed["PolicySummary"] == {**created["PolicySummary"], "Name": f"{name}-2"}
    assert renamed["Content"] == content
    new_content = document(deny(["organizations:LeaveOrganization", "account:CloseAccount"]))
    updated = api.update_policy(PolicyId=policy_id, Description="still no leaving", Content=new_content)["Policy"]
    assert updated["PolicySummary"]["Description"] == "still no leaving"
    assert updated["PolicySummary"]["Name"] == f"{name}-2" and updated["Content"] == new_content
    assert api.describe_policy(PolicyId=policy_id)["Policy"] == updated

    api.delete_policy(PolicyId=policy_id)
    api.delete_policy(PolicyId=other)
    for call in (api.describe_policy, api.delete_policy, api.list_targets_for_policy):
        assert failure(call, PolicyId=policy_id)[0] == "PolicyNotFoundException"
    assert failure(api.update_policy, PolicyId=policy_id, Name="x")[0] == "PolicyNotFoundException"
    assert policy_id not in {p["Id"] for p in api.list_policies(Filter=SCP)["Policies"]}


def test_policy_documents_are_checked(org: Org) -> None:
    api = org.api

    def create(content: str, policy_type: str = SCP) -> tuple[str, str | None]:
        return failure(api.create_policy, Name=unique("bad"), Description="", Type=policy_type, Content=content)

    assert create("{not json")[0] == "MalformedPolicyDocumentException"
    with_principal = document({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})
    assert create(with_principal)[0] == "MalformedPolicyDocumentException"
    assert create(json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}))[0] == (
        "MalformedPolicyDocumentException"
    )

    # 5,120 characters at most.
    def sized(length: int) -> str:
        actions = [f"s3:GetObject{i}" for i in range(250)]
        text = document(deny(actions, Sid="S" * (length - len(document(deny(actions, Sid="S"))) + 1)))
        assert len(text) == length
        return text

    largest = api.create_policy(Name=unique("largest"), Description="", Type=SCP, Content=sized(5120))["Policy"]
    policy_id = largest["PolicySummary"]["Id"]
    try:
        assert create(sized(5121)) == ("ConstraintViolationException", "POLICY_CONTENT_LIMIT_EXCEEDED")
        assert failure(api.update_policy, PolicyId=policy_id, Content=sized(5121)) == (
            "ConstraintViolationException",
            "POLICY_CONTENT_LIMIT_EXCEEDED",
        )
        assert failure(api.update_policy, PolicyId=policy_id, Content=with_principal)[0] == (
            "MalformedPolicyDocumentException"
        )
        assert api.describe_policy(PolicyId=policy_id)["Policy"]["Content"] == sized(5120)
    finally:
        api.delete_policy(PolicyId=policy_id)

    # Only service control policies are served.
    for policy_type in ("TAG_POLICY", "BACKUP_POLICY"):
        assert create(json.dumps({"tags": {}}), policy_type)[0] == "InvalidInputException"
        assert failure(api.enable_policy_type, RootId=org.root, PolicyType=policy_type)[0] == "InvalidInputException"
    assert create(document(deny("s3:*")), "NOT_A_TYPE") == ("InvalidInputException", "INVALID_ENUM_POLICY_TYPE")


def test_attachments_follow_aws_rules(org: Org) -> None:
    api = org.api
    ou = new_ou(org)
    extra = [new_scp(org) for _ in range(5)]
    first = extra[0]
    try:
        api.attach_policy(PolicyId=first, TargetId=ou)
        assert policies_on(org, ou) == {FULL_ACCESS, first}
        assert targets_of(org, first) == {
            ou: {
                "TargetId": ou,
                "Arn": org.arn("ou", ou),
                "Name": api.describe_organizational_unit(OrganizationalUnitId=ou)["OrganizationalUnit"]["Name"],
                "Type": "ORGANIZATIONAL_UNIT",
            }
        }
        assert failure(api.attach_policy, PolicyId=first, TargetId=ou)[0] == "DuplicatePolicyAttachmentException"
        for policy_id in extra[1:4]:
            api.attach_policy(PolicyId=policy_id, TargetId=ou)
        assert len(policies_on(org, ou)) == 5
        assert failure(api.attach_policy, PolicyId=extra[4], TargetId=ou) == (
            "ConstraintViolationException",
            "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
        assert failure(api.delete_policy, PolicyId=first)[0] == "PolicyInUseException"
        assert failure(api.detach_policy, PolicyId=extra[4], TargetId=ou)[0] == "PolicyNotAttachedException"

        for policy_id in [FULL_ACCESS, *extra[1:4]]:
            api.detach_policy(PolicyId=policy_id, TargetId=ou)
        assert policies_on(org, ou) == {first}
        assert failure(api.detach_policy, PolicyId=first, TargetId=ou) == (
            "ConstraintViolationException",
            "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
        )
        assert policies_on(org, ou) == {first}

        missing_policy = "p-" + "z" * 8
        assert failure(api.attach_policy, PolicyId=missing_policy, TargetId=ou)[0] == "PolicyNotFoundException"
        for target in (org.missing_ou(), "000000000000"):
            assert failure(api.attach_policy, PolicyId=first, TargetId=target)[0] == "TargetNotFoundException"
            assert failure(api.list_policies_for_target, TargetId=target, Filter=SCP)[0] == "TargetNotFoundException"
    finally:
        api.attach_policy(PolicyId=FULL_ACCESS, TargetId=ou)
        api.detach_policy(PolicyId=first, TargetId=ou)
        api.delete_organizational_unit(OrganizationalUnitId=ou)
        for policy_id in extra:
            api.delete_policy(PolicyId=policy_id)
    assert ou not in targets_of(org, FULL_ACCESS)


def test_full_aws_access_cannot_be_changed_or_deleted(org: Org) -> None:
    api = org.api
    before = api.describe_policy(PolicyId=FULL_ACCESS)["Policy"]
    # AWS: InvalidInputException, IMMUTABLE_POLICY, "a policy that is managed by AWS and can't be modified".
    assert failure(api.update_policy, PolicyId=FULL_ACCESS, Name="Mine") == (
        "InvalidInputException",
        "IMMUTABLE_POLICY",
    )
    assert failure(api.update_policy, PolicyId=FULL_ACCESS, Content=document(deny("*"))) == (
        "InvalidInputException",
        "IMMUTABLE_POLICY",
    )
    assert failure(api.delete_policy, PolicyId=FULL_ACCESS) == ("InvalidInputException", "IMMUTABLE_POLICY")
    assert api.describe_policy(PolicyId=FULL_ACCESS)["Policy"] == before


def test_disabling_scps_detaches_them_all_and_enabling_starts_again_from_full_aws_access(
    broker: LiveBroker, org: Org
) -> None:
    api = org.api
    member_iam = session_client(broker, "iam", org.member_creds)
    ou = new_ou(org)
    no_groups = new_scp(org, deny("iam:CreateGroup"))
    api.attach_policy(PolicyId=no_groups, TargetId=org.member)
    try:
        assert error(member_iam.create_group, GroupName="blocked")[0] == "AccessDenied"

        disabled = api.disable_policy_type(RootId=org.root, PolicyType=SCP)["Root"]
        assert disabled["Id"] == org.root and disabled["PolicyTypes"] == []
        assert api.list_roots()["Roots"][0]["PolicyTypes"] == []
        for target in (org.root, ou, org.member, ACCOUNT):
            assert policies_on(org, target) == set()
        assert targets_of(org, FULL_ACCESS) == {} and targets_of(org, no_groups) == {}
        # SCPs no longer bind the member account.
        member_iam.create_group(GroupName="allowed")
        member_iam.delete_group(GroupName="allowed")
        # Without the policy type, nothing can be attached, and it cannot be disabled twice.
        assert failure(api.attach_policy, PolicyId=no_groups, TargetId=ou)[0] == "PolicyTypeNotEnabledException"
        assert failure(api.disable_policy_type, RootId=org.root, PolicyType=SCP)[0] == "PolicyTypeNotEnabledException"
        # Policies themselves survive.
        assert api.describe_policy(PolicyId=no_groups)["Policy"]["PolicySummary"]["Id"] == no_groups
    finally:
        if not api.list_roots()["Roots"][0]["PolicyTypes"]:
            enabled = api.enable_policy_type(RootId=org.root, PolicyType=SCP)["Root"]
            assert enabled["PolicyTypes"] == [{"Type": SCP, "Status": "ENABLED"}]
    # Enabling attaches FullAWSAccess to the root, every OU and every account that already exist.
    targets = targets_of(org, FULL_ACCESS)
    assert {org.root, ou, org.member, ACCOUNT} <= set(targets)
    assert policies_on(org, org.member) == {FULL_ACCESS}
    member_iam.create_group(GroupName="allowed-again")
    member_iam.delete_group(GroupName="allowed-again")
    assert failure(api.enable_policy_type, RootId=org.root, PolicyType=SCP)[0] == "PolicyTypeAlreadyEnabledException"
    assert failure(api.enable_policy_type, RootId="r-zzzz", PolicyType=SCP)[0] == "RootNotFoundException"
    api.delete_policy(PolicyId=no_groups)
    api.delete_organizational_unit(OrganizationalUnitId=ou)


# --- who may call what ----------------------------------------------------------------------------


def test_a_member_account_may_describe_its_organization_and_nothing_more(broker: LiveBroker, org: Org) -> None:
    member = session_client(broker, "organizations", org.member_creds)
    described = member.describe_organization()["Organization"]
    assert described["Id"] == org.id and described["MasterAccountId"] == ACCOUNT
    assert described["Arn"] == f"arn:aws:organizations::{ACCOUNT}:organization/{org.id}"
    name = unique("from-member")
    assert failure(member.create_organizational_unit, ParentId=org.root, Name=name)[0] == "AccessDeniedException"
    assert name not in {
        u["Name"] for u in org.api.list_organizational_units_for_parent(ParentId=org.root)["OrganizationalUnits"]
    }
    # Only the management account (or a delegated administrator) reads the structure.
    assert failure(member.list_accounts)[0] == "AccessDeniedException"
    assert failure(member.list_roots)[0] == "AccessDeniedException"
    assert failure(member.describe_account, AccountId=org.member)[0] == "AccessDeniedException"
    assert failure(member.delete_organization)[0] == "AccessDeniedException"
    # It is in an organization already, so it cannot make one of its own.
    assert failure(member.create_organization)[0] == "AlreadyInOrganizationException"


def test_management_account_users_need_organizations_permissions(broker: LiveBroker, iam: Any, org: Org) -> None:
    key, secret = user_with_key(iam, unique("no-org"))
    nobody = organizations(broker, key, secret)
    for call in (nobody.describe_organization, nobody.list_roots, nobody.list_accounts):
        code, message = error(call)
        assert code == "AccessDeniedException"
        assert "organizations:" in message
    code, message = error(nobody.create_organizational_unit, ParentId=org.root, Name="denied")
    assert code == "AccessDeniedException" and "organizations:CreateOrganizationalUnit" in message

    read_only = document(allow(["organizations:Describe*", "organizations:List*"]))
    key, secret = user_with_key(iam, unique("org-reader"), policy=read_only)
    reader = organizations(broker, key, secret)
    assert reader.describe_organization()["Organization"]["Id"] == org.id
    assert reader.list_roots()["Roots"][0]["Id"] == org.root
    assert org.member in {a["Id"] for a in reader.list_accounts()["Accounts"]}
    assert reader.describe_policy(PolicyId=FULL_ACCESS)["Policy"]["PolicySummary"]["AwsManaged"] is True
    for call, kwargs in (
        (reader.create_organizational_unit, {"ParentId": org.root, "Name": "denied"}),
        (reader.create_policy, {"Name": "denied", "Description": "", "Type": SCP, "Content": document(deny("*"))}),
        (reader.create_account, {"Email": "denied@example.com", "AccountName": "denied"}),
        (reader.detach_policy, {"PolicyId": FULL_ACCESS, "TargetId": org.root}),
    ):
        assert failure(call, **kwargs)[0] == "AccessDeniedException", call.__name__

    # Resource-level permissions use AWS's ARNs: OUs may be made under one OU only.
    home = new_ou(org)
    own = document(allow("organizations:CreateOrganizationalUnit", org.arn("ou", home)))
    key, secret = user_with_key(iam, unique("ou-maker"), policy=own)
    maker = organizations(broker, key, secret)
    made = maker.create_organizational_unit(ParentId=home, Name="mine")["OrganizationalUnit"]["Id"]
    assert failure(maker.create_organizational_unit, ParentId=org.root, Name="not-mine")[0] == "AccessDeniedException"
    org.api.delete_organizational_unit(OrganizationalUnitId=made)
    org.api.delete_organizational_unit(OrganizationalUnitId=home)


# --- the audit trail and the AWS CLI --------------------------------------------------------------


def test_organizations_calls_are_cloudtrail_events(broker: LiveBroker, org: Org) -> None:
    name = unique("Audited")
    ou = new_ou(org, name=name)
    org.api.delete_organizational_unit(OrganizationalUnitId=ou)
    trail = admin_client(broker, "cloudtrail")
    found = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateOrganizationalUnit"}]
    )["Events"]
    (event,) = [e for e in found if json.loads(e["CloudTrailEvent"])["requestParameters"].get("name") == name]
    assert event["EventSource"] == "organizations.amazonaws.com" and event["ReadOnly"] == "false"
    assert event["Username"] == "admin"
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventSource"] == "organizations.amazonaws.com"
    assert record["eventName"] == "CreateOrganizationalUnit"
    assert record["requestParameters"] == {"parentId": org.root, "name": name}
    assert record["responseElements"]["organizationalUnit"]["id"] == ou
    assert record["recipientAccountId"] == ACCOUNT and "errorCode" not in record

    # A refused call is audited too, with its error, in the trail of the account that made it.
    refused_name = unique("Refused")
    member = session_client(broker, "organizations", org.member_creds)
    assert failure(member.create_organizational_unit, ParentId=org.root, Name=refused_name)[0] == (
        "AccessDeniedException"
    )
    found = session_client(broker, "cloudtrail", org.member_creds).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateOrganizationalUnit"}]
    )["Events"]
    (refused,) = [json.loads(e["CloudTrailEvent"]) for e in found if refused_name in e["CloudTrailEvent"]]
    assert refused["errorCode"] == "AccessDeniedException" and refused["eventSource"] == "organizations.amazonaws.com"
    assert refused["userIdentity"]["accountId"] == org.member

    listed = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ListRoots"}])
    assert listed["Events"] and all(
        e["ReadOnly"] == "true" and e["EventSource"] == "organizations.amazonaws.com" for e in listed["Events"]
    )


def test_aws_cli_lists_roots_and_creates_an_ou(broker: LiveBroker, org: Org, tmp_path: Path) -> None:
    admin = bootstrap_admin(broker.runtime)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": admin.access_key_id,
        "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": broker.url,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
    }

    def aws(*args: str) -> Any:
        done = subprocess.run(
            [AWS, "organizations", *args, "--output", "json"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"aws organizations {' '.join(args)}: {done.stderr}"
        return json.loads(done.stdout)

    roots = aws("list-roots")["Roots"]
    assert [r["Id"] for r in roots] == [org.root]
    assert roots[0]["Arn"] == org.arn("root", org.root) and roots[0]["Name"] == "Root"
    name = unique("FromCli")
    unit = aws("create-organizational-unit", "--parent-id", org.root, "--name", name)["OrganizationalUnit"]
    try:
        assert unit["Name"] == name and unit["Arn"] == org.arn("ou", unit["Id"])
        assert re.fullmatch(pattern_of("OrganizationalUnitId"), unit["Id"])
        assert org.api.describe_organizational_unit(OrganizationalUnitId=unit["Id"])["OrganizationalUnit"] == unit
    finally:
        org.api.delete_organizational_unit(OrganizationalUnitId=unit["Id"])
