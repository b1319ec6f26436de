"""AWS SSO compatibility: the SSO-OIDC API (:mod:`.oidc`) and the portal API (:mod:`.portal`), so
stock AWS tools with an ``sso_session`` profile sign in against the broker.

- :mod:`.oidc`: RegisterClient, StartDeviceAuthorization, CreateToken (device code, authorization
  code with PKCE, refresh token); :mod:`.browser`: /authorize with its consent page, the device
  page; :mod:`._base`: what they share.
- :mod:`.portal`: ListAccounts, ListAccountRoles (opaque, tamper-proof next tokens),
  GetRoleCredentials (through the role page's issuing path), Logout.
- :mod:`.offers`: what a session may assume, decided again at each use.
- :mod:`.errors`: the AWS error types, each with its wire code and status.
"""

from broker.services.sso._base import AuthorizeRedirect, Consent
from broker.services.sso.errors import OidcError, PageRefused, PortalError
from broker.services.sso.oidc import SsoOidc
from broker.services.sso.portal import SsoPortal, role_credentials_json

__all__ = [
    "AuthorizeRedirect",
    "Consent",
    "OidcError",
    "PageRefused",
    "PortalError",
    "SsoOidc",
    "SsoPortal",
    "role_credentials_json",
]
