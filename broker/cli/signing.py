"""SigV4 for the CLI's own calls to the broker (``whoami``): no botocore needed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import quote, urlsplit

from broker.cli.cache import Credentials
from broker.crypto.sigv4 import derive_signing_key

ALGORITHM = "AWS4-HMAC-SHA256"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign_post(
    url: str,
    body: bytes,
    credentials: Credentials,
    *,
    service: str,
    now: dt.datetime,
    content_type: str = "application/x-www-form-urlencoded; charset=utf-8",
) -> dict[str, str]:
    """The headers of a signed POST of ``body`` to ``url`` (Host included: send exactly these)."""
    access_key_id, secret_access_key = credentials.access_key_id, credentials.secret_access_key
    session_token, region = credentials.session_token, credentials.region
    parts = urlsplit(url)
    amz_date = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers = {"content-type": content_type, "host": parts.netloc, "x-amz-date": amz_date}
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            "POST",
            quote(parts.path or "/", safe="/~"),
            "",
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names),
            signed_headers,
            _sha256(body),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, _sha256(canonical_request.encode())])
    signature = hmac.new(
        derive_signing_key(secret_access_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    signed = {"Content-Type": content_type, "Host": parts.netloc, "X-Amz-Date": amz_date}
    if session_token:
        signed["X-Amz-Security-Token"] = session_token
    signed["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    return signed
