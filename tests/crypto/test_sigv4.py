"""SigV4 verification against requests signed by botocore itself (and AWS's test vectors)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.crypto.sigv4 import (
    MAX_PRESIGNED_EXPIRES,
    SignedRequest,
    SigV4Error,
    authorization_header,
    derive_signing_key,
    parse_signed_request,
    verify_signature,
)

ACCESS_KEY_ID = "AKIAZ2Z3Z4Z5Z6Z7ABCD"
TEMP_ACCESS_KEY_ID = "ASIAZ2Z3Z4Z5Z6Z7ABCD"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
# A JWT-shaped session token, as the broker issues them.
SESSION_TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJqdGkiOiJ0b2tlbi0xIn0.c2lnbmF0dXJl"
SIGNED_AT = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
ENDPOINT = "http://broker.test:8443"


@dataclass(frozen=True)
class Wire:
    """A request as the broker's WSGI layer sees it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    botocore_canonical: str | None = None  # the canonical request botocore signed, when known

    def parse(self, **kwargs: Any) -> SignedRequest:
        return parse_signed_request(self.method, self.path, self.query, self.headers, self.body, **kwargs)

    def with_headers(self, **changes: str | None) -> Wire:
        """Set (or, with None, remove) headers; ``Content_Type`` means ``Content-Type``."""
        named = {name.replace("_", "-"): value for name, value in changes.items()}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {n.lower() for n in named}}
        headers.update({k: v for k, v in named.items() if v is not None})
        return replace(self, headers=headers)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _host(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}[parts.scheme]
    assert parts.hostname is not None
    return parts.hostname if parts.port in (None, default) else f"{parts.hostname}:{parts.port}"


def wire_from_prepared(prepared: AWSPreparedRequest, botocore_canonical: str | None = None) -> Wire:
    parts = urlsplit(prepared.url)
    headers = {name: _text(value) for name, value in prepared.headers.items()}
    headers.setdefault("Host", _host(prepared.url))  # urllib3 adds it on the wire
    body = prepared.body or b""
    return Wire(
        prepared.method,
        parts.path,
        parts.query,
        headers,
        body.encode() if isinstance(body, str) else body,
        botocore_canonical,
    )


def wire_from_url(url: str, method: str = "GET") -> Wire:
    parts = urlsplit(url)
    return Wire(method, parts.path, parts.query, {"Host": _host(url)}, b"")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Make botocore sign at SIGNED_AT."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: SIGNED_AT.replace(tzinfo=None))
    return SIGNED_AT


def credentials(token: str | None = SESSION_TOKEN) -> Credentials:
    return Credentials(TEMP_ACCESS_KEY_ID if token else ACCESS_KEY_ID, SECRET, token)


class _RecordingSigV4Auth(SigV4Auth):
    recorded = ""

    def canonical_request(self, request: AWSRequest) -> str:
        self.recorded = super().canonical_request(request)
        return self.recorded


class _RecordingSigV4QueryAuth(SigV4QueryAuth):
    recorded = ""

    def canonical_request(self, request: AWSRequest) -> str:
        self.recorded = super().canonical_request(request)
        return self.recorded


def sign_header(
    request: AWSRequest, service: str, region: str = "us-east-1", token: str | None = SESSION_TOKEN
) -> Wire:
    signer = _RecordingSigV4Auth(credentials(token), service, region)
    signer.add_auth(request)
    return wire_from_prepared(request.prepare(), signer.recorded)


def sign_query(
    request: AWSRequest,
    service: str,
    region: str = "us-east-1",
    expires: int = 900,
    token: str | None = SESSION_TOKEN,
) -> Wire:
    signer = _RecordingSigV4QueryAuth(credentials(token), service, region, expires=expires)
    signer.add_auth(request)
    return wire_from_prepared(request.prepare(), signer.recorded)


def assert_verifies(wire: Wire, now: datetime | None = None, **parse_kwargs: Any) -> SignedRequest:
    """Parse and verify; when botocore's canonical request is known, ours must equal it."""
    signed = wire.parse(**parse_kwargs)
    if wire.botocore_canonical is not None:
        assert signed.canonical_request == wire.botocore_canonical
    verify_signature(signed, SECRET, signed.amz_date if now is None else now)
    return signed


def form_post(body: str = "Action=GetCallerIdentity&Version=2011-06-15") -> AWSRequest:
    return AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


class _Captured(Exception):
    pass


def boto3_call(
    service: str, operation: str, region: str = "us-east-1", token: str | None = SESSION_TOKEN, **params: Any
) -> Wire:
    """Run a real boto3 client call and capture the request it would send."""
    client = boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=TEMP_ACCESS_KEY_ID if token else ACCESS_KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )
    captured: list[AWSPreparedRequest] = []

    def before_send(request: AWSPreparedRequest, **_: Any) -> None:
        captured.append(request)
        raise _Captured

    client.meta.events.register("before-send", before_send)
    with pytest.raises(_Captured):
        getattr(client, operation)(**params)
    return wire_from_prepared(captured[0])


def expect(code: str, call: Callable[[], object], *fragments: str) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        call()
    assert info.value.code == code, info.value.message
    for fragment in fragments:
        assert fragment in info.value.message
    return info.value


