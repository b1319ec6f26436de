"""The broker's token verification keys, fetched from its JWKS and cached.

Keys are cached for ``ttl`` seconds. A token signed by a key the cache does not hold (the
broker rotated its keys) triggers a refresh, but at most one fetch per
``min_refresh_interval`` seconds, so tokens with made-up key ids cannot make the client
hammer the broker. When a refresh fails, the keys already held stay in use (the broker being
briefly unreachable should not fail every verification); only a client that never fetched
the keys fails with :class:`JwksError`.

Thread-safe: readers of a fresh cache take no lock; refreshes are serialised, so threads
that miss at the same moment cause one fetch between them. A fetch is waited for at most
``fetch_deadline`` seconds in all: a broker that answers a byte at a time (each read within the
socket timeout) would otherwise hold every verification behind the lock. A fetch still running
then is left to finish on its own thread, and no other starts until it has.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from broker.client.errors import BrokerClientError, JwksError

log = logging.getLogger("broker.client")

PublicKey = ec.EllipticCurvePublicKey


def _b64url_int(value: object) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 32 else None


def _public_key(jwk: Mapping[str, Any]) -> PublicKey | None:
    """An ES256 signing key of the JWKS, or None for any other kind of entry."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    if jwk.get("alg", "ES256") != "ES256" or jwk.get("use", "sig") != "sig":
        return None
    x, y = _b64url_int(jwk.get("x")), _b64url_int(jwk.get("y"))
    if x is None or y is None:
        return None
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:  # not a point on the curve
        return None


def parse_jwks(document: object) -> dict[str, PublicKey]:
    """kid -> key for every usable ES256 key; entries of other kinds are skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError('the JWKS is not a JSON object with a "keys" array')
    keys: dict[str, PublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str):
            continue
        key = _public_key(jwk)
        if key is not None:
            keys[jwk["kid"]] = key
    return keys


@dataclass(frozen=True)
class _Snapshot:
    keys: Mapping[str, PublicKey]
    fetched_at: float


class JwksCache:
    def __init__(
        self,
        fetch: Callable[[], object],
        *,
        ttl: float,
        min_refresh_interval: float,
        clock: Callable[[], float],
        fetch_deadline: float = 10.0,
    ) -> None:
        if ttl <= 0:
            raise ValueError("jwks_ttl must be positive")
        if min_refresh_interval < 0:
            raise ValueError("jwks_min_refresh_interval must not be negative")
        self._fetch = fetch
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._attempted_at: float | None = None
        self._last_error = ""
        self._fetches = 0
        self._fetch_deadline = fetch_deadline
        self._in_flight: threading.Thread | None = None

    @property
    def fetches(self) -> int:
        """How many times the JWKS was requested (successfully or not)."""
        return self._fetches

    def key(self, kid: str) -> PublicKey | None:
        """The key with this id, refreshing the cache if it is stale or lacks the key.

        None when the broker does not publish such a key (or a refresh is not yet allowed).
        """
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - snapshot.fetched_at < self._ttl:
            found = snapshot.keys.get(kid)
            if found is not None:
                return found
        with self._lock:
            now = self._clock()
            snapshot = self._snapshot
            wanted = snapshot is None or now - snapshot.fetched_at >= self._ttl or kid not in snapshot.keys
            if wanted and self._may_fetch(now):
                snapshot = self._refresh(now)
            if snapshot is None:
                raise JwksError(f"no token verification keys: {self._last_error}")
            return snapshot.keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_refresh_interval

    def _refresh(self, now: float) -> _Snapshot | None:
        self._attempted_at = now
        self._fetches += 1
        try:
            keys = parse_jwks(self._fetch_in_time())
        except BrokerClientError as exc:
            self._last_error = str(exc)
            if self._snapshot is not None:
                log.warning("JWKS refresh failed, keeping the keys fetched before: %s", exc)
            return self._snapshot
        self._snapshot = _Snapshot(keys, now)
        return self._snapshot

    def _fetch_in_time(self) -> object:
        """The fetched document, or JwksError once ``fetch_deadline`` has passed (or while an
        earlier fetch that overran it is still running)."""
        if self._in_flight is not None and self._in_flight.is_alive():
            raise JwksError("an earlier JWKS request has not finished")
        outcome: list[object] = []
        failure: list[BaseException] = []

        def fetch() -> None:
            try:
                outcome.append(self._fetch())
            except BaseException as exc:  # handed to the waiting caller below
                failure.append(exc)

        worker = threading.Thread(target=fetch, name="broker-client-jwks", daemon=True)
        self._in_flight = worker
        worker.start()
        worker.join(self._fetch_deadline)
        if worker.is_alive():
            raise JwksError(f"the JWKS did not arrive within {self._fetch_deadline:g} s")
        if failure:
            raise failure[0]
        return outcome[0]
