from __future__ import annotations

import base64
import re

import pytest

from broker.iam.ids import (
    is_access_key_id,
    is_account_id,
    is_secret_access_key,
    is_temporary_access_key_id,
    is_unique_id,
    new_access_key_id,
    new_account_id,
    new_secret_access_key,
    new_unique_id,
)

SAMPLES = 500


@pytest.mark.parametrize("prefix", ["AIDA", "AROA", "AGPA", "ANPA"])
def test_unique_ids(prefix: str) -> None:
    ids = {new_unique_id(prefix) for _ in range(SAMPLES)}  # type: ignore[arg-type]
    assert len(ids) == SAMPLES
    for unique_id in ids:
        assert re.fullmatch(prefix + r"[A-Z2-7]{17}", unique_id)
        assert len(unique_id) == 21
        assert is_unique_id(unique_id)
        assert is_unique_id(unique_id, prefix)  # type: ignore[arg-type]
    assert not is_unique_id(ids.pop(), "AIDA" if prefix != "AIDA" else "AROA")


def test_unique_id_prefix_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown unique-id prefix"):
        new_unique_id("AKIA")  # type: ignore[arg-type]


@pytest.mark.parametrize(("temporary", "prefix"), [(True, "ASIA"), (False, "AKIA")])
def test_access_key_ids(temporary: bool, prefix: str) -> None:
    ids = {new_access_key_id(temporary) for _ in range(SAMPLES)}
    assert len(ids) == SAMPLES
    for key_id in ids:
        assert re.fullmatch(prefix + r"[A-Z2-7]{16}", key_id)
        assert is_access_key_id(key_id)
        assert is_temporary_access_key_id(key_id) is temporary


def test_secret_access_keys() -> None:
    secrets = {new_secret_access_key() for _ in range(SAMPLES)}
    assert len(secrets) == SAMPLES
    for secret in secrets:
        assert len(secret) == 40
        assert is_secret_access_key(secret)
        assert len(base64.b64decode(secret)) == 30


def test_account_ids() -> None:
    ids = [new_account_id() for _ in range(SAMPLES)]
    assert len(set(ids)) == SAMPLES
    for account_id in ids:
        assert re.fullmatch(r"[1-9][0-9]{11}", account_id)
        assert is_account_id(account_id)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123456789012", True),
        ("012345678901", True),  # real accounts may start with 0; only new ones avoid it
        ("12345678901", False),
        ("1234567890123", False),
        ("12345678901a", False),
        ("123456789012\n", False),
        ("\uff11\uff12\uff13456789012", False),  # fullwidth digits are not ASCII digits
        ("", False),
    ],
)
def test_is_account_id(value: str, expected: bool) -> None:
    assert is_account_id(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AKIAZ2Z3Z4Z5Z6Z7ABCD", True),
        ("ASIAZ2Z3Z4Z5Z6Z7ABCD", True),
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("AKIAZ2Z3Z4Z5Z6Z7ABC", False),  # 19 characters
        ("AKIAZ2Z3Z4Z5Z6Z7ABCDE", False),  # 21
        ("AKIAZ2Z3Z4Z5Z6Z7ABC0", False),  # 0 is not in the base32 alphabet
        ("akiaz2z3z4z5z6z7abcd", False),
        ("AROAZ2Z3Z4Z5Z6Z7ABCD", False),
        ("AKIDEXAMPLE", False),
    ],
)
def test_is_access_key_id(value: str, expected: bool) -> None:
    assert is_access_key_id(value) is expected