def now_for(wire: Wire) -> datetime:
    """The time the request was signed, read back (boto3 calls sign with the real clock)."""
    return wire.parse().amz_date


# --- AWS's published vectors ----------------------------------------------------------------


def test_derive_signing_key_matches_aws_documentation_example() -> None:
    key = derive_signing_key(SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_derive_signing_key_is_cached() -> None:
    derive_signing_key.cache_clear()
    first = derive_signing_key(SECRET, "20260314", "us-east-1", "sts")
    second = derive_signing_key(SECRET, "20260314", "us-east-1", "sts")
    assert first is second
    assert derive_signing_key.cache_info().hits == 1
    assert derive_signing_key(SECRET, "20260314", "eu-west-1", "sts") != first


def test_aws_test_suite_get_vanilla(monkeypatch: pytest.MonkeyPatch) -> None:
    # aws-sig-v4-test-suite/get-vanilla, signed by botocore to confirm the published figure.
    signed_at = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at.replace(tzinfo=None))
    request = AWSRequest(method="GET", url="https://example.amazonaws.com/")
    SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "service", "us-east-1").add_auth(
        request
    )
    expected = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    assert request.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={expected}"
    )

    wire = Wire(
        "GET",
        "/",
        "",
        {
            "Host": "example.amazonaws.com",
            "X-Amz-Date": "20150830T123600Z",
            "Authorization": request.headers["Authorization"],
        },
        b"",
    )
    signed = wire.parse(services={"service"})
    assert signed.canonical_request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert signed.string_to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )
    assert signed.signature == expected
    verify_signature(signed, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", signed_at)


# --- Requests from real boto3 clients --------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "region", "params"),
    [
        pytest.param("sts", "get_caller_identity", "us-east-1", {}, id="sts-query"),
        pytest.param(
            "sts",
            "assume_role",
            "eu-west-3",
            {
                "RoleArn": "arn:aws:iam::123456789012:role/eng/Deploy",
                "RoleSessionName": "alice+ops@example.com",
                "Tags": [{"Key": "Cost Center", "Value": "R&D / ünïcode ~*"}],
            },
            id="sts-query-odd-characters",
        ),
        pytest.param("iam", "list_roles", "us-east-1", {"PathPrefix": "/eng/"}, id="iam-query"),
        pytest.param("organizations", "list_accounts", "us-east-1", {}, id="organizations-json"),
        pytest.param(
            "cloudtrail",
            "lookup_events",
            "us-west-2",
            {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "alice"}]},
            id="cloudtrail-json",
        ),
    ],
)
@pytest.mark.parametrize("token", [SESSION_TOKEN, None], ids=["temporary", "long-term"])
def test_boto3_client_requests_verify(
    service: str, operation: str, region: str, params: dict[str, Any], token: str | None
) -> None:
    wire = boto3_call(service, operation, region, token=token, **params)
    signed = wire.parse()
    assert signed.service == service
    assert signed.region == region
    assert signed.access_key_id == (TEMP_ACCESS_KEY_ID if token else ACCESS_KEY_ID)
    assert signed.security_token == token
    assert signed.presigned is False
    assert signed.expires is None
    assert "host" in signed.signed_headers
    verify_signature(signed, SECRET, signed.amz_date + timedelta(seconds=3))


def test_json_protocol_request_signs_the_target_header() -> None:
    wire = boto3_call("organizations", "describe_organization")
    signed = wire.parse()
    assert "x-amz-target" in signed.signed_headers
    verify_signature(signed, SECRET, now_for(wire))
    tampered = wire.with_headers(**{"X-Amz-Target": "AWSOrganizationsV20161128.DeleteOrganization"})
    expect("SignatureDoesNotMatch", lambda: verify_signature(tampered.parse(), SECRET, now_for(wire)))


@pytest.mark.parametrize(
    ("http_method", "sent_with"),
    [(None, "POST"), ("GET", "GET")],
    ids=["model-method", "get"],
)
def test_boto3_presigned_url_verifies(http_method: str | None, sent_with: str) -> None:
    # botocore signs a presigned URL for the operation's modeled method (POST for the Query
    # protocol) unless HttpMethod says otherwise; the URL must be sent with that method.
    client = boto3.client(
        "sts",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=TEMP_ACCESS_KEY_ID,
        aws_secret_access_key=SECRET,
        aws_session_token=SESSION_TOKEN,
    )
    url = client.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod=http_method)
    wire = wire_from_url(url, method=sent_with)
    signed = wire.parse()
    assert signed.presigned is True
    assert signed.expires == 60
    assert signed.security_token == SESSION_TOKEN
    assert signed.signed_headers == ("host",)
    assert "X-Amz-Signature" not in signed.canonical_request
    verify_signature(signed, SECRET, signed.amz_date + timedelta(seconds=59))
    expect("RequestExpired", lambda: verify_signature(signed, SECRET, signed.amz_date + timedelta(seconds=61)))
    other = "GET" if sent_with == "POST" else "POST"
    expect(
        "SignatureDoesNotMatch",
        lambda: verify_signature(replace(wire, method=other).parse(), SECRET, signed.amz_date),
    )


