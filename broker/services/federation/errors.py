"""Refusals of a sign-in step the person can act on (SAML protocol refusals are :class:`SamlError`).

Each kind is a class, named as its code, that carries the HTTP status its page is answered with.
"""

from __future__ import annotations

from typing import Any

from broker.errors import BrokerError


class FederationError(BrokerError):
    """A sign-in step failed for a reason the person can act on."""

    code = "FederationError"

    def __init_subclass__(cls, *, status: int, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__
        cls.status = status


class UnknownProvider(FederationError, status=404):
    """The sign-in link names no identity provider registered here."""


class ProviderMisconfigured(FederationError, status=503):
    """The provider's metadata cannot start a sign-in (unusable, or without an HTTP-Redirect endpoint);
    an administrator has to fix it. 503: the broker works, sign-in through this provider is unavailable."""


class ProviderNotEligible(FederationError, status=403):
    """The sign-in link names a provider that no role trusts: the broker does not send people to its IdP."""


class NoSession(FederationError, status=401):
    """The browser's sign-in has expired or was ended."""


class BadCsrf(FederationError, status=403):
    """A form came back without the token of the page it was served on: stale, or from another site."""


class RoleNotPermitted(FederationError, status=403):
    """The sign-in may not assume the role (not offered, gone, or no longer trusting it)."""


class BadDuration(FederationError, status=400):
    """The session cannot last as asked (beyond the role's maximum, or past the IdP session's end)."""
