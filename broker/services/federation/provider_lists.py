"""The settings that name SAML providers, read the way the broker reads provider names.

Provider names are unique without regard to case (``/saml/login?provider=CORP`` finds ``corp``),
so ``saml_refuse_unsolicited_providers = ["Corp"]`` must refuse ``corp``'s IdP-initiated
sign-ins: every list is compared by :func:`~broker.iam.names.name_key`. Settings validation
refuses an entry that is no provider name at all; a well-formed name that matches no registered
provider is only warned about at start-up (the provider may be registered later, through the API).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from broker.iam.names import name_key
from broker.settings import PROVIDER_LIST_SETTINGS, Settings, mfa_authn_context_pairs

log = logging.getLogger("broker.federation")


def named_in(names: Iterable[str], provider_name: str) -> bool:
    """Whether a provider list (``saml_sha1_providers``...) names ``provider_name``."""
    key = name_key(provider_name)
    return any(name_key(name) == key for name in names)


def mfa_authn_contexts(settings: Settings, provider_name: str) -> frozenset[str]:
    """The AuthnContextClassRef values ``saml_mfa_authn_contexts`` maps to MFA for a provider."""
    key = name_key(provider_name)
    return frozenset(class_ref for name, class_ref in mfa_authn_context_pairs(settings) if name_key(name) == key)


def unknown_provider_names(settings: Settings, registered: Iterable[str]) -> list[tuple[str, str]]:
    """(setting, name) for each provider a provider setting names that is not among ``registered``."""
    known = {name_key(name) for name in registered}
    named = [(setting, name) for setting in PROVIDER_LIST_SETTINGS for name in getattr(settings, setting)]
    named += [("saml_mfa_authn_contexts", name) for name, _ in mfa_authn_context_pairs(settings)]
    unknown: list[tuple[str, str]] = []
    for setting, name in named:
        if name_key(name) not in known and (setting, name) not in unknown:
            unknown.append((setting, name))
    return unknown


def warn_about_unknown_providers(settings: Settings, registered: Iterable[str]) -> list[tuple[str, str]]:
    """Log a warning for each name a provider setting gives that no registered provider has."""
    unknown = unknown_provider_names(settings, registered)
    for setting, name in unknown:
        log.warning(
            "%s names the SAML provider %r, which is not registered: the setting does nothing for it "
            "(check the spelling, or register the provider)",
            setting,
            name,
        )
    return unknown