def test_headers_are_looked_up_case_insensitively() -> None:
    wire = boto3_call("sts", "get_caller_identity")
    shouted = replace(wire, headers={name.upper(): value for name, value in wire.headers.items()})
    verify_signature(shouted.parse(), SECRET, now_for(wire))


# --- botocore's signers on AWSRequest --------------------------------------------------------


def test_sigv4auth_form_post_with_session_token(frozen_clock: datetime) -> None:
    wire = sign_header(form_post(), "sts")
    signed = assert_verifies(wire, frozen_clock)
    assert signed.amz_date == frozen_clock
    assert signed.date == "20260314"
    assert signed.credential_scope == "20260314/us-east-1/sts/aws4_request"
    assert signed.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-security-token")
    assert signed.canonical_request.endswith(hashlib.sha256(wire.body).hexdigest())


def test_sigv4auth_json_target_post(frozen_clock: datetime) -> None:
    request = AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=b'{"MaxResults": 5}',
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
        },
    )
    signed = assert_verifies(sign_header(request, "cloudtrail", region="ap-southeast-2", token=None), frozen_clock)
    assert signed.security_token is None


def test_sigv4queryauth_moves_form_into_query(frozen_clock: datetime) -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data={"Action": "ListUsers", "Version": "2010-05-08"})
    wire = sign_query(request, "iam", expires=3600)
    assert "Action=ListUsers" in wire.query
    signed = assert_verifies(wire, frozen_clock + timedelta(minutes=59))
    assert signed.presigned is True
    assert signed.expires == 3600
    assert signed.security_token == SESSION_TOKEN


def test_query_parameters_are_canonicalized_like_botocore(frozen_clock: datetime) -> None:
    params = [
        ("b", "two words"),
        ("a", "z"),
        ("a", "y"),  # repeated keys sort by value
        ("plus", "1+1=2"),
        ("tilde~", "~/path?x"),
        ("ünï", "cødé ✓"),
        ("empty", ""),
    ]
    request = AWSRequest(method="GET", url="https://api.example.test/prod/items", params=params)
    wire = sign_header(request, "execute-api")
    assert "b=two+words" in wire.query  # the wire form differs from the signed form (%20)
    signed = assert_verifies(wire, frozen_clock)
    assert signed.canonical_request.split("\n")[2] == (
        "%C3%BCn%C3%AF=c%C3%B8d%C3%A9%20%E2%9C%93&a=y&a=z&b=two%20words&empty=&plus=1%2B1%3D2&tilde~=~%2Fpath%3Fx"
    )

    presigned = AWSRequest(method="GET", url="https://api.example.test/prod/items", params=params)
    assert_verifies(sign_query(presigned, "execute-api"), frozen_clock)


def test_uri_path_is_normalized_and_double_encoded(frozen_clock: datetime) -> None:
    request = AWSRequest(method="GET", url="https://api.example.test/prod//items/a%20b/./x/../c%2Fd/")
    signed = assert_verifies(sign_header(request, "execute-api"), frozen_clock)
    assert signed.canonical_request.split("\n")[1] == "/prod/items/a%2520b/c%252Fd/"


def test_header_values_are_trimmed_and_whitespace_collapsed(frozen_clock: datetime) -> None:
    request = form_post()
    request.headers["X-Amz-Meta-Note"] = "  several   spaces\there  "
    signed = assert_verifies(sign_header(request, "sts"), frozen_clock)
    assert "x-amz-meta-note:several spaces here\n" in signed.canonical_request


def test_date_header_instead_of_x_amz_date(frozen_clock: datetime) -> None:
    request = form_post()
    request.headers["Date"] = "Thu, 01 Jan 1970 00:00:00 GMT"  # botocore rewrites it to the signing time
    wire = sign_header(request, "sts")
    assert "X-Amz-Date" not in wire.headers
    signed = assert_verifies(wire, frozen_clock)
    assert signed.amz_date == frozen_clock


def test_content_sha256_header_equal_to_body_hash_is_accepted(frozen_clock: datetime) -> None:
    request = form_post()
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(request.data).hexdigest()
    assert_verifies(sign_header(request, "sts"), frozen_clock)


@pytest.mark.parametrize("claimed", ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "0" * 64])
def test_content_sha256_header_must_cover_the_body(frozen_clock: datetime, claimed: str) -> None:
    # botocore signs the header's value instead of the body; a value that is not the body's
    # hash would leave the body (the Query API's parameters) unsigned.
    request = form_post()
    request.headers["X-Amz-Content-SHA256"] = claimed
    wire = sign_header(request, "sts")
    expect("SignatureDoesNotMatch", wire.parse, "x-amz-content-sha256")


# --- Tampering ------------------------------------------------------------------------------


@pytest.fixture
def signed_post(frozen_clock: datetime) -> Wire:
    return sign_header(form_post("Action=ListUsers&Version=2010-05-08"), "iam")


