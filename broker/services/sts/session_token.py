"""GetSessionToken: temporary credentials that act as the calling IAM user, optionally MFA-authenticated."""

from __future__ import annotations

from broker.iam.errors import AwsError
from broker.iam.names import validate_int_range
from broker.services.auth import Caller, caller_user
from broker.services.credentials import TemporaryCredentials, issue_user_session_credentials
from broker.services.runtime import Runtime
from broker.services.sts.mfa import verify_mfa
from broker.store import Tx

SESSION_TOKEN_DURATION_MIN = 900
SESSION_TOKEN_DURATION_MAX = 129_600
SESSION_TOKEN_DURATION_DEFAULT = 43_200


def get_session_token(
    runtime: Runtime,
    tx: Tx,
    caller: Caller,
    *,
    duration_seconds: int | None,
    serial_number: str | None,
    token_code: str | None,
) -> TemporaryCredentials:
    """Temporary credentials for an IAM user; no policy governs this call (AWS: it authenticates)."""
    if duration_seconds is not None:
        validate_int_range(duration_seconds, "durationSeconds", SESSION_TOKEN_DURATION_MIN, SESSION_TOKEN_DURATION_MAX)
    if caller.claims is not None:
        raise AwsError("AccessDenied", "Cannot call GetSessionToken with session credentials")
    user = caller_user(tx, caller)
    if user is None:
        raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.")
    mfa_time = verify_mfa(runtime, tx, caller, serial_number, token_code)
    return issue_user_session_credentials(
        runtime,
        user,
        duration_seconds=duration_seconds or SESSION_TOKEN_DURATION_DEFAULT,
        mfa=mfa_time is not None,
        mfa_auth_time=mfa_time,
    )


def restrict_session_token_calls(caller: Caller, action: str) -> None:
    """GetSessionToken credentials may call no STS API but AssumeRole and GetCallerIdentity."""
    if caller.is_session_token:
        raise AwsError("AccessDenied", f"Cannot call {action} with session credentials")
