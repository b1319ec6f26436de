"""The browser sign-in as one object over a runtime, for the web routes and the CLI flows."""

from __future__ import annotations

from broker.services.audit import ClientInfo
from broker.services.credentials import TemporaryCredentials
from broker.services.federation.acs import SignedInBrowser, consume
from broker.services.federation.explain import RefusalReport, explain
from broker.services.federation.issuance import assume_from_web_session, issue
from broker.services.federation.login import LoginStart, begin_login, start_login
from broker.services.federation.origins import NO_ORIGIN, PostOrigin
from broker.services.federation.sessions import BrowserSession, load_web_session, sign_out
from broker.services.federation.sign_in import SignIn
from broker.services.runtime import Runtime


class FederationService:
    """AuthnRequest out, SAMLResponse in, roles offered, credentials issued; each step is a module."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def start_login(self, provider_reference: str, browser_binding: str, relay_state: str | None) -> str:
        return start_login(self.runtime, provider_reference, browser_binding, relay_state)

    def begin_login(
        self,
        provider_reference: str,
        browser_binding: str,
        relay_state: str | None,
        confirmation: str | None,
        client: ClientInfo,
    ) -> LoginStart:
        """A sign-in link followed: the IdP URL to send the browser to, or the question to ask first."""
        return begin_login(self.runtime, provider_reference, browser_binding, relay_state, confirmation, client)

    def consume(
        self, saml_response: str, relay_state: str | None, browser_binding: str | None, client: ClientInfo
    ) -> tuple[str, SignIn]:
        """The browser's session token and the sign-in (:meth:`sign_in_browser` also gives the session)."""
        signed_in = self.sign_in_browser(saml_response, relay_state, browser_binding, client)
        return signed_in.token, signed_in.sign_in

    def sign_in_browser(
        self,
        saml_response: str,
        relay_state: str | None,
        browser_binding: str | None,
        client: ClientInfo,
        origin: PostOrigin = NO_ORIGIN,
        previous_token: str | None = None,
    ) -> SignedInBrowser:
        """A POSTed response consumed: the new web session (its token and CSRF token) and the sign-in.
        ``origin`` is what the browser said about the page that posted it; ``previous_token`` the
        web session it held (another person's is ended)."""
        return consume(self.runtime, saml_response, relay_state, browser_binding, client, origin, previous_token)

    def load_web_session(self, token: str | None) -> tuple[BrowserSession, SignIn] | None:
        return load_web_session(self.runtime, token)

    def assume_from_web_session(
        self, token: str | None, role_arn: str, duration_text: str | None, csrf_token: str | None, client: ClientInfo
    ) -> TemporaryCredentials:
        """The role form: ``duration_text`` as the form sent it (refused with BadDuration unless whole seconds)."""
        return assume_from_web_session(self.runtime, token, role_arn, duration_text, csrf_token, client)

    def issue(self, sign_in: SignIn, role_arn: str, duration: int | None, client: ClientInfo) -> TemporaryCredentials:
        return issue(self.runtime, sign_in, role_arn, duration, client)

    def explain_refusals(self, token: str | None) -> tuple[BrowserSession, SignIn, RefusalReport] | None:
        """Why the browser's sign-in is not offered the other roles that trust its provider, decided now."""
        return explain(self.runtime, token)

    def sign_out(self, token: str | None, csrf_token: str | None, client: ClientInfo) -> bool:
        return sign_out(self.runtime, token, csrf_token, client)
