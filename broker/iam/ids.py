"""Identifiers in AWS's formats: unique ids, access key ids, secrets, account ids.

All randomness comes from :mod:`secrets`: unique ids and key ids are not secret, but
they must not be guessable either (AWS treats them as opaque and so do policies).
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Final, Literal, get_args

# A unique id begins with its kind's prefix: AIDA user, AROA role, AGPA group, ANPA managed policy.
UniqueIdPrefix = Literal["AIDA", "AROA", "AGPA", "ANPA"]
UNIQUE_ID_PREFIXES: Final[frozenset[str]] = frozenset(get_args(UniqueIdPrefix))
LONG_TERM_KEY_PREFIX: Final = "AKIA"
TEMPORARY_KEY_PREFIX: Final = "ASIA"

# AWS ids use the RFC 4648 base32 alphabet (no 0, 1, 8, 9), which keeps them unambiguous.
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
UNIQUE_ID_LENGTH: Final = 21
ACCESS_KEY_ID_LENGTH: Final = 20
SECRET_ACCESS_KEY_LENGTH: Final = 40

_UNIQUE_ID = re.compile(r"(AIDA|AROA|AGPA|ANPA)[A-Z2-7]{17}")
_ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z2-7]{16}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_SECRET_ACCESS_KEY = re.compile(r"[A-Za-z0-9+/]{40}")


def _random_chars(count: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(count))


def new_unique_id(prefix: UniqueIdPrefix) -> str:
    """``AIDA`` user, ``AROA`` role, ``AGPA`` group or ``ANPA`` managed policy id (21 chars)."""
    if prefix not in UNIQUE_ID_PREFIXES:
        raise ValueError(f"unknown unique-id prefix {prefix!r}")
    return prefix + _random_chars(UNIQUE_ID_LENGTH - len(prefix))


class Secret(str):
    """A secret a result hands its caller once (a service-specific password): rendered on the wire
    like any text, left out of what the audit trail records (whatever its element's name)."""


def new_instance_profile_id() -> str:
    """``AIPA…``: an instance profile's id (21 chars). Not a principal's: it is no UniqueIdPrefix."""
    return "AIPA" + _random_chars(UNIQUE_ID_LENGTH - 4)


def new_access_key_id(temporary: bool) -> str:
    """``ASIA…`` for temporary credentials, ``AKIA…`` for a user's long-term key (20 chars)."""
    prefix = TEMPORARY_KEY_PREFIX if temporary else LONG_TERM_KEY_PREFIX
    return prefix + _random_chars(ACCESS_KEY_ID_LENGTH - len(prefix))


def new_secret_access_key() -> str:
    """40 characters of standard base64 (240 random bits), the shape of AWS's secrets."""
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")


def new_account_id() -> str:
    # No leading zero: tools that read account ids as numbers would drop it.
    return secrets.choice("123456789") + "".join(secrets.choice("0123456789") for _ in range(11))


def is_account_id(value: str) -> bool:
    """Twelve ASCII digits (AWS account ids may start with 0)."""
    return _ACCOUNT_ID.fullmatch(value) is not None


def is_access_key_id(value: str) -> bool:
    """An ``AKIA``/``ASIA`` key id as the broker issues them."""
    return _ACCESS_KEY_ID.fullmatch(value) is not None


def is_temporary_access_key_id(value: str) -> bool:
    return is_access_key_id(value) and value.startswith(TEMPORARY_KEY_PREFIX)


def is_unique_id(value: str, prefix: UniqueIdPrefix | None = None) -> bool:
    if _UNIQUE_ID.fullmatch(value) is None:
        return False
    return prefix is None or value.startswith(prefix)


def is_secret_access_key(value: str) -> bool:
    return _SECRET_ACCESS_KEY.fullmatch(value) is not None
