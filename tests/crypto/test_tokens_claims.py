"""Every session-token claim survives issue -> verify, and every check on the claims refuses.

Written against the mutants that survived the older tests: a claim written or read under another
name, the MFA flag lost, the not-before and token-type checks deleted, the required-claims list
emptied. Each of those now fails a test here.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from broker.crypto.es256 import canonical_token
from broker.crypto.keys import TokenKey, TokenKeyRing
from broker.crypto.tokens import (
    AUDIENCE,
    CLOCK_SKEW_SECONDS,
    REQUIRED_CLAIMS,
    SESSION_TOKEN,
    TOKEN_TYPE,
    ExpiredSessionToken,
    InvalidSessionToken,
    SessionClaims,
    decode_session_token,
    derive_secret,
    encode_session_token,
    session_claims,
    verification_options,
)

ISSUER = "https://sso.example.com"
ISSUED = 1_800_000_000
EXPIRES = ISSUED + 3600


@pytest.fixture(scope="module")
def keys() -> TokenKeyRing:
    return TokenKeyRing(current=TokenKey("kid-now", ec.generate_private_key(ec.SECP256R1())), next=None, previous=None)


def full_claims(**overrides: Any) -> SessionClaims:
    """A session with every optional field set to a value other than its default."""
    values: dict[str, Any] = dict(
        token_id="tok-full",
        access_key_id="ASIAFULLFULLFULLFULL",
        account_id="210987654321",
        role_arn="arn:aws:iam::210987654321:role/Ops",
        role_name="Ops",
        role_id="AROAFULLFULLFULLFULL",
        session_name="carol",
        assumed_role_arn="arn:aws:sts::210987654321:assumed-role/Ops/carol",
        issued_at=ISSUED,
        expires_at=EXPIRES,
        auth_type="assume-role",
        provider_arn="arn:aws:iam::210987654321:saml-provider/corp",
        source_identity="carol@example.com",
        session_tags={"team": "red", "cost-center": "42"},
        transitive_tag_keys=("team", "cost-center"),
        mfa=True,
        mfa_auth_time=ISSUED - 60,
        session_policy='{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}',
        policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::210987654321:policy/Narrow"),
        federated={"saml:sub": "carol", "saml:aud": "https://sso.example.com/saml/acs"},
    )
    values.update(overrides)
    return SessionClaims(**values)


def payload_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def signed(payload: Mapping[str, Any], keys: TokenKeyRing, **header: Any) -> str:
    """A token signed by the broker's own key with any payload: only the claims checks stand."""
    headers = {"kid": keys.current.kid, "typ": TOKEN_TYPE, **header}
    token = jwt.encode(dict(payload), keys.current.private_key, algorithm="ES256", headers=headers)
    return canonical_token(token)


def good_payload(keys: TokenKeyRing) -> dict[str, Any]:
    return payload_of(encode_session_token(full_claims(), keys, ISSUER))


# --- round trips ------------------------------------------------------------------------------


def test_every_claim_comes_back(keys: TokenKeyRing) -> None:
    claims = full_claims()
    decoded = decode_session_token(encode_session_token(claims, keys, ISSUER), keys, ISSUER, now=ISSUED + 1)
    # Field by field first, so a lost claim names itself.
    assert decoded.token_id == "tok-full"
    assert decoded.access_key_id == "ASIAFULLFULLFULLFULL"
    assert decoded.account_id == "210987654321"
    assert decoded.role_arn == "arn:aws:iam::210987654321:role/Ops"
    assert decoded.role_name == "Ops"
    assert decoded.role_id == "AROAFULLFULLFULLFULL"
    assert decoded.session_name == "carol"
    assert decoded.assumed_role_arn == "arn:aws:sts::210987654321:assumed-role/Ops/carol"
    assert decoded.issued_at == ISSUED
    assert decoded.expires_at == EXPIRES
    assert decoded.auth_type == "assume-role"
    assert decoded.provider_arn == "arn:aws:iam::210987654321:saml-provider/corp"
    assert decoded.source_identity == "carol@example.com"
    assert decoded.session_tags == {"team": "red", "cost-center": "42"}
    assert decoded.transitive_tag_keys == ("team", "cost-center")
    assert decoded.mfa is True
    assert decoded.mfa_auth_time == ISSUED - 60
    assert decoded.session_policy == claims.session_policy
    assert decoded.policy_arns == ("arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::210987654321:policy/Narrow")
    assert decoded.federated == {"saml:sub": "carol", "saml:aud": "https://sso.example.com/saml/acs"}
    assert decoded == claims
    assert decoded.expiration == dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.UTC)