def _flip_last(text: str) -> str:
    return text[:-1] + ("1" if text[-1] == "0" else "0")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda w: replace(w, body=b"Action=DeleteUser&Version=2010-05-08&UserName=x"), id="body"),
        pytest.param(lambda w: replace(w, body=w.body + b"&"), id="body-one-byte"),
        pytest.param(lambda w: replace(w, query="Action=DeleteUser"), id="query-added"),
        pytest.param(lambda w: replace(w, method="PUT"), id="method"),
        pytest.param(lambda w: replace(w, path="/admin"), id="path"),
        pytest.param(lambda w: w.with_headers(Host="evil.test"), id="host"),
        pytest.param(lambda w: w.with_headers(Content_Type="application/json"), id="signed-header"),
        pytest.param(lambda w: w.with_headers(X_Amz_Date="20260314T150927Z"), id="date-one-second"),
        pytest.param(lambda w: w.with_headers(X_Amz_Security_Token=SESSION_TOKEN + "x"), id="session-token"),
        pytest.param(lambda w: w.with_headers(Content_Type=None), id="signed-header-removed"),
        pytest.param(
            lambda w: w.with_headers(Authorization=_flip_last(w.headers["Authorization"])),
            id="signature-digit",
        ),
        pytest.param(
            lambda w: w.with_headers(Authorization=w.headers["Authorization"].rsplit("=", 1)[0] + "=zz\u00e9"),
            id="signature-garbage",
        ),
        pytest.param(
            lambda w: w.with_headers(Authorization=w.headers["Authorization"].replace("us-east-1", "us-west-2")),
            id="scope-region",
        ),
    ],
)
def test_tampered_request_does_not_match(signed_post: Wire, tamper: Callable[[Wire], Wire]) -> None:
    verify_signature(signed_post.parse(), SECRET, SIGNED_AT)  # the untouched request passes
    tampered = tamper(signed_post)
    error = expect("SignatureDoesNotMatch", lambda: verify_signature(tampered.parse(), SECRET, SIGNED_AT))
    assert error.message.startswith(
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )


def test_wrong_secret_does_not_match(signed_post: Wire) -> None:
    expect("SignatureDoesNotMatch", lambda: verify_signature(signed_post.parse(), SECRET[:-1] + "X", SIGNED_AT))


def test_an_unsigned_target_header_is_refused_so_a_read_cannot_be_replayed_as_a_write(
    frozen_clock: datetime,
) -> None:
    # A client that signs only host and x-amz-date: without the rule, its captured
    # DescribeOrganization could be resent within the skew window as DeleteOrganization.
    request = AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=b"{}",
        headers={"Content-Type": "application/x-amz-json-1.1"},
    )
    wire = sign_header(request, "organizations", token=None)
    signed = wire.parse()
    assert "x-amz-target" not in signed.signed_headers
    replayed = wire.with_headers(**{"X-Amz-Target": "AWSOrganizationsV20161128.DeleteOrganization"})
    error = expect("AccessDenied", replayed.parse, "were not signed: x-amz-target")
    assert "DeleteOrganization" not in error.message
    # Any other x-amz-* header too, in either kind of signature; the session token and the body's
    # hash may go unsigned (the token is bound to its key, the hash is checked against the body).
    expect("AccessDenied", wire.with_headers(X_Amz_Meta_Thing="x").parse, "x-amz-meta-thing")
    presigned = sign_query(_get_caller_identity(), "sts")
    expect("AccessDenied", presigned.with_headers(X_Amz_Target="x").parse, "x-amz-target")
    body_hash = hashlib.sha256(wire.body).hexdigest()
    relaxed = wire.with_headers(X_Amz_Security_Token=SESSION_TOKEN, X_Amz_Content_Sha256=body_hash)
    assert relaxed.parse().signed_headers == signed.signed_headers


def test_unsigned_header_may_change(signed_post: Wire) -> None:
    changed = signed_post.with_headers(User_Agent="something-else", X_Forwarded_For="10.0.0.1")
    verify_signature(changed.parse(), SECRET, SIGNED_AT)


def test_mismatch_message_carries_the_hint_without_the_session_token(signed_post: Wire) -> None:
    tampered = replace(signed_post, body=b"Action=DeleteUser")
    signed = tampered.parse()
    error = expect("SignatureDoesNotMatch", lambda: verify_signature(signed, SECRET, SIGNED_AT))
    assert "\n\nThe Canonical String for this request should have been\n'POST\n/\n\n" in error.message
    assert f"\n\nThe String-to-Sign should have been\n'{signed.string_to_sign}'\n" in error.message
    assert "x-amz-security-token:<redacted>\n" in error.message
    assert SESSION_TOKEN not in error.message
    assert SESSION_TOKEN not in repr(signed)
    quiet = expect("SignatureDoesNotMatch", lambda: verify_signature(signed, SECRET, SIGNED_AT, include_hint=False))
    assert "Canonical String" not in quiet.message


@pytest.fixture
def presigned(frozen_clock: datetime) -> Wire:
    request = AWSRequest(
        method="GET", url=ENDPOINT + "/", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    )
    return sign_query(request, "sts", expires=900)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda q: q.replace("GetCallerIdentity", "GetSessionToken"), id="action"),
        pytest.param(lambda q: q.replace("X-Amz-Expires=900", "X-Amz-Expires=901"), id="expires"),
        pytest.param(lambda q: q + "&Extra=1", id="param-added"),
        pytest.param(lambda q: "&".join(p for p in q.split("&") if not p.startswith("Version=")), id="param-removed"),
    ],
)
def test_tampered_presigned_query_does_not_match(presigned: Wire, tamper: Callable[[str], str]) -> None:
    verify_signature(presigned.parse(), SECRET, SIGNED_AT)
    tampered = replace(presigned, query=tamper(presigned.query))
    expect("SignatureDoesNotMatch", lambda: verify_signature(tampered.parse(), SECRET, SIGNED_AT))


