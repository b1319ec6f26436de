"""``SerialNumber`` + ``TokenCode`` on AssumeRole and GetSessionToken: an MFA code the caller proves."""

from __future__ import annotations

import re

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.services.auth import Caller, caller_user
from broker.services.iam import mfa as iam_mfa
from broker.services.runtime import Runtime
from broker.services.sts._params import matching, required_length
from broker.store import Tx

# AWS's patterns, spelled as its messages show them.
_SERIAL_NUMBER = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_TOKEN_CODE = re.compile(r"[\d]*")
_MFA_FAILED = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)


def verify_mfa(
    runtime: Runtime, tx: Tx, caller: Caller, serial_number: str | None, token_code: str | None
) -> int | None:
    """SerialNumber + TokenCode: the MFA authentication time (Unix seconds) if given, else None.

    Malformed parameters get the ValidationError of their constraints; a device that is not the
    calling user's, a wrong, replayed or locked-out code get STS's AccessDenied; a device over its
    rate limit (every check counts) gets Throttling.
    """
    if serial_number is None and token_code is None:
        return None
    if serial_number is not None:
        required_length("serialNumber", serial_number, limits.MFA_SERIAL_NUMBER_MIN, limits.MFA_SERIAL_NUMBER_MAX)
        matching("serialNumber", serial_number, _SERIAL_NUMBER)
    if token_code is not None:
        required_length("tokenCode", token_code, 6, 6)
        matching("tokenCode", token_code, _TOKEN_CODE)
    if serial_number is None or token_code is None:
        raise AwsError("AccessDenied", _MFA_FAILED)
    return iam_mfa.verify_session_code(
        tx, runtime.box, caller_user(tx, caller), serial_number, token_code, runtime.now(), runtime.rate_limiter
    )
