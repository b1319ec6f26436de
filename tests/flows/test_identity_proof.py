"""The identity-proof pattern against a live broker: a service learns who its caller is by sending
the broker a GetCallerIdentity request the caller signed (a presigned URL, as aws-iam-authenticator
builds it, or a header-signed POST, as Vault's AWS auth method forwards it)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from defusedxml import ElementTree

from tests.support.aws import (  # module_broker, module_iam: the "broker" and "iam" fixtures
    ACCOUNT,
    client,
    module_broker,  # noqa: F401
    module_iam,  # noqa: F401
    user_with_key,
)
from tests.support.brokers import LiveBroker

NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
CLUSTER_HEADER = "x-k8s-aws-id"
VAULT_HEADER = "X-Vault-AWS-IAM-Server-ID"


def caller_arn(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    arn = ElementTree.fromstring(response.content).find("sts:GetCallerIdentityResult/sts:Arn", NS)
    assert arn is not None and arn.text is not None
    return arn.text


def error_code(response: requests.Response) -> str:
    code = ElementTree.fromstring(response.content).find("sts:Error/sts:Code", NS)
    assert code is not None and code.text is not None
    return code.text


@pytest.fixture(scope="module")
def alice(iam: Any) -> tuple[str, str]:
    return user_with_key(iam, "alice")


def test_botocore_presigned_get_caller_identity(broker: LiveBroker, alice: tuple[str, str]) -> None:
    sts = client(broker, "sts", *alice)
    url = sts.generate_presigned_url("get_caller_identity", HttpMethod="GET", ExpiresIn=60)
    assert caller_arn(requests.get(url, timeout=10)) == f"arn:aws:iam::{ACCOUNT}:user/alice"
    # Sent with another method than the one signed, it proves nothing.
    assert error_code(requests.post(url, timeout=10)) == "SignatureDoesNotMatch"


def test_presigned_by_temporary_credentials(broker: LiveBroker, alice: tuple[str, str]) -> None:
    session = client(broker, "sts", *alice).get_session_token(DurationSeconds=900)["Credentials"]
    sts = client(broker, "sts", session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])
    url = sts.generate_presigned_url("get_caller_identity", HttpMethod="GET", ExpiresIn=60)
    assert "X-Amz-Security-Token=" in url
    assert caller_arn(requests.get(url, timeout=10)) == f"arn:aws:iam::{ACCOUNT}:user/alice"


def _cluster_token_url(broker: LiveBroker, keys: tuple[str, str], cluster: str) -> str:
    # aws-iam-authenticator's token: a presigned GetCallerIdentity with the cluster id signed in.
    sts = client(broker, "sts", *keys)

    def add_cluster(request: AWSRequest, **_: Any) -> None:
        request.headers[CLUSTER_HEADER] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster)
    return str(sts.generate_presigned_url("get_caller_identity", HttpMethod="GET", ExpiresIn=60))


def test_cluster_id_header_is_bound_to_the_presigned_url(broker: LiveBroker, alice: tuple[str, str]) -> None:
    url = _cluster_token_url(broker, alice, "prod-cluster")
    assert "x-k8s-aws-id" in urlsplit(url).query.lower()  # among X-Amz-SignedHeaders
    assert caller_arn(requests.get(url, headers={CLUSTER_HEADER: "prod-cluster"}, timeout=10)).endswith("user/alice")
    # A token minted for one cluster does not prove anything to another, nor without the header.
    assert error_code(requests.get(url, headers={CLUSTER_HEADER: "other"}, timeout=10)) == "SignatureDoesNotMatch"
    assert error_code(requests.get(url, timeout=10)) == "SignatureDoesNotMatch"


class _UnsignedPayloadQueryAuth(SigV4QueryAuth):
    def payload(self, request: AWSRequest) -> str:
        return botocore.auth.UNSIGNED_PAYLOAD


def _unsigned_payload_url(broker: LiveBroker, keys: tuple[str, str], method: str = "GET") -> str:
    request = AWSRequest(
        method=method, url=broker.url + "/", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    )
    _UnsignedPayloadQueryAuth(Credentials(*keys), "sts", "us-east-1", expires=60).add_auth(request)
    return str(request.prepare().url)


def test_presigned_over_unsigned_payload(broker: LiveBroker, alice: tuple[str, str]) -> None:
    url = _unsigned_payload_url(broker, alice)
    assert caller_arn(requests.get(url, timeout=10)).endswith("user/alice")


def test_presigned_request_with_a_body_it_does_not_sign_is_refused(broker: LiveBroker, alice: tuple[str, str]) -> None:
    url = _unsigned_payload_url(broker, alice, method="POST")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # A parameter added in the body, where the signature over UNSIGNED-PAYLOAD does not reach.
    response = requests.post(url, data="DurationSeconds=900", headers=form, timeout=10)
    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"
    claimed = {**form, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    response = requests.post(url, data="DurationSeconds=900", headers=claimed, timeout=10)
    assert error_code(response) == "SignatureDoesNotMatch"
    assert "x-amz-content-sha256" in response.text


def test_vault_style_forwarded_signed_post(broker: LiveBroker, alice: tuple[str, str]) -> None:
    # The client signs a POST with the server id in a signed header and hands method, URL, body
    # and headers to the service, which sends them to the broker as they are.
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(
        method="POST",
        url=broker.url + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", VAULT_HEADER: "vault.example"},
    )
    SigV4Auth(Credentials(*alice), "sts", "us-east-1").add_auth(request)
    prepared = request.prepare()
    forwarded = json.loads(json.dumps({name: str(value) for name, value in prepared.headers.items()}))
    assert VAULT_HEADER.lower() in forwarded["Authorization"]  # signed in
    response = requests.post(prepared.url, data=body, headers=forwarded, timeout=10)
    assert caller_arn(response).endswith("user/alice")
    # The service checks the header it expects; a request signed for another server fails.
    forwarded[VAULT_HEADER] = "other.example"
    assert error_code(requests.post(prepared.url, data=body, headers=forwarded, timeout=10)) == "SignatureDoesNotMatch"
