"""The client's JWKS cache: TTL, refresh on an unknown kid at most once per interval, threads, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from broker.client._jwks import JwksCache, parse_jwks
from broker.client.errors import JwksError, TransportError
from broker.crypto.keys import TokenKey, jwk_thumbprint


def token_key() -> TokenKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return TokenKey(kid=jwk_thumbprint(private.public_key()), private_key=private)


class FakeBroker:
    """Serves a JWKS of the keys it holds and counts the fetches."""

    def __init__(self, *keys: TokenKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False
        self.delay = 0.0

    def __call__(self) -> object:
        self.fetches += 1
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise TransportError("GET https://broker.example/.well-known/jwks.json: connection refused")
        return {"keys": [key.public_jwk() for key in self.keys]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def cache(fetch: Callable[[], object], clock: Clock, ttl: float = 300, interval: float = 30) -> JwksCache:
    return JwksCache(fetch, ttl=ttl, min_refresh_interval=interval, clock=clock)


def test_keys_are_cached_for_the_ttl() -> None:
    key = token_key()
    broker, clock = FakeBroker(key), Clock()
    jwks = cache(broker, clock)
    for _ in range(10):
        found = jwks.key(key.kid)
        assert found is not None and found.public_numbers() == key.public_key.public_numbers()
    assert broker.fetches == jwks.fetches == 1
    clock.now += 299
    jwks.key(key.kid)
    assert broker.fetches == 1
    clock.now += 1
    jwks.key(key.kid)
    assert broker.fetches == 2


def test_an_unknown_kid_refreshes_at_most_once_per_interval() -> None:
    old, new = token_key(), token_key()
    broker, clock = FakeBroker(old), Clock()
    jwks = cache(broker, clock)
    assert jwks.key(old.kid) is not None
    clock.now += 40
    broker.keys = [old, new]  # the broker rotated
    assert jwks.key(new.kid) is not None
    assert broker.fetches == 2
    # Made-up kids cannot make the client hammer the broker.
    for n in range(50):
        assert jwks.key(f"forged-{n}") is None
        clock.now += 0.5
    assert broker.fetches == 2
    clock.now += 5  # 30 s since the last fetch
    assert jwks.key("forged-again") is None
    assert broker.fetches == 3
    assert jwks.key(old.kid) is not None and jwks.key(new.kid) is not None
    assert broker.fetches == 3


def test_a_key_dropped_by_the_broker_goes_after_the_ttl() -> None:
    old, new = token_key(), token_key()
    broker, clock = FakeBroker(old, new), Clock()
    jwks = cache(broker, clock)
    assert jwks.key(old.kid) is not None
    broker.keys = [new]
    clock.now += 300
    assert jwks.key(old.kid) is None
    assert jwks.key(new.kid) is not None


def test_concurrent_misses_cause_one_fetch() -> None:
    key = token_key()
    broker, clock = FakeBroker(key), Clock()
    broker.delay = 0.05
    jwks = cache(broker, clock)
    barrier = threading.Barrier(16)
    found: list[bool] = []

    def verify() -> None:
        barrier.wait()
        found.append(jwks.key(key.kid) is not None)

    threads = [threading.Thread(target=verify) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [True] * 16
    assert broker.fetches == 1


def test_a_failed_refresh_keeps_the_keys_already_held() -> None:
    key = token_key()
    broker, clock = FakeBroker(key), Clock()
    jwks = cache(broker, clock)
    assert jwks.key(key.kid) is not None
    broker.down = True
    clock.now += 600
    assert jwks.key(key.kid) is not None  # stale, but the broker is unreachable
    assert broker.fetches == 2
    assert jwks.key(key.kid) is not None
    assert broker.fetches == 2  # retried once per interval, not per call
    broker.down = False
    clock.now += 30
    assert jwks.key(key.kid) is not None
    assert broker.fetches == 3


def test_without_any_keys_the_error_is_reported() -> None:
    broker, clock = FakeBroker(token_key()), Clock()
    broker.down = True
    jwks = cache(broker, clock)
    with pytest.raises(JwksError, match="connection refused"):
        jwks.key("any")
    with pytest.raises(JwksError):
        jwks.key("any")
    assert broker.fetches == 1


def test_a_slow_broker_holds_no_verification_past_the_deadline() -> None:
    # A broker answering a byte at a time stays within the socket timeout on every read: the
    # fetch as a whole is what is bounded, and the keys already held stay in use meanwhile.
    key = token_key()
    broker, clock = FakeBroker(key), Clock()
    jwks = JwksCache(broker, ttl=300, min_refresh_interval=0, clock=clock, fetch_deadline=0.2)
    assert jwks.key(key.kid) is not None
    broker.delay = 2.0
    clock.now += 600
    started = time.monotonic()
    assert jwks.key(key.kid) is not None  # stale, served at the deadline
    assert time.monotonic() - started < 1.5
    started = time.monotonic()
    assert jwks.key(key.kid) is not None  # the slow fetch still runs: no second one meanwhile
    assert time.monotonic() - started < 0.5 and broker.fetches == 2
    fresh = JwksCache(broker, ttl=300, min_refresh_interval=0, clock=clock, fetch_deadline=0.2)
    with pytest.raises(JwksError, match=r"did not arrive within 0\.2 s"):
        fresh.key(key.kid)


def test_parse_jwks_keeps_only_es256_keys() -> None:
    good = token_key()
    jwk = good.public_jwk()
    entries = [
        jwk,
        {**jwk, "kid": "rsa", "kty": "RSA"},
        {**jwk, "kid": "p384", "crv": "P-384"},
        {**jwk, "kid": "hs", "alg": "HS256"},
        {**jwk, "kid": "enc", "use": "enc"},
        {**jwk, "kid": "short", "x": "AAAA"},
        {**jwk, "kid": "junk", "x": "!!!"},
        {**jwk, "kid": "off-curve", "y": jwk["x"]},
        {**jwk, "kid": 7},
        "not a key",
    ]
    assert list(parse_jwks({"keys": entries})) == [good.kid]
    for document in ([], {"keys": "x"}, {}, None):
        with pytest.raises(JwksError):
            parse_jwks(document)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="ttl"):
        JwksCache(FakeBroker(), ttl=0, min_refresh_interval=1, clock=Clock())
    with pytest.raises(ValueError, match="interval"):
        JwksCache(FakeBroker(), ttl=1, min_refresh_interval=-1, clock=Clock())
