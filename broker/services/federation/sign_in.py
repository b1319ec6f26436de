"""What a validated assertion establishes: the sign-in, the roles it is offered, who it is in the trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field, fields, replace
from typing import Any

from broker.saml.assertion import Assertion
from broker.services.audit import Actor
from broker.services.federation.provider_lists import mfa_authn_contexts
from broker.services.saml_session import SessionAttributes, role_pairs, saml_context, session_attributes
from broker.services.trust import saml_trust_decision
from broker.settings import Settings
from broker.store import Tx
from broker.store import federation as store
from broker.store.federation import ProviderRecord, TrustingRole

# saml: keys carried into the session token for policy variables such as ${saml:sub}.
TOKEN_CONTEXT_KEYS = ("saml:aud", "saml:iss", "saml:sub", "saml:sub_type", "saml:namequalifier", "saml:doc")


@dataclass(frozen=True)
class RoleOffer:
    role_arn: str
    role_name: str
    account_id: str
    account_alias: str | None
    description: str
    max_session_duration: int
    # The account's name in Organizations, when it has one (shown and filtered on with the alias).
    account_name: str | None = None

    @classmethod
    def of(cls, role: TrustingRole) -> RoleOffer:
        return cls(
            role.arn,
            role.name,
            role.account_id,
            role.account_alias,
            role.description,
            role.max_session_duration,
            role.account_name,
        )

    def stored(self) -> dict[str, Any]:
        """The offer as a web session keeps it (what :meth:`SignIn.offers` reads back). The account's
        name is not repeated in every offer: the sign-in keeps it once per account (``account_names``)."""
        return {
            "role_arn": self.role_arn,
            "role_name": self.role_name,
            "account_id": self.account_id,
            "account_alias": self.account_alias,
            "description": self.description,
            "max_session_duration": self.max_session_duration,
        }


@dataclass(frozen=True)
class SignIn:
    """What a validated assertion established; kept server-side in the web session."""

    provider_arn: str
    provider_name: str
    account_id: str
    issuer: str
    subject: str
    subject_type: str
    name_id_format: str | None
    assertion_id: str
    assertion_digest: str
    session_name: str
    requested_duration: int | None
    session_tags: dict[str, str]
    transitive_tag_keys: list[str]
    source_identity: str | None
    session_not_on_or_after: str | None
    mfa: bool
    authn_context_class_refs: list[str]
    attribute_names: list[str]
    context: dict[str, Any]
    roles: list[dict[str, Any]] = field(default_factory=list)
    # How many candidate roles refused the sign-in; the reasons are worked out again when asked
    # (:mod:`.explain`), so a session stays small however many roles trust the provider.
    refused_count: int = 0
    relay_state: str | None = None
    # What the IdP sent, trimmed, to show a person who gets no role (never used for decisions).
    attributes: dict[str, list[str]] = field(default_factory=dict)
    # The roles the IdP's Role attribute lists for this provider; None when it sent no such attribute.
    listed_role_arns: list[str] | None = None
    # The Organizations name of each account offered a role that has one, once per account.
    account_names: dict[str, str] = field(default_factory=dict)
    # Sessions stored before refused_count kept every refused role and its reason: read as a count.
    refused: InitVar[list[dict[str, str]] | None] = None

    def __post_init__(self, refused: list[dict[str, str]] | None) -> None:
        if refused and not self.refused_count:
            object.__setattr__(self, "refused_count", len(refused))

    def offers(self) -> list[RoleOffer]:
        return [RoleOffer(**r, account_name=self.account_names.get(r["account_id"])) for r in self.roles]

    def stored(self) -> dict[str, Any]:
        """The sign-in as a web session keeps it (``SignIn(**stored)`` reads it back). Field by
        field: ``asdict`` would deep-copy every value, and the values are only serialized."""
        return {name: getattr(self, name) for name in _SIGN_IN_FIELDS}


_SIGN_IN_FIELDS = tuple(f.name for f in fields(SignIn))


def without_closed_accounts(tx: Tx, sign_in: SignIn) -> tuple[SignIn, list[str]]:
    """``sign_in`` without the roles it offers in accounts closed since, and those roles' ARNs.

    A sign-in keeps the roles it was offered for as long as it lives; an account closed meanwhile
    takes its roles off every page at the next view (issuing them is refused in any case). One
    statement, and none for a sign-in that offers no role.
    """
    closed = store.closed_accounts(tx, {role["account_id"] for role in sign_in.roles})
    if not closed:
        return sign_in, []
    kept = [role for role in sign_in.roles if role["account_id"] not in closed]
    dropped = [str(role["role_arn"]) for role in sign_in.roles if role["account_id"] in closed]
    return replace(sign_in, roles=kept), dropped


def token_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The ``saml:`` condition keys a session token carries."""
    return {k: context[k] for k in TOKEN_CONTEXT_KEYS if k in context}


