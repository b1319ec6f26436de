"""Checking a typed device user code, with wrong guesses counted, locked out and audited.

Every code a person types on the verification page (the lookup, the ``?user_code=`` link, the
approve and deny buttons) goes through :func:`check_user_code`. A wrong one (unknown, expired,
already decided, locked) counts against the browser session and the client address that typed
it; :data:`~.user_codes.MAX_WRONG_CODES` within the window lock both out of entering any code,
the right one included, for :data:`~.user_codes.WRONG_CODE_LOCKOUT`. A locked-out guesser who
types a live code gives that device authorization a strike, and so does a refused decision on
it; :data:`~.user_codes.MAX_DEVICE_STRIKES` lock the device authorization for good (its CLI is
told ``access_denied``). Each refusal is recorded as a ``VerifyUserCode`` event with a precise
``errorCode``, in the transaction that counts it. The counters live in the CLI sign-in's own
tables, so every instance sees them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from broker.iam.timestamps import aws_timestamp
from broker.services.cli_auth import user_codes
from broker.services.cli_auth.errors import AuthorizeRefused
from broker.services.federation import BrowserSession, token_hash
from broker.store import Tx
from broker.store import cli_auth as store
from broker.store.cli_auth import DeviceAuthorizationRecord

EVENT = "VerifyUserCode"
NOT_VALID = "That code is not valid or has expired. Check the code your terminal shows."


@dataclass(frozen=True)
class CodeCheck:
    """A typed code's outcome: the pending device authorization it names, or the refusal to
    raise once the transaction that counted it (and audits it) has committed."""

    row: DeviceAuthorizationRecord | None
    refusal: AuthorizeRefused | None
    audit: dict[str, Any]


def _guesser_keys(web: BrowserSession, client_address: str | None) -> list[tuple[str, str]]:
    keys = [(token_hash(f"session:{web.id_hash}"), "session")]
    if client_address:
        keys.append((token_hash(f"address:{client_address}"), "address"))
    return keys


def _device_key(device_code_hash: str) -> str:
    return token_hash(f"device:{device_code_hash}")


def _live(row: DeviceAuthorizationRecord | None, now: dt.datetime) -> bool:
    return row is not None and row.status == "pending" and row.expires_at > now


def strike_device(tx: Tx, row: DeviceAuthorizationRecord, now: dt.datetime) -> bool:
    """One failed attempt on a live device authorization; True if that locked it."""
    counted = store.count_user_code_failure(
        tx,
        _device_key(row.device_code_hash),
        "device",
        now,
        window=row.expires_at - row.created_at,
        max_failures=user_codes.MAX_DEVICE_STRIKES,
        lockout=row.expires_at - row.created_at,
    )
    return counted.locked_until is not None and store.lock_device_authorization(tx, row.device_code_hash, now)


def check_user_code(
    tx: Tx, typed: str | None, web: BrowserSession, client_address: str | None, now: dt.datetime
) -> CodeCheck:
    """The live device authorization ``typed`` names, or the refusal (its failure already counted).

    ``client_address``: the typing client as the per-address limits key it
    (:func:`broker.services.ratelimit.client_key`: an IPv6 client's network)."""
    keys = _guesser_keys(web, client_address)
    code = user_codes.normalise_user_code(typed)
    row = store.device_authorization_by_user_code(tx, code) if code else None
    audit: dict[str, Any] = {"userCodeWellFormed": code is not None}
    if row is not None:
        audit["deviceAuthorizationId"] = row.device_code_hash[:16]

    locks = store.user_code_locks(tx, [key for key, _ in keys], now)
    if locks:
        until = max(lock.locked_until for lock in locks if lock.locked_until is not None)
        detail = f"locked out ({', '.join(lock.kind for lock in locks)}) until {aws_timestamp(until)}"
        if row is not None and _live(row, now):
            detail += "; the code typed was live"
            if strike_device(tx, row, now):
                detail += " and is now locked"
        minutes = max(1, int((until - now).total_seconds() + 59) // 60)
        refusal = AuthorizeRefused(
            "TooManyUserCodeAttempts",
            f"Too many wrong codes were typed from this browser or network. Try again in {minutes} min.",
            429,
            audit_detail=detail,
        )
        return CodeCheck(None, refusal, audit)

    if code is None:
        # Not a code at all (wrong length, a digit, a vowel): it cannot hit one, so it is not counted.
        shown = "That is not a code from the terminal: it has 8 letters, like BCDF-GHJK."
        return CodeCheck(None, AuthorizeRefused("MalformedUserCode", shown, 400, audit_detail="not counted"), audit)
    if row is None:
        refusal = AuthorizeRefused("UnknownUserCode", NOT_VALID, 404, audit_detail="no such code")
    elif row.expires_at <= now:
        refusal = AuthorizeRefused("ExpiredUserCode", NOT_VALID, 404, audit_detail="the code has expired")
    elif row.status == "locked":
        refusal = AuthorizeRefused("LockedUserCode", NOT_VALID, 404, audit_detail="the code was locked")
    elif row.status != "pending":
        refusal = AuthorizeRefused("UsedUserCode", NOT_VALID, 404, audit_detail=f"the code was already {row.status}")
    else:
        return CodeCheck(row, None, audit)

    counts = [
        store.count_user_code_failure(
            tx,
            key,
            kind,
            now,
            window=user_codes.WRONG_CODE_WINDOW,
            max_failures=user_codes.MAX_WRONG_CODES,
            lockout=user_codes.WRONG_CODE_LOCKOUT,
        )
        for key, kind in keys
    ]
    audit["wrongCodes"] = {c.kind: c.failures for c in counts}
    locked = [c for c in counts if c.locked_until is not None and c.locked_until > now]
    if locked:
        refusal.audit_detail = f"{refusal.audit_detail}; now locked out ({', '.join(c.kind for c in locked)})"
    return CodeCheck(None, refusal, audit)