def test_presigned_hint_redacts_the_token(presigned: Wire) -> None:
    tampered = replace(presigned, query=presigned.query + "&Extra=1").parse()
    error = expect("SignatureDoesNotMatch", lambda: verify_signature(tampered, SECRET, SIGNED_AT))
    assert "X-Amz-Security-Token=<redacted>" in error.message
    assert SESSION_TOKEN not in error.message


def test_presigned_without_token_fails_when_token_removed(presigned: Wire) -> None:
    query = "&".join(p for p in presigned.query.split("&") if not p.startswith("X-Amz-Security-Token="))
    signed = replace(presigned, query=query).parse()
    assert signed.security_token is None
    expect("SignatureDoesNotMatch", lambda: verify_signature(signed, SECRET, SIGNED_AT))


class _UnsignedPayloadQueryAuth(_RecordingSigV4QueryAuth):
    """botocore's query signer with the payload hash S3-style presigners use."""

    def payload(self, request: AWSRequest) -> str:
        return botocore.auth.UNSIGNED_PAYLOAD


def sign_query_unsigned_payload(request: AWSRequest, service: str = "sts") -> Wire:
    signer = _UnsignedPayloadQueryAuth(credentials(), service, "us-east-1", expires=900)
    signer.add_auth(request)
    return wire_from_prepared(request.prepare(), signer.recorded)


def _get_caller_identity(method: str = "GET") -> AWSRequest:
    return AWSRequest(
        method=method, url=ENDPOINT + "/", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    )


def test_presigned_over_unsigned_payload_verifies(frozen_clock: datetime) -> None:
    wire = sign_query_unsigned_payload(_get_caller_identity())
    assert wire.botocore_canonical is not None and wire.botocore_canonical.endswith("\nUNSIGNED-PAYLOAD")
    signed = wire.parse()
    verify_signature(signed, SECRET, SIGNED_AT)
    # Either reading still covers the method, the query and the signed headers.
    for tampered in (
        replace(wire, method="POST"),
        replace(wire, query=wire.query.replace("GetCallerIdentity", "GetSessionToken")),
    ):
        expect("SignatureDoesNotMatch", lambda t=tampered: verify_signature(t.parse(), SECRET, SIGNED_AT))


def test_presigned_over_unsigned_payload_with_the_header_verifies(frozen_clock: datetime) -> None:
    request = _get_caller_identity()
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    wire = sign_query_unsigned_payload(request)
    verify_signature(wire.parse(), SECRET, SIGNED_AT)


