"""ACS time boundaries to the second, written against mutants the older tests let through.

Every expiry in a Response means "not on or after": a message is refused AT the instant
(minus the clock skew), accepted one second before it. A check flipped from ``<=`` to ``<`` moves
the boundary by an instant, and only a test at the exact instant notices.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from lxml import etree

from broker.saml.acs import AcsPolicy, ProviderTrust, validate_response
from tests.saml.conftest import NOW, PROVIDER_ARN, Acs
from tests.support.saml_factory import (
    ACS_URL,
    IDP_ENTITY_ID,
    REQUEST_ID,
    RSA_SHA1,
    SHA1,
    SP_ENTITY_ID,
    Confirmation,
    Encryption,
    one,
    response_b64,
)

SKEW = dt.timedelta(seconds=60)
SECOND = dt.timedelta(seconds=1)


def message(acs: Acs, **changes: object) -> str:
    return response_b64(acs.options(**changes))


def test_the_suite_skew_is_sixty_seconds(acs: Acs) -> None:
    assert acs.policy.clock_skew == SKEW


def test_subject_confirmation_expires_at_its_instant_minus_the_skew(acs: Acs) -> None:
    at_boundary = message(acs, confirmations=(Confirmation(not_on_or_after=-SKEW),))
    acs.refuse(at_boundary, "Expired")
    just_before = message(acs, confirmations=(Confirmation(not_on_or_after=-SKEW + SECOND),))
    assert acs.accept(just_before).not_on_or_after == NOW - SKEW + SECOND


def test_the_same_confirmation_expires_as_the_clock_moves(acs: Acs) -> None:
    expiring = message(acs, confirmations=(Confirmation(not_on_or_after=dt.timedelta(seconds=10)),))
    acs.accept(expiring, now=NOW + dt.timedelta(seconds=69))
    acs.refuse(expiring, "Expired", now=NOW + dt.timedelta(seconds=70))


def test_session_not_on_or_after_expires_at_its_instant_minus_the_skew(acs: Acs) -> None:
    acs.refuse(message(acs, session_not_on_or_after=-SKEW), "Expired")
    accepted = acs.accept(message(acs, session_not_on_or_after=-SKEW + SECOND))
    assert accepted.session_not_on_or_after == NOW - SKEW + SECOND


def test_conditions_not_on_or_after_expires_at_its_instant_minus_the_skew(acs: Acs) -> None:
    acs.refuse(message(acs, not_on_or_after=-SKEW), "Expired")
    acs.accept(message(acs, not_on_or_after=-SKEW + SECOND))


def test_conditions_not_before_is_accepted_up_to_the_skew(acs: Acs) -> None:
    acs.accept(message(acs, not_before=SKEW))
    acs.refuse(message(acs, not_before=SKEW + SECOND), "NotYetValid")


@pytest.mark.parametrize("skew_seconds", [0, 300])
def test_the_boundaries_follow_the_policy_skew(acs: Acs, skew_seconds: int) -> None:
    skew = dt.timedelta(seconds=skew_seconds)
    policy = dataclasses.replace(acs.policy, clock_skew=skew)
    acs.refuse(message(acs, confirmations=(Confirmation(not_on_or_after=-skew),)), "Expired", policy=policy)
    acs.accept(message(acs, confirmations=(Confirmation(not_on_or_after=-skew + SECOND),)), policy=policy)


def test_a_provider_registration_expires_after_its_instant(acs: Acs) -> None:
    good = message(acs)
    acs.accept(good, provider=dataclasses.replace(acs.provider, valid_until=NOW))
    acs.refuse(good, "ProviderExpired", provider=dataclasses.replace(acs.provider, valid_until=NOW - SECOND))


# --- what the ACS is configured with ------------------------------------------------------------


def test_the_default_size_limit_is_256_kib(acs: Acs) -> None:
    assert AcsPolicy(acs_url=ACS_URL, sp_entity_id=SP_ENTITY_ID, decryption_keys=()).max_bytes == 262_144
    # Padded with whitespace, which base64 decoding skips: only the limit decides.
    message = message_of_length(acs, 262_144)
    acs.accept(message, policy=dataclasses.replace(acs.policy, max_bytes=AcsPolicy.max_bytes))
    acs.refuse(message + " ", "MessageTooLarge", policy=dataclasses.replace(acs.policy, max_bytes=AcsPolicy.max_bytes))


def message_of_length(acs: Acs, length: int) -> str:
    text = message(acs)
    assert len(text) < length
    return text + "\n" * (length - len(text))


def test_trust_and_policy_cannot_be_changed_once_made(acs: Acs) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        acs.provider.allow_sha1 = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        acs.policy.max_bytes = 10**9  # type: ignore[misc]


def test_a_provider_allows_neither_sha1_nor_cbc_unless_asked(acs: Acs) -> None:
    bare = ProviderTrust(
        arn=PROVIDER_ARN, name="Corp", entity_id=IDP_ENTITY_ID, signing_certs=acs.provider.signing_certs
    )
    assert (bare.allow_sha1, bare.allow_cbc, bare.valid_until) == (False, False, None)
    sha1 = message(acs, sign_assertion=acs.idp.signer(RSA_SHA1, SHA1))
    acs.refuse(sha1, "DisallowedAlgorithm", provider=bare)
    cbc = message(acs, encrypt=Encryption(acs.sp.cert_pem, data="aes128-cbc"))
    acs.refuse(cbc, "DisallowedAlgorithm", provider=bare)


def test_the_finder_is_told_the_in_response_to(acs: Acs) -> None:
    """The InResponseTo narrows which registration's keys check the message (one IdP, several accounts)."""
    asked: list[tuple[str, str | None]] = []

    def find(issuer: str, in_response_to: str | None) -> ProviderTrust | None:
        asked.append((issuer, in_response_to))
        return acs.provider if issuer == IDP_ENTITY_ID else None

    validate_response(message(acs), acs.policy, find, NOW)
    validate_response(message(acs, issuer=None), acs.policy, find, NOW)
    validate_response(
        message(acs, in_response_to=None, confirmations=(Confirmation(in_response_to=None),)), acs.policy, find, NOW
    )
    assert asked == [(IDP_ENTITY_ID, REQUEST_ID), (IDP_ENTITY_ID, REQUEST_ID), (IDP_ENTITY_ID, None)]


