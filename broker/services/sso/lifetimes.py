"""How long an SSO sign-in lasts before the IdP must be visited again, per role or per account.

An administrator sets it with a tag, as other per-resource settings are set in AWS:

- the role tag ``broker:sso-session-duration`` (seconds), through IAM ``TagRole`` or
  ``CreateRole``;
- else the same tag on the member account, through Organizations ``TagResource`` (the account id
  as the resource id);
- else the setting ``sso_session_lifetime_seconds`` (default 8 hours).

A value must be whole seconds from 900 (15 minutes) to 7776000 (90 days, IAM Identity Center's
maximum); any other value is ignored (the next level applies) and logged.

One SSO session reaches several roles: it lasts as long as the longest-lived of the roles it is
offered (never past the IdP's SessionNotOnOrAfter), and each role is offered only while the
session is younger than that role's own duration. A refresh or portal call after every role's
duration has passed is refused, and the person signs in again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Final

from broker.services.cache import VersionedCache
from broker.services.federation import RoleOffer, SignIn
from broker.services.iam.roles import find_role
from broker.services.sso.offers import current_offers
from broker.store import Tx
from broker.store import orgs as orgs_store

log = logging.getLogger("broker.sso")

SESSION_DURATION_TAG: Final = "broker:sso-session-duration"
MIN_SESSION_SECONDS: Final = 900
MAX_SESSION_SECONDS: Final = 90 * 24 * 3600


def _tagged_seconds(tags: dict[str, str] | None, where: str) -> int | None:
    for key, value in (tags or {}).items():
        if key.lower() != SESSION_DURATION_TAG:  # IAM tag keys compare without case
            continue
        text = value.strip()
        if text.isascii() and text.isdigit() and MIN_SESSION_SECONDS <= int(text) <= MAX_SESSION_SECONDS:
            return int(text)
        log.warning(
            "ignored %s=%r on %s: not whole seconds from %d to %d",
            SESSION_DURATION_TAG,
            value[:64],
            where,
            MIN_SESSION_SECONDS,
            MAX_SESSION_SECONDS,
        )
    return None


def role_session_seconds(tx: Tx, offer: RoleOffer, default_seconds: int, cache: VersionedCache | None = None) -> int:
    """The sign-in length for ``offer``'s role: its tag, its account's tag, or ``default_seconds``.

    With ``cache``, held under the account's generation stamp (a role's tags bump its account, an
    organization's account tags bump every account), so a portal call or refresh that finds it
    warm reads no tag."""
    if cache is None:
        return _role_session_seconds(tx, offer, default_seconds)
    key = ("sso-session-seconds", offer.account_id, offer.role_name.lower(), default_seconds)
    return cache.get(tx, offer.account_id, key, lambda: _role_session_seconds(tx, offer, default_seconds))


def _role_session_seconds(tx: Tx, offer: RoleOffer, default_seconds: int) -> int:
    role = find_role(tx, offer.account_id, offer.role_name)
    seconds = _tagged_seconds(dict(role.tags), offer.role_arn) if role is not None else None
    if seconds is None:
        account = orgs_store.tagged(tx, offer.account_id)
        seconds = _tagged_seconds(account.tags if account else None, f"account {offer.account_id}")
    return seconds if seconds is not None else default_seconds


def session_expiry(
    tx: Tx,
    sign_in: SignIn,
    offers: Sequence[RoleOffer],
    now: dt.datetime,
    default_seconds: int,
    cache: VersionedCache | None = None,
) -> dt.datetime:
    """When a session opened ``now`` ends: the longest of its roles' lengths, never past the
    IdP's SessionNotOnOrAfter."""
    seconds = max(
        (role_session_seconds(tx, offer, default_seconds, cache) for offer in offers), default=default_seconds
    )
    expires_at = now + dt.timedelta(seconds=seconds)
    if sign_in.session_not_on_or_after:
        expires_at = min(expires_at, dt.datetime.fromisoformat(sign_in.session_not_on_or_after))
    return expires_at


def offers_in_session(
    tx: Tx,
    sign_in: SignIn,
    session_started: dt.datetime,
    now: dt.datetime,
    default_seconds: int,
    cache: VersionedCache | None = None,
) -> tuple[list[RoleOffer], bool]:
    """The roles a session started at ``session_started`` still reaches now: trust decided again
    (:func:`current_offers`), and only those whose own duration has not passed. The flag tells
    whether any role trusts the sign-in at all (False: trust changed; True with no role: the
    sign-in has lasted as long as its roles allow)."""
    trusted = current_offers(tx, sign_in)
    age = now - session_started
    kept = [
        offer
        for offer in trusted
        if age < dt.timedelta(seconds=role_session_seconds(tx, offer, default_seconds, cache))
    ]
    return kept, bool(trusted)
