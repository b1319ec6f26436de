"""The browser sign-in: AuthnRequest out, SAMLResponse in, roles offered, credentials issued.

- :mod:`.providers`: which registration of an IdP validates a response; the ACS's policy.
- :mod:`.login`: the SP-initiated AuthnRequest (only to providers a role trusts), and pairing its answer with it.
- :mod:`.origins`: which pages may post to the ACS (login CSRF).
- :mod:`.acs`: a POSTed response becomes a signed-in browser (``ConsoleLogin``), or a refusal.
- :mod:`.sign_in`: what a validated assertion establishes and the roles it is offered.
- :mod:`.explain`: why the roles that trust the provider refused the sign-in, worked out when asked.
- :mod:`.sessions`: browser sessions, read by the role page and the CLI flows; sign-out.
- :mod:`.issuance`: credentials for the role the browser chose (``AssumeRoleWithSAML``).
- :mod:`.errors`: the refusals a person can act on, each a class with its HTTP status.
"""

from broker.services.federation.acs import SignedInBrowser
from broker.services.federation.errors import (
    BadCsrf,
    BadDuration,
    FederationError,
    NoSession,
    ProviderMisconfigured,
    ProviderNotEligible,
    RoleNotPermitted,
    UnknownProvider,
)
from broker.services.federation.explain import RefusalReport, RoleRefusal
from broker.services.federation.login import LoginStart, LoginTarget, is_local_path
from broker.services.federation.origins import PostOrigin
from broker.services.federation.providers import ProviderChoice, sign_in_choices
from broker.services.federation.service import FederationService
from broker.services.federation.sessions import BrowserSession, signed_in, token_hash
from broker.services.federation.sign_in import (
    TOKEN_CONTEXT_KEYS,
    RoleOffer,
    SignIn,
    saml_session_context,
    sign_in_actor,
    token_context,
)

__all__ = [
    "TOKEN_CONTEXT_KEYS",
    "BadCsrf",
    "BadDuration",
    "BrowserSession",
    "FederationError",
    "FederationService",
    "LoginStart",
    "LoginTarget",
    "NoSession",
    "PostOrigin",
    "ProviderChoice",
    "ProviderMisconfigured",
    "ProviderNotEligible",
    "RefusalReport",
    "RoleNotPermitted",
    "RoleOffer",
    "RoleRefusal",
    "SignIn",
    "SignedInBrowser",
    "UnknownProvider",
    "is_local_path",
    "saml_session_context",
    "sign_in_actor",
    "sign_in_choices",
    "signed_in",
    "token_context",
    "token_hash",
]