def test_a_session_without_optional_claims_comes_back_with_the_defaults(keys: TokenKeyRing) -> None:
    bare = SessionClaims(
        token_id="tok-bare",
        access_key_id="ASIABAREBAREBAREBARE",
        account_id="210987654321",
        role_arn="arn:aws:iam::210987654321:role/Ops",
        role_name="Ops",
        role_id="AROABAREBAREBAREBARE",
        session_name="dave",
        assumed_role_arn="arn:aws:sts::210987654321:assumed-role/Ops/dave",
        issued_at=ISSUED,
        expires_at=EXPIRES,
    )
    token = encode_session_token(bare, keys, ISSUER)
    # Absent claims are left out of the token, not written as null.
    assert set(payload_of(token)) == {*REQUIRED_CLAIMS, "typ"}
    decoded = decode_session_token(token, keys, ISSUER, now=ISSUED + 1)
    assert decoded == bare
    assert decoded.auth_type == "saml"
    assert (decoded.mfa, decoded.mfa_auth_time, decoded.session_policy, decoded.policy_arns) == (False, None, None, ())
    assert (decoded.session_tags, decoded.transitive_tag_keys, decoded.federated) == ({}, (), {})
    assert (decoded.provider_arn, decoded.source_identity) == (None, None)
    assert decoded.user_id == "AROABAREBAREBAREBARE:dave"


def test_the_wire_names_of_the_claims(keys: TokenKeyRing) -> None:
    """Other broker versions and broker.client read these names: they are a contract."""
    token = encode_session_token(full_claims(), keys, ISSUER)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "kid-now", "typ": "broker-session+jwt"}
    assert payload_of(token) == {
        "iss": ISSUER,
        "aud": "urn:broker:sts",
        "sub": "arn:aws:sts::210987654321:assumed-role/Ops/carol",
        "jti": "tok-full",
        "iat": ISSUED,
        "nbf": ISSUED,
        "exp": EXPIRES,
        "akid": "ASIAFULLFULLFULLFULL",
        "acct": "210987654321",
        "role": "arn:aws:iam::210987654321:role/Ops",
        "rnm": "Ops",
        "rid": "AROAFULLFULLFULLFULL",
        "snm": "carol",
        "typ": "assume-role",
        "prv": "arn:aws:iam::210987654321:saml-provider/corp",
        "sid": "carol@example.com",
        "tags": {"team": "red", "cost-center": "42"},
        "ttk": ["team", "cost-center"],
        "mfa": True,
        "mfat": ISSUED - 60,
        "pol": full_claims().session_policy,
        "parns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::210987654321:policy/Narrow"],
        "fed": {"saml:sub": "carol", "saml:aud": "https://sso.example.com/saml/acs"},
    }
    assert (AUDIENCE, TOKEN_TYPE, SESSION_TOKEN) == ("urn:broker:sts", "broker-session+jwt", "session-token")


def test_a_session_token_session_acts_as_the_user(keys: TokenKeyRing) -> None:
    claims = full_claims(auth_type=SESSION_TOKEN, role_id="AIDAUSERUSERUSERUSER")
    token = encode_session_token(claims, keys, ISSUER)
    assert payload_of(token)["typ"] == "session-token"
    decoded = decode_session_token(token, keys, ISSUER, now=ISSUED + 1)
    assert decoded.auth_type == SESSION_TOKEN
    assert decoded.user_id == "AIDAUSERUSERUSERUSER"


def test_mfa_without_an_auth_time_comes_back(keys: TokenKeyRing) -> None:
    claims = full_claims(mfa=True, mfa_auth_time=None)
    decoded = decode_session_token(encode_session_token(claims, keys, ISSUER), keys, ISSUER, now=ISSUED + 1)
    assert (decoded.mfa, decoded.mfa_auth_time) == (True, None)


def test_without_now_the_verifier_uses_its_clock(keys: TokenKeyRing) -> None:
    started = int(time.time())
    live = full_claims(issued_at=started, expires_at=started + 3600)
    assert decode_session_token(encode_session_token(live, keys, ISSUER), keys, ISSUER) == live
    with pytest.raises(ExpiredSessionToken):
        decode_session_token(encode_session_token(full_claims(), keys, ISSUER), keys, ISSUER, now=EXPIRES + 1)


def test_the_derived_secret_is_pinned() -> None:
    # Tokens outlive a deployment: a new version must derive the secret an older one handed out.
    assert derive_secret(b"k" * 32, "tok-1") == "pfo0trkFuXPjDlEG04mFehkJ70XEYA5GwNSUClwz"


# --- times --------------------------------------------------------------------------------------


