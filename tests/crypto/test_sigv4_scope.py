"""A SigV4 credential scope must name the service called: an IAM call signed for ``sts`` (or any
other service) is refused as AWS refuses it, in the Authorization header and in a presigned URL,
and the refusal is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import select

from broker.crypto.sigv4 import SigV4Error, parse_signed_request
from broker.services.setup import bootstrap_admin
from broker.store import models
from tests.support.aws import running_broker
from tests.support.brokers import LiveBroker

LIST_USERS = "Action=ListUsers&Version=2010-05-08"
CALLER_IDENTITY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
LOOKUP_EVENTS = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
CREDENTIALS = Credentials("AKIAZ2Z3Z4Z5Z6Z7ABCD", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def scoped_message(service: str) -> str:
    return f"Credential should be scoped to correct service: '{service}'. "


def header_signed(url: str, body: str, service: str, credentials: Credentials, headers: dict[str, str]) -> AWSRequest:
    request = AWSRequest(method="POST", url=url, data=body.encode(), headers=dict(headers))
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    return request


def presigned(url: str, query: str, service: str, credentials: Credentials) -> AWSRequest:
    """A presigned POST with the Query parameters in the URL and an empty body."""
    request = AWSRequest(method="POST", url=f"{url}?{query}", data=b"")
    SigV4QueryAuth(credentials, service, "us-east-1", expires=60).add_auth(request)
    return request


def parsed(request: AWSRequest, **kwargs: Any) -> Any:
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    headers = {name: str(value) for name, value in prepared.headers.items()} | {"Host": parts.netloc}
    return parse_signed_request("POST", parts.path or "/", parts.query, headers, body, **kwargs)


@pytest.mark.parametrize("form", ["header", "presigned"])
def test_scope_naming_another_service_is_refused_before_the_hmac(form: str) -> None:
    url = "http://broker.test/"
    signed_for_sts = (
        header_signed(url, LIST_USERS, "sts", CREDENTIALS, FORM)
        if form == "header"
        else presigned(url, LIST_USERS, "sts", CREDENTIALS)
    )
    with pytest.raises(SigV4Error) as refused:
        parsed(signed_for_sts, services={"iam"})
    assert (refused.value.code, refused.value.message) == ("SignatureDoesNotMatch", scoped_message("iam"))
    assert parsed(signed_for_sts, services={"sts"}).service == "sts"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[LiveBroker]:
    with running_broker(tmp_path_factory.mktemp("sigv4-scope"), keys_dir, "sqlite") as live:
        yield live


@pytest.fixture(scope="module")
def admin(broker: LiveBroker) -> Credentials:
    created = bootstrap_admin(broker.runtime)
    return Credentials(created.access_key_id, created.secret_access_key)


def send(request: AWSRequest) -> requests.Response:
    prepared = request.prepare()
    return requests.post(prepared.url, data=prepared.body, headers=dict(prepared.headers.items()), timeout=10)


def query_error(response: requests.Response) -> tuple[str, str]:
    error = ElementTree.fromstring(response.content).find("{*}Error")  # noqa: S314  (the broker's own response)
    assert error is not None, response.text
    return error.findtext("{*}Code") or "", error.findtext("{*}Message") or ""


def audited_errors(broker: LiveBroker, event_name: str) -> list[str | None]:
    with broker.runtime.db.read() as tx:
        query = select(models.AuditEvent.error_code).where(models.AuditEvent.event_name == event_name)
        return list(tx.scalars(query.order_by(models.AuditEvent.seq)))


@pytest.mark.parametrize("form", ["header", "presigned"])
def test_iam_call_signed_for_sts_is_refused_and_audited(broker: LiveBroker, admin: Credentials, form: str) -> None:
    def sign(service: str) -> AWSRequest:
        if form == "header":
            return header_signed(broker.url + "/", LIST_USERS, service, admin, FORM)
        return presigned(broker.url + "/", LIST_USERS, service, admin)

    before = audited_errors(broker, "ListUsers")
    wrong = send(sign("sts"))
    assert wrong.status_code == 403, wrong.text
    assert query_error(wrong) == ("SignatureDoesNotMatch", scoped_message("iam"))
    assert audited_errors(broker, "ListUsers") == [*before, "SignatureDoesNotMatch"]

    right = send(sign("iam"))
    assert right.status_code == 200, right.text
    assert "<UserName>admin</UserName>" in right.text
    assert audited_errors(broker, "ListUsers") == [*before, "SignatureDoesNotMatch", None]


def test_sts_call_signed_for_iam_is_refused(broker: LiveBroker, admin: Credentials) -> None:
    wrong = send(header_signed(broker.url + "/", CALLER_IDENTITY, "iam", admin, FORM))
    assert wrong.status_code == 403
    assert query_error(wrong) == ("SignatureDoesNotMatch", scoped_message("sts"))
    # Vault-style identity proof: a presigned GetCallerIdentity must be scoped to sts.
    assert send(presigned(broker.url + "/", CALLER_IDENTITY, "iam", admin)).status_code == 403
    assert send(presigned(broker.url + "/", CALLER_IDENTITY, "sts", admin)).status_code == 200


def test_json_protocol_call_signed_for_another_service_is_refused(broker: LiveBroker, admin: Credentials) -> None:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": LOOKUP_EVENTS}
    wrong = send(header_signed(broker.url + "/", "{}", "sts", admin, headers))
    assert wrong.status_code == 400, wrong.text
    error = wrong.json()
    assert error["__type"].rpartition("#")[2] == "InvalidSignatureException"
    assert error["message"] == scoped_message("cloudtrail")
    assert audited_errors(broker, "LookupEvents")[-1] == "InvalidSignatureException"
    right = send(header_signed(broker.url + "/", "{}", "cloudtrail", admin, headers))
    assert right.status_code == 200, right.text
    assert "Events" in json.loads(right.text)
