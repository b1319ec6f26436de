"""What verifying a session token costs the broker, against a raw PyJWT ES256 decode, side by side.

Both sides verify the same token with the same key: the broker's
:func:`broker.crypto.tokens.decode_session_token` (header checks, key choice by ``kid``, signature,
issuer, audience, required claims, claim types and times) and a bare
``jwt.decode(token, public_key, algorithms=["ES256"], audience=..., issuer=...)`` with the
public key already at hand. Rounds alternate between the two in one process; each side's rate
is the median of the rounds, and the ratio the median of each round's ratio. Run:
``.venv/bin/python benchmarks/token_verify.py [--rounds 21] [--seconds 0.25]``. Nothing asserts
on time; the ratio is printed with its target (issue 13).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import jwt

from broker.crypto.keys import ensure_keys, load_keys
from broker.crypto.tokens import AUDIENCE, SessionClaims, decode_session_token, encode_session_token

ISSUER = "https://broker.example"
NOW = 1_800_000_100
TARGET = 0.90


def _claims() -> SessionClaims:
    return SessionClaims(
        token_id="tok-0123456789abcdef",
        access_key_id="ASIAABCDEFGHIJKLMNOP",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/Reports",
        role_name="Reports",
        role_id="AROAABCDEFGHIJKLMNOPQ",
        session_name="alice@example.com",
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Reports/alice@example.com",
        issued_at=NOW - 100,
        expires_at=NOW + 3500,
        provider_arn="arn:aws:iam::123456789012:saml-provider/okta",
        session_tags={"team": "finance", "cost-center": "1234"},
        transitive_tag_keys=("team",),
    )


def _rate(verify: Callable[[], object], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            verify()
        count += 50
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=0.25, help="time per side per round")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as certs:
        ensure_keys(certs, "benchmark")
        keys = load_keys(certs).token_keys
    token = encode_session_token(_claims(), keys, ISSUER)
    public_key = keys.current.private_key.public_key()
    options: jwt.types.Options = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
    assert decode_session_token(token, keys, ISSUER, now=NOW) == _claims()

    def broker() -> object:
        return decode_session_token(token, keys, ISSUER, now=NOW)

    def raw() -> object:
        return jwt.decode(token, public_key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER, options=options)

    broker_rates, raw_rates = [], []
    for _ in range(arguments.rounds):
        raw_rates.append(_rate(raw, arguments.seconds))
        broker_rates.append(_rate(broker, arguments.seconds))
    # Each round's two runs are neighbours in time, so their ratio is the steadiest figure.
    ratio = statistics.median(b / r for b, r in zip(broker_rates, raw_rates, strict=True))
    print(f"session-token verification, ES256, median of {arguments.rounds} interleaved rounds")
    print(f"   raw PyJWT jwt.decode (key at hand)      {statistics.median(raw_rates):9.0f} tokens/s")
    print(f"   broker decode_session_token             {statistics.median(broker_rates):9.0f} tokens/s")
    print(f"   ratio broker/raw (median per round)     {ratio:8.2f}x   (target >= {TARGET:.2f})")


if __name__ == "__main__":
    main()