def test_not_before_allows_exactly_the_clock_skew(keys: TokenKeyRing) -> None:
    assert CLOCK_SKEW_SECONDS == 300
    token = encode_session_token(full_claims(issued_at=ISSUED, expires_at=ISSUED + 7200), keys, ISSUER)
    assert decode_session_token(token, keys, ISSUER, now=ISSUED - 300).token_id == "tok-full"
    with pytest.raises(InvalidSessionToken, match="not valid yet"):
        decode_session_token(token, keys, ISSUER, now=ISSUED - 301)


def test_not_before_is_checked_on_its_own_claim(keys: TokenKeyRing) -> None:
    payload = {**good_payload(keys), "nbf": ISSUED + 1000}
    with pytest.raises(InvalidSessionToken, match="not valid yet"):
        decode_session_token(signed(payload, keys), keys, ISSUER, now=ISSUED + 600)
    assert decode_session_token(signed(payload, keys), keys, ISSUER, now=ISSUED + 700).token_id == "tok-full"


def test_expiry_boundary_and_leeway(keys: TokenKeyRing) -> None:
    payload = good_payload(keys)
    assert session_claims(payload, EXPIRES - 1).expires_at == EXPIRES
    with pytest.raises(ExpiredSessionToken):
        session_claims(payload, EXPIRES)
    assert session_claims(payload, EXPIRES + 9, leeway=10).token_id == "tok-full"
    with pytest.raises(ExpiredSessionToken):
        session_claims(payload, EXPIRES + 10, leeway=10)


@pytest.mark.parametrize("name", ["iat", "nbf", "exp"])
@pytest.mark.parametrize("value", [True, "1800000000", None, float("inf"), float("nan"), [ISSUED]])
def test_a_time_claim_that_is_not_a_time_is_refused(keys: TokenKeyRing, name: str, value: object) -> None:
    payload = {**good_payload(keys), name: value}
    with pytest.raises(InvalidSessionToken, match=f"{name} claim is not a time"):
        session_claims(payload, ISSUED + 1)


def test_a_fractional_time_is_accepted(keys: TokenKeyRing) -> None:
    payload = {**good_payload(keys), "iat": ISSUED + 0.5, "exp": EXPIRES + 0.5}
    decoded = session_claims(payload, ISSUED + 1)
    assert (decoded.issued_at, decoded.expires_at) == (ISSUED, EXPIRES)


# --- required claims and types -----------------------------------------------------------------


@pytest.mark.parametrize("name", [*REQUIRED_CLAIMS, "typ"])
def test_a_token_without_a_required_claim_is_refused_cleanly(keys: TokenKeyRing, name: str) -> None:
    payload = good_payload(keys)
    del payload[name]
    with pytest.raises(InvalidSessionToken):
        decode_session_token(signed(payload, keys), keys, ISSUER, now=ISSUED + 1)


def test_the_required_claims_list() -> None:
    assert set(REQUIRED_CLAIMS) == {"iss", "aud", "sub", "jti", "iat", "nbf", "exp", "akid", "acct", "role"} | {
        "rnm",
        "rid",
        "snm",
    }
    assert verification_options() == {
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "require": list(REQUIRED_CLAIMS),
    }
    assert verification_options(["exp"])["require"] == ["exp"]


@pytest.mark.parametrize("name", ["sub", "acct", "role", "rnm", "rid", "snm", "akid", "jti"])
@pytest.mark.parametrize("value", [7, None, ["x"], {"x": "y"}])
def test_a_text_claim_of_another_type_is_refused(keys: TokenKeyRing, name: str, value: object) -> None:
    payload = {**good_payload(keys), name: value}
    with pytest.raises(InvalidSessionToken, match="claims are malformed"):
        session_claims(payload, ISSUED + 1)


@pytest.mark.parametrize("tags", [["team"], {"team": 1}, {"team": None}, "team=red"])
def test_malformed_session_tags_are_refused(keys: TokenKeyRing, tags: object) -> None:
    with pytest.raises(InvalidSessionToken, match="session tags are malformed"):
        session_claims({**good_payload(keys), "tags": tags}, ISSUED + 1)


@pytest.mark.parametrize(("name", "what"), [("ttk", "transitive tag keys"), ("parns", "policy ARNs")])
@pytest.mark.parametrize("value", ["team", ["team", 7], {"team": "x"}])
def test_malformed_text_lists_are_refused(keys: TokenKeyRing, name: str, what: str, value: object) -> None:
    with pytest.raises(InvalidSessionToken, match=what):
        session_claims({**good_payload(keys), name: value}, ISSUED + 1)


@pytest.mark.parametrize("federated", [["saml:sub"], "saml:sub", 5])
def test_a_malformed_federation_context_is_refused(keys: TokenKeyRing, federated: object) -> None:
    with pytest.raises(InvalidSessionToken, match="federation context"):
        session_claims({**good_payload(keys), "fed": federated}, ISSUED + 1)