def read_sign_in(
    tx: Tx,
    settings: Settings,
    assertion: Assertion,
    provider: ProviderRecord,
    relay_state: str | None,
) -> SignIn:
    attributes = session_attributes(assertion)
    context = saml_context(assertion, provider.account_id, provider.name)
    listed = listed_role_arns(assertion, provider.arn)
    offers, refused_count = offered_roles(tx, provider.arn, listed, attributes, context)
    # MFA classes: the provider's own option, merged with the saml_mfa_authn_contexts setting.
    mfa_contexts = set(provider.options.get("mfa_authn_contexts") or ())
    mfa_contexts |= mfa_authn_contexts(settings, provider.name)
    return SignIn(
        provider_arn=provider.arn,
        provider_name=provider.name,
        account_id=provider.account_id,
        issuer=assertion.issuer,
        subject=assertion.subject,
        subject_type=assertion.subject_type,
        name_id_format=assertion.name_id_format,
        assertion_id=assertion.assertion_id,
        assertion_digest=assertion.digest,
        mfa=bool(mfa_contexts & set(assertion.authn_context_class_refs)),
        authn_context_class_refs=list(assertion.authn_context_class_refs),
        attribute_names=sorted(assertion.attributes),
        context=context,
        attributes={
            name[:256]: [v[:200] for v in values[:20]] for name, values in list(assertion.attributes.items())[:100]
        },
        session_name=attributes.session_name,
        requested_duration=attributes.requested_duration,
        session_tags=attributes.tags,
        transitive_tag_keys=list(attributes.transitive_tag_keys),
        source_identity=attributes.source_identity,
        session_not_on_or_after=assertion.session_not_on_or_after.isoformat()
        if assertion.session_not_on_or_after
        else None,
        roles=[o.stored() for o in offers],
        account_names={o.account_id: o.account_name for o in offers if o.account_name},
        refused_count=refused_count,
        relay_state=relay_state or None,
        listed_role_arns=listed,
    )


def listed_role_arns(assertion: Assertion, provider_arn: str) -> list[str] | None:
    """The roles the AWS Role attribute pairs with this provider (sorted, once each); None without the attribute."""
    pairs = role_pairs(assertion)
    if pairs is None:
        return None
    return sorted({p.role_arn for p in pairs if p.provider_arn == provider_arn})


def offered_roles(
    tx: Tx,
    provider_arn: str,
    listed: list[str] | None,
    attributes: SessionAttributes,
    context: dict[str, Any],
) -> tuple[list[RoleOffer], int]:
    """The roles whose trust policies allow this sign-in, and how many other candidates refused it.

    Candidates are the roles that the trusted-principal index lists under the provider (or
    ``*``), narrowed to ``listed`` when the IdP sent a Role attribute; the policy engine decides
    each. Nothing here reads, or grows with, the roles whose trust policy names neither the
    provider nor everyone.
    """
    if listed is not None and not listed:
        return [], 0
    offers: list[RoleOffer] = []
    refused = 0
    for role in store.roles_trusting(tx, provider_arn, listed):
        decision = saml_trust_decision(role, provider_arn, context, attributes.tags, attributes.source_identity)
        if decision.allowed:
            offers.append(RoleOffer.of(role))
        else:
            refused += 1
    return offers, refused


def saml_session_context(mfa: bool, source_identity: str | None) -> dict[str, Any]:
    """The audit record's ``sessionContext`` of a SAML sign-in: MFA as the IdP asserted it, source identity."""
    context: dict[str, Any] = {"attributes": {"mfaAuthenticated": "true" if mfa else "false"}}
    if source_identity:
        context["sourceIdentity"] = source_identity
    return context


def sign_in_actor(sign_in: SignIn) -> Actor:
    return Actor(
        type="SAMLUser",
        principal_id=f"{sign_in.provider_arn}:{sign_in.subject}",
        user_name=sign_in.subject,
        account_id=sign_in.account_id,
        session_context=saml_session_context(sign_in.mfa, sign_in.source_identity),
        extra={"identityProvider": sign_in.provider_arn},
    )
