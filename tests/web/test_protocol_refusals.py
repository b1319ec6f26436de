"""Requests the AWS endpoint refuses before or while reading them: a Query parameter given twice,
no action or an unknown one, an unknown X-Amz-Target, a JSON body nested too deeply. Each is a 4xx
in the protocol's error shape, never a 500, and each is in the audit trail."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from flask.testing import FlaskClient

from broker.policy._json import MAX_JSON_DEPTH
from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from broker.web.app import create_app
from tests.fuzz.support import Keys, audited, json_error, query_error, signed_headers

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
ORGANIZATIONS = "AWSOrganizationsV20161128"


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    return create_app(runtime=runtime).test_client()


@pytest.fixture
def admin(runtime: Runtime) -> Keys:
    created = bootstrap_admin(runtime)
    return Keys(created.access_key_id, created.secret_access_key)


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ("Action=GetUser&Action=GetUser&Version=2010-05-08", "Action"),
        ("Action=GetUser&Action=ListUsers&Version=2010-05-08", "Action"),
        ("Action=GetUser&Version=2010-05-08&Version=2010-05-08", "Version"),
        ("Action=GetUser&Version=2010-05-08&UserName=a&UserName=b", "UserName"),
        ("Action=GetCallerIdentity&Version=2011-06-15&Version=2011-06-15", "Version"),
    ],
)
def test_a_parameter_given_twice_is_refused_and_audited(
    client: FlaskClient, runtime: Runtime, admin: Keys, body: str, name: str
) -> None:
    service = "sts" if "2011-06-15" in body else "iam"
    for headers in (FORM, signed_headers(admin, service, "POST", "/", body.encode(), FORM)):
        response = client.post("/", data=body, headers=headers)
        assert response.status_code == 400
        code, request_id = query_error(response)
        assert code == "InvalidQueryParameter"
        assert f"parameter {name} is given more than once" in response.get_data(as_text=True)
        record = audited(runtime, request_id, "InvalidQueryParameter")
        assert record["eventName"] in ("GetUser", "GetCallerIdentity")
        assert record["eventSource"] == f"{service}.amazonaws.com"
        assert record["userIdentity"]["type"] == "Unknown"  # refused before authentication


def test_a_repeated_parameter_in_the_query_string_of_a_get(client: FlaskClient, runtime: Runtime) -> None:
    response = client.get("/?Action=ListUsers&Version=2010-05-08&Action=ListUsers")
    code, request_id = query_error(response)
    assert (response.status_code, code) == (400, "InvalidQueryParameter")
    audited(runtime, request_id, "InvalidQueryParameter")


@pytest.mark.parametrize(
    ("body", "code", "event_name"),
    [
        ("Version=2010-05-08", "MissingAction", "UnknownOperation"),
        ("Action=&Version=2010-05-08", "MissingAction", "UnknownOperation"),
        ("Action=FlyToTheMoon&Version=2010-05-08", "InvalidAction", "FlyToTheMoon"),
        ("Action=%00%3Cx%3E&Version=2010-05-08", "InvalidAction", "UnknownOperation"),
    ],
)
def test_requests_naming_no_operation_are_audited(
    client: FlaskClient, runtime: Runtime, body: str, code: str, event_name: str
) -> None:
    response = client.post("/", data=body, headers=FORM)
    assert response.status_code == 400
    assert query_error(response)[0] == code
    record = audited(runtime, query_error(response)[1], code)
    assert record["eventName"] == event_name


def test_an_echoed_control_character_keeps_the_error_readable_xml(client: FlaskClient) -> None:
    response = client.post("/", data="Action=Get%01User%EF%BF%BE&Version=2010-05-08", headers=FORM)
    root = ET.fromstring(response.get_data())  # noqa: S314  XML 1.0 cannot carry U+0001 or U+FFFE at all
    assert "Get\ufffdUser\ufffd" in ET.tostring(root, encoding="unicode")


def test_an_unknown_target_is_refused_and_audited(client: FlaskClient, runtime: Runtime) -> None:
    headers = {"X-Amz-Target": f"{ORGANIZATIONS}.LaunchRocket", "Content-Type": "application/x-amz-json-1.1"}
    response = client.post("/", data=b"{}", headers=headers)
    code, request_id = json_error(response)
    assert (response.status_code, code) == (400, "UnknownOperationException")
    record = audited(runtime, request_id, "UnknownOperationException")
    assert (record["eventName"], record["eventSource"]) == ("LaunchRocket", "organizations.amazonaws.com")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 200_000])
def test_a_deeply_nested_json_body_is_a_serialization_error(
    client: FlaskClient, runtime: Runtime, admin: Keys, depth: int
) -> None:
    body = ('{"Filter":' + "[" * depth + "]" * depth + "}").encode()
    headers = {"X-Amz-Target": f"{ORGANIZATIONS}.ListRoots", "Content-Type": "application/x-amz-json-1.1"}
    response = client.post("/", data=body, headers=signed_headers(admin, "organizations", "POST", "/", body, headers))
    code, request_id = json_error(response)
    assert (response.status_code, code) == (400, "SerializationException")
    assert f"more than {MAX_JSON_DEPTH} levels" in json.loads(response.get_data())["message"]
    record = audited(runtime, request_id, "SerializationException")
    assert record["eventName"] == "ListRoots"
    assert record["userIdentity"]["type"] == "IAMUser"  # authenticated first, then the body was read


def test_a_body_at_the_depth_limit_is_read(client: FlaskClient, admin: Keys) -> None:
    arrays = MAX_JSON_DEPTH - 1
    body = ('{"Filter":' + "[" * arrays + "]" * arrays + "}").encode()
    headers = {"X-Amz-Target": f"{ORGANIZATIONS}.ListRoots", "Content-Type": "application/x-amz-json-1.1"}
    response = client.post("/", data=body, headers=signed_headers(admin, "organizations", "POST", "/", body, headers))
    # Read, then refused for what it says (no organization yet), not for how it nests.
    assert json_error(response)[0] != "SerializationException"


def test_raw_bytes_in_the_query_string_are_not_a_server_error(client: FlaskClient) -> None:
    response = client.post(
        "/", data="Action=GetUser&Version=2010-05-08", headers=FORM, environ_overrides={"QUERY_STRING": "x=\xff"}
    )
    assert response.status_code < 500