def test_an_encrypted_assertion_in_a_response_without_issuer(acs: Acs) -> None:
    # The provider is only known from the decrypted assertion: decryption runs without one.
    accepted = acs.accept(message(acs, issuer=None, encrypt=Encryption(acs.sp.cert_pem)))
    assert accepted.encrypted and accepted.issuer == IDP_ENTITY_ID


# --- what content.py reads: offsets, comments -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2025-03-14T19:26:53+10:00", NOW),
        ("2025-03-13T21:56:53-11:30", NOW),
        ("2025-03-14T09:26:53.123456789Z", NOW + dt.timedelta(microseconds=123456)),
    ],
)
def test_two_digit_zone_offsets_and_long_fractions(acs: Acs, text: str, utc: dt.datetime) -> None:
    assert acs.accept(message(acs, authn_instant=text)).authn_instant == utc


def _comment_in(path: str, text: str) -> object:
    def add(response: etree._Element) -> None:
        one(response, path).append(etree.Comment(text))

    return add


def test_a_comment_at_the_end_of_the_name_id_is_not_part_of_it(acs: Acs) -> None:
    accepted = acs.accept(message(acs, before_signing=_comment_in(".//saml:Subject/saml:NameID", "x")))
    assert accepted.subject == "alice@corp.example"


def test_a_comment_naming_us_is_not_an_audience(acs: Acs) -> None:
    """Exclusive c14n drops comments, so anyone can add one to a signed assertion meant for another SP."""
    other_sp = message(
        acs,
        audience_restrictions=(("https://other-sp.example/metadata",),),
        before_signing=_comment_in(".//saml:AudienceRestriction", SP_ENTITY_ID),
    )
    acs.refuse(other_sp, "WrongAudience")


@pytest.mark.parametrize("assertion_id", [None, ""])
def test_an_assertion_without_an_id_is_refused(acs: Acs, assertion_id: str | None) -> None:
    # Signed as part of the Response, so only the missing ID is wrong. The replay guard keys on
    # the ID: accepted, every ID-less assertion of the IdP would have shared the key "".
    unsigned_assertion = message(acs, assertion_id=assertion_id, sign_assertion=None, sign_response=acs.idp.signer())
    assert "has no ID" in acs.refuse(unsigned_assertion, "MalformedMessage").detail