def test_optional_claims_of_another_type_read_as_absent(keys: TokenKeyRing) -> None:
    payload = {**good_payload(keys), "prv": 5, "sid": ["x"], "pol": {"Version": "2012-10-17"}, "mfat": True}
    decoded = session_claims(payload, ISSUED + 1)
    assert (decoded.provider_arn, decoded.source_identity, decoded.session_policy) == (None, None, None)
    assert decoded.mfa_auth_time is None
    assert session_claims({**payload, "mfat": "1799999940"}, ISSUED + 1).mfa_auth_time is None
    assert session_claims({**payload, "mfat": 1_799_999_940}, ISSUED + 1).mfa_auth_time == 1_799_999_940


@pytest.mark.parametrize("flag", [1, "true", "yes", [True]])
def test_only_a_json_true_is_mfa(keys: TokenKeyRing, flag: object) -> None:
    assert session_claims({**good_payload(keys), "mfa": flag}, ISSUED + 1).mfa is False


def test_a_payload_read_without_typ_has_no_auth_type(keys: TokenKeyRing) -> None:
    payload = good_payload(keys)
    del payload["typ"]
    assert session_claims(payload, ISSUED + 1).auth_type == ""


# --- header -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "broker-session", None])
def test_a_token_of_another_type_is_refused(keys: TokenKeyRing, typ: str | None) -> None:
    token = signed(good_payload(keys), keys, typ=typ)
    with pytest.raises(InvalidSessionToken):
        decode_session_token(token, keys, ISSUER, now=ISSUED + 1)


def test_a_token_for_another_audience_is_refused(keys: TokenKeyRing) -> None:
    token = signed({**good_payload(keys), "aud": "urn:other"}, keys)
    with pytest.raises(InvalidSessionToken):
        decode_session_token(token, keys, ISSUER, now=ISSUED + 1)


@pytest.mark.parametrize("kid_length", [1, 2, 3])
def test_the_kid_is_found_whatever_the_header_length(keys: TokenKeyRing, kid_length: int) -> None:
    """The header segment is unpadded base64url of any length (these make all three): each must decode."""
    kid = "k" * kid_length
    ring = TokenKeyRing(current=TokenKey(kid, keys.current.private_key), next=None, previous=None)
    token = encode_session_token(full_claims(), ring, ISSUER)
    assert decode_session_token(token, ring, ISSUER, now=ISSUED + 1).token_id == "tok-full"


# --- what a refusal says ------------------------------------------------------------------------


def test_claims_cannot_be_changed_after_verification(keys: TokenKeyRing) -> None:
    decoded = decode_session_token(encode_session_token(full_claims(), keys, ISSUER), keys, ISSUER, now=ISSUED + 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.role_arn = "arn:aws:iam::210987654321:role/Admin"  # type: ignore[misc]


INVALID = "The security token included in the request is invalid."


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_a_refused_token_says_only_that_it_is_invalid(keys: TokenKeyRing) -> None:
    """The AWS wording, and nothing the token holds."""
    token = encode_session_token(full_claims(), keys, ISSUER)
    foreign = TokenKeyRing(current=TokenKey("other", ec.generate_private_key(ec.SECP256R1())), next=None, previous=None)
    with pytest.raises(InvalidSessionToken, match=exactly(INVALID)):
        decode_session_token(token, foreign, ISSUER, now=ISSUED + 1)  # unknown key
    with pytest.raises(InvalidSessionToken, match=exactly(INVALID)):
        decode_session_token(token, keys, "https://other.example", now=ISSUED + 1)  # PyJWT refuses
    with pytest.raises(InvalidSessionToken, match=exactly(INVALID)):
        decode_session_token(signed(good_payload(keys), keys, typ="JWT"), keys, ISSUER, now=ISSUED + 1)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"nbf": "soon"}, InvalidSessionToken, "the token's nbf claim is not a time"),
        ({"nbf": ISSUED + 10_000}, InvalidSessionToken, "the token is not valid yet"),
        ({"exp": ISSUED}, ExpiredSessionToken, "the session has expired"),
        ({"rid": 7}, InvalidSessionToken, "the token's claims are malformed"),
        ({"tags": ["x"]}, InvalidSessionToken, "the token's session tags are malformed"),
        ({"fed": ["x"]}, InvalidSessionToken, "the token's federation context is malformed"),
        ({"ttk": [1]}, InvalidSessionToken, "the token's transitive tag keys are malformed"),
        ({"parns": [1]}, InvalidSessionToken, "the token's policy ARNs are malformed"),
    ],
)
def test_each_claims_refusal_says_what_is_wrong(
    keys: TokenKeyRing, change: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=exactly(message)):
        session_claims({**good_payload(keys), **change}, ISSUED + 1)
