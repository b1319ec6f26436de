"""Signing a request, for the broker's own clients (the CLI's ``whoami``): the same canonical
request the verifier rebuilds, so what one signs the other accepts by construction."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from broker.crypto.sigv4._canonical import canonical_request, string_to_sign
from broker.crypto.sigv4._model import ALGORITHM, TERMINATOR
from broker.crypto.sigv4._verify import derive_signing_key


def authorization_header(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    service: str,
) -> str:
    """The ``Authorization`` value signing every header in ``headers`` (which must include
    ``host`` and ``x-amz-date``, and the session token when there is one)."""
    folded = {name.lower(): value for name, value in headers.items()}
    signed_headers = tuple(sorted(folded))
    amz_date = folded["x-amz-date"]
    scope = f"{amz_date[:8]}/{region}/{service}/{TERMINATOR}"
    canonical = canonical_request(method, path, (), folded, signed_headers, body, presigned=False)
    signing_key = derive_signing_key(secret_access_key, amz_date[:8], region, service)
    signature = hmac.new(signing_key, string_to_sign(amz_date, scope, canonical).encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(signed_headers)}, "
        f"Signature={signature}"
    )
