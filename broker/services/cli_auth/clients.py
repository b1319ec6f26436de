"""The one OAuth client the broker serves (its own CLI), and the grant types it may use."""

from __future__ import annotations

from broker.services.cli_auth.errors import OAuthError

CLIENT_ID = "broker-cli"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


def check_client(client_id: str) -> None:
    """A public client (RFC 6749 section 2.1): its id is all it shows, so that is all there is to check."""
    if client_id != CLIENT_ID:
        raise OAuthError("invalid_client", "unknown client_id", 401)
