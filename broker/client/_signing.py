"""SigV4 signing of a decision request with botocore, imported only when credentials are used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.client.errors import SigningUnavailableError

SERVICE = "execute-api"


def sigv4_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    region: str,
) -> dict[str, str]:
    """``headers`` plus the SigV4 ones (Authorization, X-Amz-Date, X-Amz-Security-Token)."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        raise SigningUnavailableError(
            "signing a decision request with credentials needs botocore (pip install botocore); "
            "without it, pass bearer_token= instead"
        ) from None
    request: Any = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials(access_key_id, secret_access_key, session_token), SERVICE, region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}