def test_presigned_unsigned_payload_does_not_cover_a_body(frozen_clock: datetime) -> None:
    # A body the signature does not cover would be parameters nobody signed.
    wire = sign_query_unsigned_payload(_get_caller_identity("POST"))
    with_body = replace(
        wire.with_headers(Content_Type="application/x-www-form-urlencoded"), body=b"Action=GetSessionToken"
    )
    expect("SignatureDoesNotMatch", lambda: verify_signature(with_body.parse(), SECRET, SIGNED_AT))
    claimed = with_body.with_headers(**{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    expect("SignatureDoesNotMatch", claimed.parse, "x-amz-content-sha256")


def test_header_signed_request_never_reads_unsigned_payload(frozen_clock: datetime) -> None:
    request = _get_caller_identity()
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    wire = sign_header(request, "sts")
    expect("SignatureDoesNotMatch", wire.parse, "x-amz-content-sha256")
    assert sign_header(_get_caller_identity(), "sts").parse().unsigned_payload_string_to_sign is None


# --- Time window -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "max_skew", "outcome"),
    [
        (timedelta(0), timedelta(minutes=15), None),
        (timedelta(minutes=15), timedelta(minutes=15), None),
        (timedelta(minutes=-15), timedelta(minutes=15), None),
        (timedelta(minutes=15, seconds=1), timedelta(minutes=15), "Signature expired: 20260314T150926Z"),
        (
            timedelta(minutes=-15, seconds=-1),
            timedelta(minutes=15),
            "Signature not yet current: 20260314T150926Z",
        ),
        (timedelta(minutes=6), timedelta(minutes=5), "(20260314T151526Z - 5 min.)"),
        (
            timedelta(hours=-1),
            timedelta(minutes=5),
            "is still later than 20260314T141426Z (20260314T140926Z + 5 min.)",
        ),
    ],
)
def test_header_signature_time_window(
    signed_post: Wire, offset: timedelta, max_skew: timedelta, outcome: str | None
) -> None:
    signed = signed_post.parse()
    now = SIGNED_AT + offset
    if outcome is None:
        verify_signature(signed, SECRET, now, max_skew)
    else:
        expect("RequestExpired", lambda: verify_signature(signed, SECRET, now, max_skew), outcome)


def test_skew_check_runs_before_the_signature(signed_post: Wire) -> None:
    # A stale request is reported as stale even with a wrong secret: what a client with a
    # skewed clock needs to hear.
    signed = signed_post.parse()
    expect("RequestExpired", lambda: verify_signature(signed, "wrong", SIGNED_AT + timedelta(hours=1)))


@pytest.mark.parametrize(
    ("offset", "outcome"),
    [
        (timedelta(seconds=900), None),
        (timedelta(seconds=901), "Request has expired"),
        (timedelta(minutes=-15), None),
        (timedelta(minutes=-16), "Signature not yet current"),
    ],
)
def test_presigned_time_window(presigned: Wire, offset: timedelta, outcome: str | None) -> None:
    signed = presigned.parse()
    now = SIGNED_AT + offset
    if outcome is None:
        verify_signature(signed, SECRET, now)
    else:
        expect("RequestExpired", lambda: verify_signature(signed, SECRET, now), outcome)


def test_presigned_may_last_a_week_but_no_longer(frozen_clock: datetime) -> None:
    week = sign_query(
        AWSRequest(method="GET", url=ENDPOINT + "/", params={"Action": "GetCallerIdentity"}),
        "sts",
        expires=MAX_PRESIGNED_EXPIRES,
    )
    verify_signature(week.parse(), SECRET, SIGNED_AT + timedelta(days=7))
    longer = sign_query(
        AWSRequest(method="GET", url=ENDPOINT + "/", params={"Action": "GetCallerIdentity"}),
        "sts",
        expires=MAX_PRESIGNED_EXPIRES + 1,
    )
    expect("IncompleteSignature", longer.parse, "less than a week")


def test_now_must_be_timezone_aware(signed_post: Wire) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_signature(signed_post.parse(), SECRET, SIGNED_AT.replace(tzinfo=None))


def test_now_in_another_timezone_is_fine(signed_post: Wire) -> None:
    verify_signature(signed_post.parse(), SECRET, SIGNED_AT.astimezone(timezone(timedelta(hours=-7))))


# --- Credential scope -----------------------------------------------------------------------


def _with_credential(wire: Wire, credential: str) -> Wire:
    authorization = wire.headers["Authorization"]
    start = authorization.index("Credential=") + len("Credential=")
    end = authorization.index(",", start)
    return wire.with_headers(Authorization=authorization[:start] + credential + authorization[end:])


@pytest.mark.parametrize(
    ("credential", "code", "fragment"),
    [
        (
            f"{TEMP_ACCESS_KEY_ID}/20260313/us-east-1/iam/aws4_request",
            "IncompleteSignature",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            "'20260313' != '20260314', from '20260314T150926Z'.",
        ),
        (
            f"{TEMP_ACCESS_KEY_ID}/20260314/us-east-1/iam/aws5_request",
            "IncompleteSignature",
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
        ),
        (
            f"{TEMP_ACCESS_KEY_ID}/20260314/us-east-1/s3/aws4_request",
            "SignatureDoesNotMatch",
            "correct service",
        ),
        (
            f"{TEMP_ACCESS_KEY_ID}/20260314/US_EAST/iam/aws4_request",
            "IncompleteSignature",
            "valid region, not 'US_EAST'",
        ),
        (f"{TEMP_ACCESS_KEY_ID}/20260314//iam/aws4_request", "IncompleteSignature", "valid region"),
        (
            f"{TEMP_ACCESS_KEY_ID}/20260314/us-east-1/iam",
            "IncompleteSignature",
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got",
        ),
        (
            f"AKIA/SLASH/{TEMP_ACCESS_KEY_ID}/20260314/us-east-1/iam/aws4_request",
            "IncompleteSignature",
            "exactly 5 slash-delimited elements",
        ),
        (
            "AKIA$NOPE/20260314/us-east-1/iam/aws4_request",
            "InvalidClientTokenId",
            "The security token included",
        ),
        ("/20260314/us-east-1/iam/aws4_request", "InvalidClientTokenId", "invalid"),
    ],
)
def test_credential_scope_is_checked(signed_post: Wire, credential: str, code: str, fragment: str) -> None:
    expect(code, _with_credential(signed_post, credential).parse, fragment)


def test_service_can_be_narrowed_by_the_caller(signed_post: Wire) -> None:
    assert signed_post.parse(services={"iam"}).service == "iam"
    expect("SignatureDoesNotMatch", lambda: signed_post.parse(services={"sts"}), "correct service: 'sts'.")


def test_any_region_is_accepted(frozen_clock: datetime) -> None:
    for region in ("us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1", "local"):
        assert assert_verifies(sign_header(form_post(), "sts", region=region), frozen_clock).region == region


def test_host_must_be_signed(frozen_clock: datetime) -> None:
    request = form_post()
    # Sign, then drop host from the SignedHeaders list as a careless client would.
    wire = sign_header(request, "sts")
    authorization = wire.headers["Authorization"].replace("content-type;host;", "content-type;")
    expect(
        "IncompleteSignature",
        wire.with_headers(Authorization=authorization).parse,
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    )


# --- Unsigned and malformed --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "broker.test"},
        {"Host": "broker.test", "X-Amz-Date": "20260314T150926Z", "X-Amz-Security-Token": SESSION_TOKEN},
    ],
)
def test_unsigned_request(headers: dict[str, str]) -> None:
    wire = Wire("POST", "/", "", headers, b"Action=AssumeRoleWithSAML")
    expect("MissingAuthenticationToken", wire.parse, "Request is missing Authentication Token")


