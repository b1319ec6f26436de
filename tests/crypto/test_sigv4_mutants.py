"""SigV4 parsing and time checks at their exact limits.

Written against mutants the older tests let through: a Date header with an offset other than GMT,
either side of the X-Amz-Expires and region length limits, and the time window to the second.
Requests are built by hand (no botocore), so each test controls every byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from broker.crypto.sigv4 import (
    DEFAULT_MAX_SKEW,
    MAX_PRESIGNED_EXPIRES,
    SignedRequest,
    SigV4Error,
    authorization_header,
    derive_signing_key,
    parse_signed_request,
    verify_signature,
)

KEY_ID = "AKIAZ2Z3Z4Z5Z6Z7ABCD"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AT = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
AT_TEXT = "20260101T000000Z"
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def expect(code: str, call: object, *fragments: str) -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    for fragment in fragments:
        assert fragment in caught.value.message
    return caught.value


def authorization(
    *, credential: str | None = None, signed_headers: str = "host;x-amz-date", signature: str = "0" * 64
) -> str:
    credential = credential or f"{KEY_ID}/20260101/us-east-1/sts/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"


def parse_headers(headers: dict[str, str], path: str = "/", query: str = "") -> SignedRequest:
    return parse_signed_request("POST", path, query, headers, BODY)


def signed_with(headers: dict[str, str], credential: str, signed_headers: str) -> SignedRequest:
    """Parse once to learn the string-to-sign, then sign it: a request that verifies."""
    draft = parse_headers(
        {**headers, "Authorization": authorization(credential=credential, signed_headers=signed_headers)}
    )
    key = derive_signing_key(SECRET, draft.date, draft.region, draft.service)
    signature = hmac.new(key, draft.string_to_sign.encode(), hashlib.sha256).hexdigest()
    final = authorization(credential=credential, signed_headers=signed_headers, signature=signature)
    return parse_headers({**headers, "Authorization": final})


def header_signed(at: datetime = AT) -> SignedRequest:
    headers = {"Host": "broker.test", "X-Amz-Date": at.strftime("%Y%m%dT%H%M%SZ")}
    authorization_value = authorization_header(
        "POST", "/", headers, BODY, access_key_id=KEY_ID, secret_access_key=SECRET, region="us-east-1", service="sts"
    )
    return parse_headers({**headers, "Authorization": authorization_value})


def presigned_query(**overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{KEY_ID}/20260101/us-east-1/sts/aws4_request",
        "X-Amz-Date": AT_TEXT,
        "X-Amz-Expires": "900",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "0" * 64,
        **overrides,
    }
    return "&".join(f"{key}={quote(value, safe='')}" for key, value in params.items() if value is not None)


def parse_presigned(**overrides: str | None) -> SignedRequest:
    return parse_signed_request("GET", "/", presigned_query(**overrides), {"Host": "broker.test"}, b"")


def presigned_signed(expires: int, at: datetime = AT) -> SignedRequest:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{KEY_ID}/{stamp[:8]}/us-east-1/sts/aws4_request"
    draft = parse_presigned(**{"X-Amz-Expires": str(expires), "X-Amz-Date": stamp, "X-Amz-Credential": credential})
    key = derive_signing_key(SECRET, draft.date, draft.region, draft.service)
    signature = hmac.new(key, draft.string_to_sign.encode(), hashlib.sha256).hexdigest()
    return parse_presigned(
        **{
            "X-Amz-Expires": str(expires),
            "X-Amz-Date": stamp,
            "X-Amz-Credential": credential,
            "X-Amz-Signature": signature,
        }
    )


# --- the Date header -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date",
    [
        "Thu, 01 Jan 2026 00:00:00 GMT",
        "Thu, 01 Jan 2026 02:00:00 +0200",
        "Wed, 31 Dec 2025 19:00:00 -0500",
        "Thu, 01 Jan 2026 00:00:00 -0000",  # "no zone information": read as UTC
        "Thu, 01 Jan 2026 00:00:00 +0000",
    ],
)
def test_a_date_header_in_any_zone_is_read_as_utc(date: str) -> None:
    signed = signed_with(
        {"Host": "broker.test", "Date": date}, f"{KEY_ID}/20260101/us-east-1/sts/aws4_request", "date;host"
    )
    assert signed.amz_date == AT and signed.amz_date.utcoffset() == timedelta(0)
    assert signed.string_to_sign.split("\n")[1] == AT_TEXT
    verify_signature(signed, SECRET, AT)


def test_a_date_header_with_an_offset_names_the_utc_day_in_the_scope() -> None:
    # 23:30 at -0100 is already the next day in UTC: the scope must name that day.
    headers = {
        "Host": "broker.test",
        "Date": "Wed, 31 Dec 2025 23:30:00 -0100",
        "Authorization": authorization(signed_headers="date;host"),
    }
    assert parse_headers(headers).amz_date == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    stale = {**headers, "Authorization": authorization(credential=f"{KEY_ID}/20251231/us-east-1/sts/aws4_request")}
    expect("IncompleteSignature", lambda: parse_headers(stale), "Date in Credential scope does not match")


def test_x_amz_date_wins_over_the_date_header() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Date": "Fri, 02 Jan 2026 00:00:00 GMT"}
    assert parse_headers({**headers, "Authorization": authorization()}).amz_date == AT


@pytest.mark.parametrize(
    "date",
    [
        "yesterday",
        "Thu, 01 Jan 2026",
        "",
        # Past datetime's range, or moved past it by the offset: an overflow, not a 500.
        "Fri, 31 Dec 9999 23:59:59 -0100",
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Sat, 14 Mar 79855269238353 15:09:26 +2359",
    ],
)
def test_an_unreadable_date_header_is_refused(date: str) -> None:
    headers = {"Host": "broker.test", "Date": date, "Authorization": authorization(signed_headers="date;host")}
    expect("IncompleteSignature", lambda: parse_headers(headers), "RFC 1123")


# --- X-Amz-Expires -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("604800", 604800), ("0604800", 604800), ("1", 1), ("0000001", 1)])
def test_x_amz_expires_up_to_a_week_in_up_to_seven_digits(text: str, seconds: int) -> None:
    assert MAX_PRESIGNED_EXPIRES == 604800
    assert parse_presigned(**{"X-Amz-Expires": text}).expires == seconds


def test_x_amz_expires_beyond_a_week_is_refused() -> None:
    expect("IncompleteSignature", lambda: parse_presigned(**{"X-Amz-Expires": "604801"}), "less than a week")


@pytest.mark.parametrize("text", ["00000001", "99999999", "1e3", "-1", "+1", " 1", "1.5", "\u00b2", "\u0661"])
def test_x_amz_expires_that_is_not_a_short_number_is_refused(text: str) -> None:
    expect("IncompleteSignature", lambda: parse_presigned(**{"X-Amz-Expires": text}), "number of seconds")


@pytest.mark.parametrize(
    "missing", ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"]
)
def test_each_presigned_parameter_is_required(missing: str) -> None:
    expect("IncompleteSignature", lambda: parse_presigned(**{missing: None}), f"must include '{missing}'")


def test_a_presigned_request_reads_every_part() -> None:
    parsed = parse_presigned(**{"X-Amz-Security-Token": "token-1"})
    assert (parsed.access_key_id, parsed.date, parsed.region, parsed.service) == (
        KEY_ID,
        "20260101",
        "us-east-1",
        "sts",
    )
    assert (parsed.presigned, parsed.expires, parsed.security_token, parsed.signature) == (
        True,
        900,
        "token-1",
        "0" * 64,
    )
    assert parsed.signed_headers == ("host",)
    assert parsed.amz_date == AT
    # The signature itself is not part of what was signed.
    assert "X-Amz-Signature" not in parsed.canonical_request
    assert "X-Amz-Security-Token=token-1" in parsed.canonical_request


def test_a_presigned_parameter_given_twice_is_refused() -> None:
    query = presigned_query() + "&X-Amz-Expires=60"
    call = lambda: parse_signed_request("GET", "/", query, {"Host": "broker.test"}, b"")  # noqa: E731
    expect("IncompleteSignature", call, "'X-Amz-Expires' is given more than once")


def test_another_presigned_algorithm_is_refused() -> None:
    expect("IncompleteSignature", lambda: parse_presigned(**{"X-Amz-Algorithm": "AWS4-HMAC-SHA1"}), "Unsupported")


# --- the credential scope ------------------------------------------------------------------------------


def scoped(credential: str) -> SignedRequest:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": authorization(credential=credential)}
    return parse_headers(headers)


def test_a_region_of_64_characters_is_the_longest() -> None:
    region = "a" * 64
    assert scoped(f"{KEY_ID}/20260101/{region}/sts/aws4_request").region == region
    expect("IncompleteSignature", lambda: scoped(f"{KEY_ID}/20260101/{'a' * 65}/sts/aws4_request"), "valid region")


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "local", "a1"])
def test_regions_accepted(region: str) -> None:
    assert scoped(f"{KEY_ID}/20260101/{region}/sts/aws4_request").region == region


@pytest.mark.parametrize("region", ["US-EAST-1", "us--east", "-us", "us-", "us_east", ""])
def test_regions_refused(region: str) -> None:
    expect("IncompleteSignature", lambda: scoped(f"{KEY_ID}/20260101/{region}/sts/aws4_request"), "valid region")


def test_an_access_key_id_of_128_characters_is_the_longest() -> None:
    assert scoped(f"{'A' * 128}/20260101/us-east-1/sts/aws4_request").access_key_id == "A" * 128
    expect("InvalidClientTokenId", lambda: scoped(f"{'A' * 129}/20260101/us-east-1/sts/aws4_request"))
    expect("InvalidClientTokenId", lambda: scoped("AKIA-Z2Z3/20260101/us-east-1/sts/aws4_request"))


@pytest.mark.parametrize(
    ("credential", "code", "fragment"),
    [
        (f"{KEY_ID}/20260101/us-east-1/sts", "IncompleteSignature", "exactly 5"),
        (f"{KEY_ID}/20260101/us-east-1/sts/aws4_request/x", "IncompleteSignature", "exactly 5"),
        (f"{KEY_ID}/20260102/us-east-1/sts/aws4_request", "IncompleteSignature", "Date in Credential scope"),
        (f"{KEY_ID}/20260101/us-east-1/s3/aws4_request", "SignatureDoesNotMatch", "correct service"),
        (f"{KEY_ID}/20260101/us-east-1/sts/aws4_reques", "IncompleteSignature", "valid terminator"),
    ],
)
def test_credential_scope_refusals(credential: str, code: str, fragment: str) -> None:
    expect(code, lambda: scoped(credential), fragment)


def test_the_services_a_caller_allows() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": authorization()}
    assert parse_signed_request("POST", "/", "", headers, BODY, services={"sts"}).service == "sts"
    call = lambda: parse_signed_request("POST", "/", "", headers, BODY, services={"iam", "organizations"})  # noqa: E731
    error = expect("SignatureDoesNotMatch", call)
    assert error.message == "Credential should be scoped to correct service: 'iam', 'organizations'. "


# --- the Authorization header ---------------------------------------------------------------------------


def test_signed_headers_are_lowercased_and_sorted() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT}
    parsed = parse_headers({**headers, "Authorization": authorization(signed_headers="X-Amz-Date;Host")})
    assert parsed.signed_headers == ("host", "x-amz-date")


@pytest.mark.parametrize(
    ("signed_headers", "fragment"),
    [
        ("host;host", "more than once"),
        ("host;Host", "more than once"),
        ("host;x amz", "invalid header name"),
        ("host;", "invalid header name"),
        ("x-amz-date", "'Host' or ':authority'"),
    ],
)
def test_signed_headers_refused(signed_headers: str, fragment: str) -> None:
    headers = {
        "Host": "broker.test",
        "X-Amz-Date": AT_TEXT,
        "Authorization": authorization(signed_headers=signed_headers),
    }
    expect("IncompleteSignature", lambda: parse_headers(headers), fragment)


def test_authorization_parts_may_have_blank_entries_and_spaces() -> None:
    value = (
        f"AWS4-HMAC-SHA256  Credential = {KEY_ID}/20260101/us-east-1/sts/aws4_request ,, "
        f"SignedHeaders=host;x-amz-date,Signature={'0' * 64} ,"
    )
    parsed = parse_headers({"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": value})
    assert (parsed.access_key_id, parsed.signature) == (KEY_ID, "0" * 64)


def test_an_authorization_part_given_twice_is_refused() -> None:
    value = authorization() + ", Signature=" + "1" * 64
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": value}
    expect("IncompleteSignature", lambda: parse_headers(headers), "'Signature' parameter more than once")


def test_a_header_given_in_two_cases_is_joined() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "X-Custom": "a", "x-custom": "b"}
    parsed = parse_headers({**headers, "Authorization": authorization(signed_headers="host;x-amz-date;x-custom")})
    assert "x-custom:a,b" in parsed.canonical_request.split("\n")


def test_the_security_token_header_is_read() -> None:
    headers = {
        "Host": "broker.test",
        "X-Amz-Date": AT_TEXT,
        "X-Amz-Security-Token": "tok",
        "Authorization": authorization(),
    }
    assert parse_headers(headers).security_token == "tok"
    assert parse_headers({**headers, "X-Amz-Security-Token": "tok"}).presigned is False


# --- canonical request ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/a/./b/../c/", "/a/c/"),
        ("/a//b", "/a/b"),
        ("/..", "/"),
        ("/../a", "/a"),
        ("/a/..", "/"),
        ("/a/b/", "/a/b/"),
        ("/%20x", "/%2520x"),
        ("a/b", "a/b"),  # no leading slash (an absolute-form or odd target): none is added
    ],
)
def test_the_canonical_path(path: str, canonical: str) -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": authorization()}
    assert parse_headers(headers, path=path).canonical_request.split("\n")[1] == canonical


def test_the_canonical_query_sorts_encodes_and_skips_empty_segments() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": authorization()}
    parsed = parse_headers(headers, query="b=2&&a=x+y&c=%7E%2B&")
    assert parsed.canonical_request.split("\n")[2] == "a=x%20y&b=2&c=~%2B"


def test_the_body_hash_header_may_be_upper_case_hex() -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "Authorization": authorization()}
    parsed = parse_headers({**headers, "X-Amz-Content-Sha256": digest.upper()})
    assert parsed.canonical_request.split("\n")[-1] == digest.upper()
    plain = parse_headers(headers)
    assert plain.canonical_request.split("\n")[-1] == digest


@pytest.mark.parametrize("claimed", ["UNSIGNED-PAYLOAD", "0" * 64, "g" * 64, ""])
def test_a_body_hash_header_that_is_not_the_body_hash_is_refused(claimed: str) -> None:
    headers = {
        "Host": "broker.test",
        "X-Amz-Date": AT_TEXT,
        "Authorization": authorization(),
        "X-Amz-Content-Sha256": claimed,
    }
    expect("SignatureDoesNotMatch", lambda: parse_headers(headers), "x-amz-content-sha256")


# --- the time window ------------------------------------------------------------------------------------


def test_a_header_signature_is_valid_fifteen_minutes_either_way() -> None:
    assert timedelta(minutes=15) == DEFAULT_MAX_SKEW
    signed = header_signed()
    second = timedelta(seconds=1)
    verify_signature(signed, SECRET, AT + DEFAULT_MAX_SKEW)
    verify_signature(signed, SECRET, AT - DEFAULT_MAX_SKEW)
    expect(
        "RequestExpired", lambda: verify_signature(signed, SECRET, AT + DEFAULT_MAX_SKEW + second), "Signature expired"
    )
    expect(
        "RequestExpired", lambda: verify_signature(signed, SECRET, AT - DEFAULT_MAX_SKEW - second), "not yet current"
    )


def test_the_window_follows_max_skew() -> None:
    signed = header_signed()
    window = timedelta(minutes=1)
    verify_signature(signed, SECRET, AT + window, max_skew=window)
    expect("RequestExpired", lambda: verify_signature(signed, SECRET, AT + window * 2, max_skew=window))


def test_a_presigned_request_is_valid_until_its_expiry_exactly() -> None:
    signed = presigned_signed(60)
    verify_signature(signed, SECRET, AT + timedelta(seconds=60))
    expect(
        "RequestExpired", lambda: verify_signature(signed, SECRET, AT + timedelta(seconds=61)), "Request has expired"
    )
    # Skew does not stretch a presigned expiry, but a clock behind the signer's is forgiven.
    verify_signature(signed, SECRET, AT - DEFAULT_MAX_SKEW)
    expect("RequestExpired", lambda: verify_signature(signed, SECRET, AT - DEFAULT_MAX_SKEW - timedelta(seconds=1)))


def test_a_presigned_request_may_outlive_the_skew() -> None:
    signed = presigned_signed(3600)
    verify_signature(signed, SECRET, AT + timedelta(minutes=59))


def test_the_mismatch_message_hides_the_session_token() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT, "X-Amz-Security-Token": "secret-token"}
    parsed = parse_headers(
        {**headers, "Authorization": authorization(signed_headers="host;x-amz-date;x-amz-security-token")},
        query="X-Amz-Security-Token=other-secret&a=1",
    )
    error = expect("SignatureDoesNotMatch", lambda: verify_signature(parsed, SECRET, AT))
    assert "secret-token" not in error.message and "other-secret" not in error.message
    assert "x-amz-security-token:<redacted>" in error.message
    assert "X-Amz-Security-Token=<redacted>&a=1" in error.message
    quiet = expect("SignatureDoesNotMatch", lambda: verify_signature(parsed, SECRET, AT, include_hint=False))
    assert "Canonical String" not in quiet.message


def test_the_broker_signer_signs_every_header_it_is_given() -> None:
    signed = header_signed()
    assert signed.signed_headers == ("host", "x-amz-date")
    assert signed.credential_scope == "20260101/us-east-1/sts/aws4_request"
    verify_signature(signed, SECRET, AT)
    expect("SignatureDoesNotMatch", lambda: verify_signature(signed, SECRET[:-1] + "X", AT))


def test_a_signed_header_missing_from_the_request_is_canonicalized_empty() -> None:
    headers = {"Host": "broker.test", "X-Amz-Date": AT_TEXT}
    parsed = parse_headers({**headers, "Authorization": authorization(signed_headers="host;x-amz-date;x-gone")})
    assert "x-gone:" in parsed.canonical_request.split("\n")


def test_echoed_parts_are_cut_at_256_characters() -> None:
    from broker.crypto.sigv4._model import echo

    assert echo("x" * 256) == "x" * 256
    assert echo("x" * 257) == "x" * 256 + "..."
    assert echo("a\nb") == "a\\u000ab"


def test_requests_and_errors_are_values() -> None:
    signed = header_signed()
    with pytest.raises(dataclasses.FrozenInstanceError):
        signed.region = "eu-west-1"  # type: ignore[misc]
    assert repr(SigV4Error("RequestExpired", "late")) == "SigV4Error('RequestExpired', 'late')"


def test_the_expiry_message_names_the_window() -> None:
    signed = header_signed()
    late = AT + DEFAULT_MAX_SKEW + timedelta(minutes=1)
    error = expect("RequestExpired", lambda: verify_signature(signed, SECRET, late))
    assert error.message == (
        "Signature expired: 20260101T000000Z is now earlier than 20260101T000100Z (20260101T001600Z - 15 min.)"
    )
