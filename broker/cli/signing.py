"""SigV4 for the CLI's own calls to the broker (``whoami``): no botocore needed."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from broker.cli.cache import Credentials
from broker.crypto.sigv4 import authorization_header


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
    parts = urlsplit(url)
    headers = {
        "Content-Type": content_type,
        "Host": parts.netloc,
        "X-Amz-Date": now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ"),
    }
    if credentials.session_token:
        headers["X-Amz-Security-Token"] = credentials.session_token
    headers["Authorization"] = authorization_header(
        "POST",
        parts.path or "/",
        headers,
        body,
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        region=credentials.region,
        service=service,
    )
    return headers