def _auth(value: str, **extra: str) -> Wire:
    headers = {"Host": "broker.test", "X-Amz-Date": "20260314T150926Z", "Authorization": value, **extra}
    return Wire("POST", "/", "", headers, b"")


GOOD_CREDENTIAL = f"{ACCESS_KEY_ID}/20260314/us-east-1/sts/aws4_request"


@pytest.mark.parametrize(
    ("authorization", "fragments"),
    [
        (
            "AWS4-HMAC-SHA256",
            [
                "Authorization header requires 'Credential' parameter. "
                "Authorization header requires 'Signature' parameter. "
                "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256"
            ],
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host",
            ["Authorization header requires 'Signature' parameter."],
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=, Signature=abc",
            ["Authorization header requires 'SignedHeaders' parameter."],
        ),
        (
            f"AWS4-HMAC-SHA256 Credential {GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc",
            ["not a valid key=value pair (missing equal-sign) in Authorization header"],
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, Credential={GOOD_CREDENTIAL}, "
            "SignedHeaders=host, Signature=abc",
            ["'Credential' parameter more than once"],
        ),
        (
            f"AWS4-ECDSA-P256-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host, Signature=abc",
            ["Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'"],
        ),
        ("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", ["Authorization=AWS"]),
        ("Bearer eyJhbGciOiJub25lIn0.e30.", ["Authorization header requires 'Credential' parameter."]),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;;x-amz-date, Signature=abc",
            ["SignedHeaders contains an invalid header name"],
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;host, Signature=abc",
            ["more than once"],
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;x amz, Signature=abc",
            ["invalid header name"],
        ),
    ],
)
def test_malformed_authorization_header(authorization: str, fragments: list[str]) -> None:
    error = expect("IncompleteSignature", _auth(authorization).parse, *fragments)
    assert "eyJhbGciOiJub25lIn0" not in error.message  # other schemes' credentials are not echoed
    assert "frJIUN8DYpKDtOLCwo" not in error.message


def test_echoed_request_parts_are_escaped() -> None:
    authorization = "AWS4-HMAC-SHA256 Credential=A/B\nFAKE: log line, SignedHeaders=host, Signature=abc"
    error = expect("IncompleteSignature", _auth(authorization).parse, "exactly 5 slash-delimited")
    assert "\n" not in error.message
    assert "B\\u000aFAKE" in error.message


def test_missing_date_is_reported_with_the_other_problems() -> None:
    wire = Wire("POST", "/", "", {"Host": "broker.test", "Authorization": "AWS4-HMAC-SHA256 "}, b"")
    expect(
        "IncompleteSignature",
        wire.parse,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    )


@pytest.mark.parametrize(
    ("amz_date", "fragment"),
    [
        ("2026-03-14T15:09:26Z", "ISO8601 Long Format"),
        ("20260314T150926", "ISO8601 Long Format"),
        ("20261314T150926Z", "not a valid date"),
        ("\uff12\uff10\uff12\uff160314T150926Z", "ISO8601 Long Format"),  # fullwidth digits
    ],
)
def test_malformed_x_amz_date(amz_date: str, fragment: str) -> None:
    wire = _auth(
        f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature=abc",
        **{"X-Amz-Date": amz_date},
    )
    expect("IncompleteSignature", wire.parse, fragment)


def test_malformed_date_header() -> None:
    wire = Wire(
        "POST",
        "/",
        "",
        {
            "Host": "broker.test",
            "Date": "yesterday",
            "Authorization": (f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=date;host, Signature=a"),
        },
        b"",
    )
    expect("IncompleteSignature", wire.parse, "RFC 1123")


def _presign_query(**overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "Action": "GetCallerIdentity",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": GOOD_CREDENTIAL.replace("/", "%2F"),
        "X-Amz-Date": "20260314T150926Z",
        "X-Amz-Expires": "60",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "ab" * 32,
    }
    params.update(overrides)
    return "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        (
            _presign_query(**{"X-Amz-Signature": None}),
            "AWS query-string parameters must include 'X-Amz-Signature'.",
        ),
        (
            _presign_query(**{"X-Amz-Date": None, "X-Amz-Expires": None}),
            "must include 'X-Amz-Date'. AWS query-string parameters must include 'X-Amz-Expires'. "
            "Re-examine the query-string parameters.",
        ),
        (_presign_query(**{"X-Amz-Algorithm": "AWS4-HMAC-SHA1"}), "Unsupported AWS 'algorithm'"),
        (_presign_query(**{"X-Amz-Expires": "-1"}), "X-Amz-Expires should be a number"),
        (_presign_query(**{"X-Amz-Expires": "1e3"}), "X-Amz-Expires should be a number"),
        (_presign_query(**{"X-Amz-Expires": "604801"}), "less than a week"),
        (_presign_query(**{"X-Amz-Expires": "0"}), "at least 1 second"),  # AWS: 1 to 604800
        (_presign_query(**{"X-Amz-Expires": "0000000"}), "at least 1 second"),
        (_presign_query() + "&X-Amz-Date=20260314T150926Z", "'X-Amz-Date' is given more than once"),
        (_presign_query(**{"X-Amz-SignedHeaders": "x-amz-date"}), "'Host' or ':authority'"),
        (_presign_query(**{"X-Amz-Date": "20260315T000000Z"}), "Date in Credential scope does not match"),
        (_presign_query(**{"X-Amz-Security-Token": "%FF%FE"}), "not valid UTF-8"),
    ],
)
def test_malformed_presigned_query(query: str, fragment: str) -> None:
    wire = Wire("GET", "/", query, {"Host": "broker.test"}, b"")
    expect("IncompleteSignature", wire.parse, fragment)


