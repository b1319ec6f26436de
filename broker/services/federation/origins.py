"""Which pages may post a response to the ACS: the defence against login CSRF.

A browser names the page that submitted a form in its ``Origin`` header. An identity provider's
auto-submitting form is served from the IdP's own site, so a response posted from anywhere else
is another site replaying an assertion (typically the attacker's own, to sign the victim in as
the attacker). The origins an IdP posts from are those of the ``SingleSignOnService`` and
``SingleLogoutService`` endpoints in its registered metadata.

The rules, in the order the ACS applies them:

- No ``Origin`` header: accepted (non-browser clients, and browsers that predate the header).
- Before anything is parsed, an ``Origin`` that is a real origin must be one of some registered
  provider's; otherwise the post is refused at once (``UntrustedOrigin``).
- ``Origin: null`` is what Chromium sends when the posting page's ``Referrer-Policy`` is
  ``no-referrer`` (Keycloak's default) or ``same-origin``, or when an HTTPS page posts to an
  HTTP ACS; and what any attacker's page can produce at will (a ``data:`` URL, a sandboxed
  frame, its own referrer policy). It is accepted only for a response that answers an
  AuthnRequest sent from this browser: that answer is already bound to the browser by the binding
  cookie, which another site cannot forge. An IdP-initiated response with ``Origin: null`` is
  refused. A null origin that the browser marks ``Sec-Fetch-Site: same-origin`` came from the
  broker's own pages (the bundled demo IdP), and counts as the broker's own origin.
- An IdP-initiated response must come from an origin of the provider that issued it, not merely
  of some registered provider: a provider registered in any account must not lend its origin to
  an assertion from another IdP.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.saml.errors import MetadataError, SamlError
from broker.saml.metadata import parse_idp_metadata, web_origin
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store import federation as store
from broker.store.generations import EVERYWHERE

NULL_ORIGIN = "null"
# Longer header values are no browser's; the audit record keeps this much of one.
_SHOWN = 200


@dataclass(frozen=True, slots=True)
class PostOrigin:
    """What the browser said about the page that posted to the ACS: its ``Origin`` and
    ``Sec-Fetch-Site`` headers (None when absent). Both are set by the browser, never by the page."""

    origin: str | None = None
    fetch_site: str | None = None

    def effective(self, own_origin: str | None) -> str | None:
        """The origin to judge: the header lower-cased, or the broker's own for a same-origin null."""
        if self.origin is None:
            return None
        origin = self.origin.strip().lower()
        if origin == NULL_ORIGIN and (self.fetch_site or "").strip().lower() == "same-origin" and own_origin:
            return own_origin
        return origin


NO_ORIGIN = PostOrigin()


def own_origin(runtime: Runtime) -> str | None:
    return web_origin(runtime.settings.base_url)


def provider_origins(metadata_xml: str) -> frozenset[str]:
    """The origins of a registration's SSO and SLO endpoints; none if its metadata is unusable."""
    try:
        return parse_idp_metadata(metadata_xml).endpoint_origins
    except MetadataError:
        return frozenset()


def registered_origins(runtime: Runtime, tx: Tx) -> frozenset[str]:
    """Every registered provider's endpoint origins, from the process's cache while no provider changed."""

    def load() -> frozenset[str]:
        return frozenset(o for p in store.list_providers(tx) for o in provider_origins(p.metadata_xml))

    return runtime.cache.get(tx, EVERYWHERE, ("saml-acs-origins",), load)


def check_sender(runtime: Runtime, tx: Tx, post: PostOrigin) -> None:
    """Refuse, before the response is read, a post from an origin that is no registered provider's."""
    origin = post.effective(own_origin(runtime))
    if origin is None or origin == NULL_ORIGIN:
        return  # judged once the response says whether it answers this browser's request
    if origin not in registered_origins(runtime, tx):
        raise SamlError("UntrustedOrigin", f"posted from {origin[:_SHOWN]!r}, no registered provider's origin")


def check_issuer_origin(
    runtime: Runtime, post: PostOrigin, provider_arn: str, origins: frozenset[str], solicited: bool
) -> None:
    """Once the response is validated: an IdP-initiated one must come from its own provider's origin.

    ``solicited`` is true when the response answered an AuthnRequest bound to this browser, which
    another site cannot post on the person's behalf whatever its origin.
    """
    origin = post.effective(own_origin(runtime))
    if origin is None or solicited:
        return
    if origin == NULL_ORIGIN:
        raise SamlError(
            "UntrustedOrigin",
            f"an IdP-initiated response for {provider_arn} posted by a page that hides its origin (Origin: null)",
        )
    if origin not in origins:
        raise SamlError(
            "UntrustedOrigin", f"an IdP-initiated response for {provider_arn} posted from {origin[:_SHOWN]!r}"
        )
