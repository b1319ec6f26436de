"""Hostile Organizations calls: every action, fed wrong types, junk ids and oversized values,
answers with a modeled JSON error (never a 500), and the organization is intact afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.iam.errors import ERRORS
from broker.services.api import JSON_ACTIONS
from broker.services.api.registry import SERVICES
from broker.services.setup import AdminCredentials, bootstrap_admin
from tests.support.aws import running_broker
from tests.support.brokers import LiveBroker

TARGET_PREFIX = SERVICES["organizations"].namespace

# DeleteOrganization takes no input: any body deletes the (empty) organization, as it should.
ACTIONS = sorted(
    name
    for name in JSON_ACTIONS
    if name.startswith(TARGET_PREFIX + ".") and name != f"{TARGET_PREFIX}.DeleteOrganization"
)
FIELDS = (
    "AccountId",
    "AccountName",
    "ChildId",
    "ChildType",
    "Content",
    "CreateAccountRequestId",
    "Description",
    "DestinationParentId",
    "Email",
    "FeatureSet",
    "Filter",
    "MaxResults",
    "Name",
    "NextToken",
    "OrganizationalUnitId",
    "ParentId",
    "PolicyId",
    "PolicyType",
    "ResourceId",
    "RoleName",
    "RootId",
    "SourceParentId",
    "States",
    "TagKeys",
    "Tags",
    "TargetId",
    "Type",
)
JUNK: list[Any] = [
    None,
    0,
    -1,
    10**30,
    True,
    1.5,
    "",
    " ",
    "\x00",
    "r-\u202e1234",
    "ou-zzzz-zzzzzzzz",
    "p-" + "A" * 200,
    "x" * 100_000,
    "123456789012",
    "SERVICE_CONTROL_POLICY",
    [],
    ["ACCOUNT", None],
    {},
    {"Key": "k"},
    [{"Key": None, "Value": 1}],
    [{"Key": "k", "Value": "v"}, {"Key": "k", "Value": "w"}],
    "{not json",
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}',
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[tuple[LiveBroker, AdminCredentials]]:
    with running_broker(tmp_path_factory.mktemp("org-hostile"), keys_dir, "sqlite") as broker:
        admin = bootstrap_admin(broker.runtime)
        yield broker, admin


def _call(live: tuple[LiveBroker, AdminCredentials], target: str, body: bytes) -> requests.Response:
    broker, admin = live
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    request = AWSRequest(method="POST", url=broker.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(admin.access_key_id, admin.secret_access_key), "organizations", "us-east-1").add_auth(request)
    return requests.post(broker.url + "/", data=body, headers=dict(request.headers.items()), timeout=10)


def _json(live: tuple[LiveBroker, AdminCredentials], action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = _call(live, f"{TARGET_PREFIX}.{action}", json.dumps(body).encode())
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def organization(live: tuple[LiveBroker, AdminCredentials]) -> str:
    _json(live, "CreateOrganization", {"FeatureSet": "ALL"})
    root = _json(live, "ListRoots", {})["Roots"][0]["Id"]
    return str(root)


def _assert_modeled_error(response: requests.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert isinstance(response.json(), dict)
        return
    body = response.json()
    assert body["__type"] in ERRORS, body
    assert response.headers["x-amzn-ErrorType"] == body["__type"]
    assert "Traceback" not in response.text


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.sampled_from(ACTIONS),
    body=st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(JUNK), max_size=6),
)
def test_junk_fields_get_modeled_errors(
    live: tuple[LiveBroker, AdminCredentials], organization: str, action: str, body: dict[str, Any]
) -> None:
    _assert_modeled_error(_call(live, action, json.dumps(body).encode()))


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b"{", b"\xff\xfe", b'"text"', b"{}" * 1000])
def test_bodies_that_are_not_objects(live: tuple[LiveBroker, AdminCredentials], organization: str, raw: bytes) -> None:
    for action in ACTIONS:
        _assert_modeled_error(_call(live, action, raw))


def test_the_organization_is_intact_after_the_fuzzing(
    live: tuple[LiveBroker, AdminCredentials], organization: str
) -> None:
    roots = _json(live, "ListRoots", {})["Roots"]
    assert [root["Id"] for root in roots] == [organization]
    assert roots[0]["PolicyTypes"] == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
    attached = _json(live, "ListPoliciesForTarget", {"TargetId": organization, "Filter": "SERVICE_CONTROL_POLICY"})
    assert "p-FullAWSAccess" in [policy["Id"] for policy in attached["Policies"]]


@pytest.fixture(scope="module")
def live_postgres(
    tmp_path_factory: pytest.TempPathFactory, keys_dir: Path
) -> Iterator[tuple[LiveBroker, AdminCredentials]]:
    with running_broker(tmp_path_factory.mktemp("org-hostile-pg"), keys_dir, "postgresql") as broker:
        admin = bootstrap_admin(broker.runtime)
        _json((broker, admin), "CreateOrganization", {"FeatureSet": "ALL"})
        yield broker, admin


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("CreateOrganizationalUnit", {"ParentId": "ROOT", "Name": "ou\x00"}),
        ("CreatePolicy", {"Name": "p\x00", "Description": "d", "Type": "SERVICE_CONTROL_POLICY", "Content": "{}"}),
        ("CreatePolicy", {"Name": "p", "Description": "d\x00", "Type": "SERVICE_CONTROL_POLICY", "Content": "{}"}),
        ("CreateAccount", {"Email": "a\x00b@example.com", "AccountName": "nul"}),
        ("InviteAccountToOrganization", {"Target": {"Type": "EMAIL", "Id": "a\x00b@example.com"}}),
        # Java's \w (botocore's pattern) is ASCII: IAM would refuse the role later, with IAM's code.
        ("CreateAccount", {"Email": "role@example.com", "AccountName": "role", "RoleName": "Accès"}),
    ],
)
def test_text_no_database_stores_is_invalid_input_not_a_500(
    live_postgres: tuple[LiveBroker, AdminCredentials], action: str, body: dict[str, Any]
) -> None:
    # PostgreSQL refuses NUL in text: these were 500s there (SQLite stored them).
    if body.get("ParentId") == "ROOT":
        body = {**body, "ParentId": _json(live_postgres, "ListRoots", {})["Roots"][0]["Id"]}
    response = _call(live_postgres, f"{TARGET_PREFIX}.{action}", json.dumps(body).encode())
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "InvalidInputException"
    assert response.json()["Reason"] == "INVALID_PATTERN"
