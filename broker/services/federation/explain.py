"""Why a role is not offered: the sign-in's candidate roles decided again, when a person asks.

A web session keeps what it offers and only the number of roles that refused it; the reasons
are worked out here, from the same candidates (the roles that trust the provider, narrowed to
the IdP's Role attribute) and the sign-in's own context, against the trust policies as they are now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.policy.principals import account_of
from broker.services.federation.sessions import BrowserSession, token_hash
from broker.services.federation.sign_in import SignIn, without_closed_accounts
from broker.services.runtime import Runtime
from broker.services.trust import saml_trust_decision
from broker.store import federation as store

# A page lists this many roles of each kind at most, and says how many there are in all.
SHOWN = 100


@dataclass(frozen=True)
class RoleRefusal:
    """A candidate role the sign-in is not offered, and the trust policy's reason."""

    role_arn: str
    account_id: str
    account_alias: str | None
    reason: str


@dataclass(frozen=True)
class RefusalReport:
    """What a person is shown of the roles their sign-in is not offered."""

    refusals: list[RoleRefusal]  # at most SHOWN, by account and name
    refused_total: int
    # Roles the IdP's Role attribute lists that no role trusting this provider answers to (no
    # such role, or its trust policy names neither the provider nor everyone): at most SHOWN.
    unmatched_listed: list[str]
    unmatched_total: int
    # Roles the sign-in was offered, or the IdP lists, in accounts closed since (SUSPENDED): no one
    # can use them. At most SHOWN.
    closed: list[str] = field(default_factory=list)


def explain(runtime: Runtime, token: str | None) -> tuple[BrowserSession, SignIn, RefusalReport] | None:
    """The refusals of the browser's sign-in, decided now; None without a live web session."""
    if not token:
        return None
    with runtime.db.read() as tx:
        stored = store.web_session(tx, token_hash(token), runtime.now())
        if stored is None:
            return None
        web = BrowserSession.of(stored)
        sign_in, closed = without_closed_accounts(tx, SignIn(**stored.assertion))
        listed = sign_in.listed_role_arns
        candidates = store.roles_trusting(tx, sign_in.provider_arn, listed)
        found = {role.arn for role in candidates}
        unmatched = [arn for arn in listed or () if arn not in found]
        in_closed = store.closed_accounts(tx, {account for arn in unmatched if (account := account_of(arn))})
    offered = {offer.role_arn for offer in sign_in.offers()}
    refusals: list[RoleRefusal] = []
    for role in candidates:
        if role.arn in offered:
            continue
        decision = saml_trust_decision(
            role, sign_in.provider_arn, sign_in.context, sign_in.session_tags, sign_in.source_identity
        )
        reason = decision.reason if not decision.allowed else "its trust policy allows this sign-in now: sign in again"
        refusals.append(RoleRefusal(role.arn, role.account_id, role.account_alias, reason))
    closed += [arn for arn in unmatched if account_of(arn) in in_closed and arn not in closed]
    unmatched = [arn for arn in unmatched if account_of(arn) not in in_closed]
    report = RefusalReport(refusals[:SHOWN], len(refusals), unmatched[:SHOWN], len(unmatched), closed[:SHOWN])
    return web, sign_in, report
