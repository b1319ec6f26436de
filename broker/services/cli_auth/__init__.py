"""The `broker` CLI's sign-in: an authorization code with PKCE over a loopback redirect
(RFC 6749, RFC 7636, RFC 8252), device authorization (RFC 8628), and credentials refreshed from a
CLI broker session without a browser.

The browser half reuses the SAML sign-in and the role offers of a web session; the CLI never sees
a password or an assertion. Codes, device codes, request handles and refresh handles are stored
as SHA-256 hashes only. Every code exchange, refresh, device decision and revocation is audited
in the transaction that changes the state.

- :mod:`.code_flow`: ``/cli/authorize``, its consent page and the code exchange (:class:`AuthorizationCodeGrant`).
- :mod:`.device`: device authorization and its approval page (:class:`DeviceAuthorizationGrant`).
- :mod:`.refresh`: the refresh grant, session introspection, revocation (:class:`RefreshTokenGrant`).
- :mod:`.sessions`: the web session a grant hangs on and the CLI sessions opened from it.
- :mod:`.user_code_guard`: typed user codes checked, wrong ones counted, locked out and audited.
- :mod:`.authorize_request`, :mod:`.clients`, :mod:`.pkce`, :mod:`.loopback`, :mod:`.user_codes`:
  the pure protocol checks; :mod:`.errors`: the refusals, by where they are answered.
"""

from broker.services.cli_auth._base import TokenGrant
from broker.services.cli_auth.authorize_request import parse_authorize_request, parse_duration
from broker.services.cli_auth.clients import (
    CLIENT_ID,
    GRANT_AUTHORIZATION_CODE,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
)
from broker.services.cli_auth.code_flow import AuthorizationCodeGrant, Consent, PendingAuthorization
from broker.services.cli_auth.device import DeviceAuthorizationGrant, DeviceStart, DeviceView
from broker.services.cli_auth.errors import AuthorizeRedirect, AuthorizeRefused, OAuthError
from broker.services.cli_auth.refresh import RefreshTokenGrant, SessionView
from broker.services.cli_auth.user_codes import display_user_code

__all__ = [
    "CLIENT_ID",
    "GRANT_AUTHORIZATION_CODE",
    "GRANT_DEVICE_CODE",
    "GRANT_REFRESH_TOKEN",
    "AuthorizationCodeGrant",
    "AuthorizeRedirect",
    "AuthorizeRefused",
    "Consent",
    "DeviceAuthorizationGrant",
    "DeviceStart",
    "DeviceView",
    "OAuthError",
    "PendingAuthorization",
    "RefreshTokenGrant",
    "SessionView",
    "TokenGrant",
    "display_user_code",
    "parse_authorize_request",
    "parse_duration",
]
