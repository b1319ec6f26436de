"""What an SSO session may assume: decided again, at each use, from the sign-in it keeps.

The sign-in's attributes (its ``saml:`` context, session tags, source identity and the roles the
IdP listed) are evaluated against the trust policies as they are now, so an administrator's change
to a trust policy, or a role or provider removed, applies at the next portal call or refresh on
every instance, without waiting for the session to end.
"""

from __future__ import annotations

from broker.services.federation import RoleOffer, SignIn
from broker.services.federation.sign_in import offered_roles
from broker.services.saml_session import SessionAttributes
from broker.store import Tx


def current_offers(tx: Tx, sign_in: SignIn) -> list[RoleOffer]:
    """The roles the sign-in may assume under the current trust policies, by account then name."""
    attributes = SessionAttributes(
        session_name=sign_in.session_name,
        requested_duration=sign_in.requested_duration,
        tags=dict(sign_in.session_tags),
        transitive_tag_keys=tuple(sign_in.transitive_tag_keys),
        source_identity=sign_in.source_identity,
    )
    offers, _refused = offered_roles(tx, sign_in.provider_arn, sign_in.listed_role_arns, attributes, sign_in.context)
    return sorted(offers, key=lambda offer: (offer.account_id, offer.role_name))