def test_header_and_query_signatures_together_are_rejected() -> None:
    wire = Wire(
        "GET",
        "/",
        _presign_query(),
        {"Host": "broker.test", "Authorization": f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}"},
        b"",
    )
    expect("IncompleteSignature", wire.parse, "Only one auth mechanism allowed")


def test_lone_surrogates_are_a_mismatch_not_a_crash() -> None:
    query = _presign_query() + "&Action=\ud800"
    signed = Wire("GET", "/\udfff", query, {"Host": "broker.test\ud800"}, b"").parse()
    expect(
        "SignatureDoesNotMatch",
        lambda: verify_signature(replace(signed, signature="\ud800"), SECRET, signed.amz_date),
    )


def test_well_formed_presigned_query_parses() -> None:
    signed = Wire("GET", "/", _presign_query(), {"Host": "broker.test"}, b"").parse()
    assert signed.presigned is True
    assert signed.access_key_id == ACCESS_KEY_ID
    assert signed.expires == 60
    assert signed.amz_date == datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


# --- Properties ----------------------------------------------------------------------------------

_param_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.lists(
        st.tuples(_param_text.filter(lambda k: k and not k.lower().startswith("x-amz-")), _param_text),
        max_size=6,
    ),
    body=st.binary(max_size=64),
    header_value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)
def test_any_botocore_signed_request_verifies(params: list[tuple[str, str]], body: bytes, header_value: str) -> None:
    headers: Mapping[str, str] = {"X-Amz-Meta-Value": header_value}
    request = AWSRequest(
        method="POST", url="https://api.example.test/stage/x", params=params, data=body, headers=headers
    )
    assert_verifies(sign_header(request, "execute-api"))
    presign = AWSRequest(method="GET", url="https://api.example.test/stage/x", params=params)
    assert_verifies(sign_query(presign, "execute-api"))


_any_text = st.text(st.characters(), max_size=80)  # surrogates included


@settings(max_examples=300, deadline=None)
@given(
    query=_any_text | st.lists(st.sampled_from([*_presign_query().split("&"), "%FF", "+", "=", "&"])).map("&".join),
    authorization=st.none() | _any_text.map(lambda s: "AWS4-HMAC-SHA256 " + s),
    path=_any_text,
)
def test_hostile_input_only_raises_sigv4_errors(query: str, authorization: str | None, path: str) -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": "20260314T150926Z", "X-Hostile": path}
    if authorization is not None:
        headers["Authorization"] = authorization
    codes = {
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
    with pytest.raises(SigV4Error) as info:  # noqa: PT012 - either step may be the one that refuses
        signed = parse_signed_request("POST", path, query, headers, b"")
        verify_signature(signed, SECRET, signed.amz_date)
    assert info.value.code in codes


def test_the_broker_signs_what_botocore_signs_and_the_verifier_accepts() -> None:
    """The signer for the broker's own clients builds the same signature as botocore."""
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Host": "broker.test:8443",
        "X-Amz-Date": SIGNED_AT.strftime("%Y%m%dT%H%M%SZ"),
        "X-Amz-Security-Token": SESSION_TOKEN,
    }
    ours = authorization_header(
        "POST",
        "/",
        headers,
        body,
        access_key_id=TEMP_ACCESS_KEY_ID,
        secret_access_key=SECRET,
        region="us-east-1",
        service="sts",
    )
    request = AWSRequest(method="POST", url=f"{ENDPOINT}/", data=body, headers=dict(headers))
    request.context["timestamp"] = headers["X-Amz-Date"]
    botocore_auth = SigV4Auth(Credentials(TEMP_ACCESS_KEY_ID, SECRET, SESSION_TOKEN), "sts", "us-east-1")
    canonical = botocore_auth.canonical_request(request)
    expected = botocore_auth.signature(botocore_auth.string_to_sign(request, canonical), request)
    assert ours.endswith(f"Signature={expected}")
    signed = parse_signed_request("POST", "/", "", {**headers, "Authorization": ours}, body)
    verify_signature(signed, SECRET, SIGNED_AT)
    with pytest.raises(SigV4Error):
        verify_signature(
            parse_signed_request("POST", "/", "", {**headers, "Authorization": ours}, b"x"), SECRET, SIGNED_AT
        )
