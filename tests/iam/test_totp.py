"""RFC 6238 (appendix B) and RFC 4226 (appendix D) test vectors, and the drift windows."""

from __future__ import annotations

import pytest

from broker.iam import totp

RFC6238_SEED = b"12345678901234567890"


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_sha1_vectors(unix_time: int, expected: str) -> None:
    assert totp.totp(RFC6238_SEED, unix_time, digits=8) == expected
    assert totp.totp(RFC6238_SEED, unix_time) == expected[-6:]


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(
        enumerate(["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"])
    ),
)
def test_rfc4226_vectors(counter: int, expected: str) -> None:
    assert totp.hotp(RFC6238_SEED, counter) == expected


def test_seed_round_trip_and_length() -> None:
    seed = totp.new_seed()
    text = totp.base32_seed(seed)
    assert len(text) == 64 and "=" not in text
    assert totp.seed_from_base32(text) == seed


def test_one_step_of_drift() -> None:
    seed = totp.new_seed()
    now = 1_700_000_015.0
    step = totp.time_step(now)
    assert totp.matching_step(seed, totp.totp(seed, now), step) == step
    assert totp.matching_step(seed, totp.totp(seed, now - 30), step) == step - 1
    assert totp.matching_step(seed, totp.totp(seed, now + 30), step) == step + 1
    assert totp.matching_step(seed, totp.totp(seed, now + 90), step) is None


def test_consecutive_pair() -> None:
    seed = totp.new_seed()
    now = 1_700_000_015.0
    step = totp.time_step(now)
    first, second = totp.totp(seed, now - 30), totp.totp(seed, now)
    assert totp.matching_pair(seed, first, second, step) == step
    assert totp.matching_pair(seed, second, first, step) is None


def test_otpauth_uri() -> None:
    uri = totp.otpauth_uri(b"\x00" * 10, "alice@123456789012", "Broker")
    assert uri == "otpauth://totp/Broker:alice@123456789012?secret=AAAAAAAAAAAAAAAA&issuer=Broker"
