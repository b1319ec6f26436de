"""The browser sign-in: AuthnRequest out, SAMLResponse in, roles offered, credentials issued."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from broker.iam.arn import saml_provider_arn
from broker.iam.errors import AwsError
from broker.saml.acs import AcsPolicy, ProviderFinder, ProviderTrust, validate_response
from broker.saml.assertion import Assertion
from broker.saml.errors import MetadataError, SamlError
from broker.saml.metadata import parse_idp_metadata
from broker.services.audit import Actor, ClientInfo, record_event
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.runtime import Runtime
from broker.services.saml_session import (
    SessionAttributes,
    role_pairs,
    saml_context,
    session_attributes,
    session_duration,
)
from broker.services.trust import saml_trust_decision
from broker.settings import mfa_authn_contexts
from broker.store import models
from broker.store import repositories as repo

log = logging.getLogger("broker.federation")

EVENT_SOURCE = "signin.amazonaws.com"
PURGE_INTERVAL = dt.timedelta(minutes=10)
_last_purge: dict[str, dt.datetime] = {}
# saml: keys carried into the session token for policy variables such as ${saml:sub}.
TOKEN_CONTEXT_KEYS = ("saml:aud", "saml:iss", "saml:sub", "saml:sub_type", "saml:namequalifier", "saml:doc")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class RoleOffer:
    role_arn: str
    role_name: str
    account_id: str
    account_alias: str | None
    description: str
    max_session_duration: int


@dataclass
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
    refused: list[dict[str, str]] = field(default_factory=list)
    relay_state: str | None = None
    # What the IdP sent, trimmed, to show a person who gets no role (never used for decisions).
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def offers(self) -> list[RoleOffer]:
        return [RoleOffer(**r) for r in self.roles]


class FederationError(Exception):
    """A sign-in step failed for a reason the person can act on (not a SAML protocol error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _trust_from(
    provider: models.SamlProvider, settings_sha1: tuple[str, ...], settings_cbc: tuple[str, ...] = ()
) -> ProviderTrust:
    metadata = parse_idp_metadata(provider.metadata_xml)
    options = provider.options or {}
    return ProviderTrust(
        arn=provider.arn,
        name=provider.name,
        entity_id=metadata.entity_id,
        signing_certs=metadata.signing_certs,
        allow_sha1=bool(options.get("allow_sha1")) or provider.name in settings_sha1,
        allow_cbc=bool(options.get("allow_cbc")) or provider.name in settings_cbc,
        valid_until=provider.valid_until,
    )


class FederationService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings

    # --- SP-initiated ---------------------------------------------------------------------

    def find_provider_by_reference(self, session: Session, reference: str) -> models.SamlProvider | None:
        """``NAME``, ``ACCOUNT/NAME`` or a provider ARN."""
        if reference.startswith("arn:"):
            return repo.provider_by_arn(session, reference)
        if "/" in reference:
            account, _, name = reference.partition("/")
            return repo.provider_by_name(session, account, name.lower())
        matches = [p for p in repo.list_providers(session) if p.name_key == reference.lower()]
        if len(matches) > 1:
            default = [p for p in matches if p.account_id == self.settings.default_account_id]
            return default[0] if default else None
        return matches[0] if matches else None

    def start_login(self, provider_reference: str, browser_binding: str, relay_state: str | None) -> str:
        now = self.runtime.now()
        with self.runtime.db.transaction() as session:
            provider = self.find_provider_by_reference(session, provider_reference)
            if provider is None:
                raise FederationError("UnknownProvider", f"No identity provider named {provider_reference!r}.")
            try:
                metadata = parse_idp_metadata(provider.metadata_xml)
            except MetadataError as exc:
                raise FederationError("ProviderMisconfigured", f"The provider's metadata is unusable: {exc}") from None
            destination = metadata.sso_redirect_url
            if destination is None:
                raise FederationError(
                    "ProviderMisconfigured",
                    "The provider's metadata has no HTTP-Redirect SingleSignOnService; start sign-in at the IdP.",
                )
            redirect = self.runtime.sp.authn_request(destination, relay_state=relay_state, now=now)
            repo.add_saml_request(
                session,
                models.SamlRequest(
                    request_id=redirect.request_id,
                    provider_arn=provider.arn,
                    browser_binding=token_hash(browser_binding),
                    relay_state=relay_state,
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=self.settings.saml_request_lifetime_seconds),
                ),
            )
            return redirect.url

    # --- ACS --------------------------------------------------------------------------------

    def acs_policy(self) -> AcsPolicy:
        keys = self.runtime.keys
        return AcsPolicy(
            acs_url=self.settings.acs_url,
            sp_entity_id=self.settings.sp_entity_id,
            decryption_keys=(keys.sp_encryption_key_pem,),
            clock_skew=dt.timedelta(seconds=self.settings.saml_clock_skew_seconds),
            max_bytes=self.settings.saml_max_response_bytes,
        )

    def provider_finder(self, session: Session, pinned_arn: str | None = None) -> ProviderFinder:
        """Look a provider up by issuer for the ACS; ``pinned_arn`` limits it to that one (STS).

        Several accounts may register the same IdP. A sign-in started at the broker is pinned to
        the registration its AuthnRequest went through (found by the Response's InResponseTo).
        An IdP-initiated one uses the only registration, or else the default account's; with
        several and none there it is refused (``AmbiguousIssuer``) rather than handed to whichever
        account's registration sorts first, since any account's administrators can register any
        IdP's public metadata.
        """
        sha1, cbc = self.settings.saml_sha1_providers, self.settings.saml_cbc_providers
        default = self.settings.default_account_id

        def find(issuer: str, in_response_to: str | None) -> ProviderTrust | None:
            candidates = repo.providers_by_entity_id(session, issuer)
            request = repo.saml_request(session, in_response_to[:128]) if in_response_to and not pinned_arn else None
            pinned = pinned_arn or (request.provider_arn if request is not None else None)
            if pinned is not None:
                candidates = [p for p in candidates if p.arn == pinned]
            elif len(candidates) > 1:
                candidates = [p for p in candidates if p.account_id == default]
                if len(candidates) != 1:
                    raise SamlError(
                        "AmbiguousIssuer",
                        f"{issuer!r} is registered by several accounts and none is the default account's "
                        "(or it has several); IdP-initiated sign-in cannot choose",
                    )
            for provider in candidates:
                try:
                    return _trust_from(provider, sha1, cbc)
                except MetadataError:
                    log.error("provider %s has unusable metadata", provider.arn)
            return None

        return find

    def consume(
        self, saml_response: str, relay_state: str | None, browser_binding: str | None, client: ClientInfo
    ) -> tuple[str, SignIn]:
        """Validate a POSTed response and open a web session. Every outcome is audited."""
        now = self.runtime.now()
        try:
            with self.runtime.db.transaction() as session:
                assertion, provider = validate_response(
                    saml_response, self.acs_policy(), self.provider_finder(session), now=now
                )
                provider_row = repo.provider_by_arn(session, provider.arn)
                assert provider_row is not None
                self._check_request(session, assertion, provider_row, relay_state, browser_binding, now)
                self._check_relay_state(relay_state)
                if not repo.remember_assertion(
                    session,
                    assertion.issuer,
                    assertion.assertion_id,
                    assertion.not_on_or_after + self.acs_policy().clock_skew,
                ):
                    raise SamlError("Replay", f"assertion {assertion.assertion_id} was already used")
                sign_in = self._sign_in(session, assertion, provider_row, relay_state, now)
                token = secrets.token_urlsafe(32)
                session.add(
                    models.WebSession(
                        id_hash=token_hash(token),
                        provider_arn=provider_row.arn,
                        subject=assertion.subject[:1024],
                        assertion=asdict(sign_in),
                        csrf_token=secrets.token_urlsafe(24),
                        created_at=now,
                        expires_at=now + dt.timedelta(seconds=self.settings.web_session_lifetime_seconds),
                    )
                )
                self._purge_now_and_then(session, now)
                self._audit(
                    session,
                    "ConsoleLogin",
                    sign_in_actor(sign_in),
                    client,
                    now,
                    additional={
                        "assertionId": assertion.assertion_id,
                        "assertionDigest": assertion.digest,
                        "issuer": assertion.issuer,
                        "rolesOffered": len(sign_in.roles),
                    },
                )
                return token, sign_in
        except (SamlError, AwsError) as exc:
            code = exc.code
            detail = exc.audit_detail if isinstance(exc, SamlError) else exc.message
            level = exc.log_level if isinstance(exc, SamlError) else logging.WARNING
            log.log(level, "sign-in refused: %s: %s", code, detail)
            with self.runtime.db.transaction() as session:
                self._audit(
                    session, "ConsoleLogin", Actor(type="SAMLUser"), client, now, error_code=code, error_message=detail
                )
            raise

    def _purge_now_and_then(self, session: Session, now: dt.datetime) -> None:
        """Drop expired replay records, requests and web sessions, at most every PURGE_INTERVAL."""
        last = _last_purge.get(self.runtime.db.url)
        if last is None or now - last >= PURGE_INTERVAL:
            _last_purge[self.runtime.db.url] = now
            repo.purge_expired(session, now)

    def _check_request(
        self,
        session: Session,
        assertion: Assertion,
        provider: models.SamlProvider,
        relay_state: str | None,
        browser_binding: str | None,
        now: dt.datetime,
    ) -> None:
        if assertion.in_response_to is None:
            refuse = (provider.options or {}).get("refuse_unsolicited")
            if (
                refuse
                or not self.settings.saml_allow_unsolicited
                or provider.name in self.settings.saml_refuse_unsolicited_providers
            ):
                raise SamlError("UnsolicitedRefused", f"provider {provider.name} refuses IdP-initiated sign-in")
            return
        request = repo.saml_request(session, assertion.in_response_to)
        if request is None:
            raise SamlError("UnknownRequest", f"InResponseTo {assertion.in_response_to!r} was not issued here")
        if request.provider_arn != provider.arn:
            raise SamlError("UnknownRequest", "the response answers a request sent to another provider")
        if request.consumed_at is not None or request.expires_at <= now:
            raise SamlError("UnknownRequest", "the request was already answered or has expired")
        if browser_binding is None or not hmac.compare_digest(request.browser_binding, token_hash(browser_binding)):
            raise SamlError("BrowserMismatch", "the response came back in a different browser than the request left")
        if repo.consume_saml_request(session, request.request_id, now) is None:
            raise SamlError("UnknownRequest", "the request was already answered or has expired")
        if request.relay_state is not None and relay_state != request.relay_state:
            raise SamlError("BadRelayState", "RelayState differs from the one the request carried")

    def _check_relay_state(self, relay_state: str | None) -> None:
        if relay_state is None or relay_state == "":
            return
        if not is_local_path(relay_state, self.settings.base_url):
            raise SamlError("BadRelayState", "RelayState points off-site")

    def _sign_in(
        self,
        session: Session,
        assertion: Assertion,
        provider: models.SamlProvider,
        relay_state: str | None,
        now: dt.datetime,
    ) -> SignIn:
        attributes = session_attributes(assertion)
        context = saml_context(assertion, provider.account_id, provider.name)
        offers, refused = self.offered_roles(session, assertion, provider, attributes, context)
        # MFA classes: the provider's own option, merged with the saml_mfa_authn_contexts setting.
        mfa_contexts = set((provider.options or {}).get("mfa_authn_contexts") or ())
        mfa_contexts |= mfa_authn_contexts(self.settings, provider.name)
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
            session_name=attributes.session_name,
            requested_duration=attributes.requested_duration,
            session_tags=attributes.tags,
            transitive_tag_keys=list(attributes.transitive_tag_keys),
            source_identity=attributes.source_identity,
            session_not_on_or_after=assertion.session_not_on_or_after.isoformat()
            if assertion.session_not_on_or_after
            else None,
            mfa=bool(mfa_contexts & set(assertion.authn_context_class_refs)),
            authn_context_class_refs=list(assertion.authn_context_class_refs),
            attribute_names=sorted(assertion.attributes),
            context=context,
            attributes={
                name[:256]: [v[:200] for v in values[:20]] for name, values in list(assertion.attributes.items())[:100]
            },
            roles=[asdict(o) for o in offers],
            refused=refused,
            relay_state=relay_state or None,
        )

    def offered_roles(
        self,
        session: Session,
        assertion: Assertion,
        provider: models.SamlProvider,
        attributes: SessionAttributes,
        context: dict[str, Any],
    ) -> tuple[list[RoleOffer], list[dict[str, str]]]:
        pairs = role_pairs(assertion)
        listed = None if pairs is None else {p.role_arn for p in pairs if p.provider_arn == provider.arn}
        offers: list[RoleOffer] = []
        refused: list[dict[str, str]] = []
        aliases: dict[str, str | None] = {}
        for role in repo.roles_trusting(session, provider.arn):
            if listed is not None and role.arn not in listed:
                continue
            decision = saml_trust_decision(role, provider.arn, context, attributes.tags, attributes.source_identity)
            if not decision.allowed:
                refused.append({"role_arn": role.arn, "reason": decision.reason})
                continue
            if role.account_id not in aliases:
                account = repo.get_account(session, role.account_id)
                aliases[role.account_id] = account.alias if account else None
            offers.append(
                RoleOffer(
                    role_arn=role.arn,
                    role_name=role.name,
                    account_id=role.account_id,
                    account_alias=aliases[role.account_id],
                    description=role.description,
                    max_session_duration=role.max_session_duration,
                )
            )
        return offers, refused

    # --- role selection -----------------------------------------------------------------------

    def load_web_session(self, token: str | None) -> tuple[models.WebSession, SignIn] | None:
        if not token:
            return None
        with self.runtime.db.transaction() as session:
            found = repo.web_session(session, token_hash(token), self.runtime.now())
            if found is None:
                return None
            session.expunge(found)
            return found, SignIn(**found.assertion)

    def assume_from_web_session(
        self,
        token: str | None,
        role_arn: str,
        duration: int | None,
        csrf_token: str | None,
        client: ClientInfo,
    ) -> TemporaryCredentials:
        loaded = self.load_web_session(token)
        sign_in = loaded[1] if loaded else None
        try:
            if loaded is None:
                raise FederationError("NoSession", "Your sign-in has expired. Please sign in again.")
            web, sign_in = loaded
            if csrf_token is None or not hmac.compare_digest(web.csrf_token, csrf_token):
                raise FederationError("BadCsrf", "The form has expired. Please choose the role again.")
            offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None)
            if offer is None:
                raise FederationError("RoleNotPermitted", "That role is not one you may assume.")
        except FederationError as exc:
            self._audit_refusal(sign_in, role_arn, duration, client, exc)
            raise
        # The page offers durations up to the longest role's maximum; cap to this role's.
        if duration is not None:
            duration = min(duration, offer.max_session_duration)
        return self.issue(sign_in, offer.role_arn, duration, client)

    def sign_out(self, token: str | None, csrf_token: str | None, client: ClientInfo) -> bool:
        """End the browser's web session: the role page can no longer issue credentials from it,
        and the CLI sessions started from it (``broker login``) end with it.

        ``False`` when there was no live session to end. A wrong CSRF token is refused, so another
        site cannot sign a person out. Credentials already issued stay valid until they expire,
        as AWS's do; the sign-out is audited with the number of CLI sessions it ended.
        """
        now = self.runtime.now()
        with self.runtime.db.transaction() as session:
            found = repo.web_session(session, token_hash(token), now) if token else None
            if found is None:
                return False
            if csrf_token is None or not hmac.compare_digest(found.csrf_token, csrf_token):
                raise FederationError("BadCsrf", "The sign-out form has expired. Reload the page and try again.")
            sign_in = SignIn(**found.assertion)
            cli_sessions = repo.count_cli_sessions(session, found.id_hash, now)
            session.delete(found)  # its CLI sessions go with it (ON DELETE CASCADE)
            self._audit(
                session,
                "ConsoleLogout",
                sign_in_actor(sign_in),
                client,
                now,
                additional={"cliSessionsEnded": cli_sessions},
            )
            return True

    def _audit_refusal(
        self, sign_in: SignIn | None, role_arn: str, duration: int | None, client: ClientInfo, exc: FederationError
    ) -> None:
        with self.runtime.db.transaction() as session:
            actor = sign_in_actor(sign_in) if sign_in else Actor(type="SAMLUser")
            self._audit(
                session,
                "AssumeRoleWithSAML",
                actor,
                client,
                self.runtime.now(),
                event_source="sts.amazonaws.com",
                error_code=exc.code,
                error_message=exc.message,
                request_parameters={"roleArn": role_arn[:2048], "durationSeconds": duration},
            )

    def issue(self, sign_in: SignIn, role_arn: str, duration: int | None, client: ClientInfo) -> TemporaryCredentials:
        try:
            return self._issue(sign_in, role_arn, duration, client)
        except FederationError as exc:
            self._audit_refusal(sign_in, role_arn, duration, client, exc)
            raise

    def _issue(self, sign_in: SignIn, role_arn: str, duration: int | None, client: ClientInfo) -> TemporaryCredentials:
        now = self.runtime.now()
        with self.runtime.db.transaction() as session:
            role = repo.role_by_arn(session, role_arn)
            if role is None:
                raise FederationError("RoleNotPermitted", "That role no longer exists.")
            # The trust policy may have changed since sign-in: decide again at issuance.
            decision = saml_trust_decision(
                role, sign_in.provider_arn, sign_in.context, sign_in.session_tags, sign_in.source_identity
            )
            if not decision.allowed:
                raise FederationError("RoleNotPermitted", "That role no longer trusts your sign-in.")
            not_after = (
                dt.datetime.fromisoformat(sign_in.session_not_on_or_after) if sign_in.session_not_on_or_after else None
            )
            try:
                seconds = session_duration(
                    duration, sign_in.requested_duration, role.max_session_duration, not_after, now
                )
            except AwsError as exc:
                raise FederationError("BadDuration", exc.message) from None
            credentials = issue_role_credentials(
                self.runtime,
                role,
                session_name=sign_in.session_name,
                duration_seconds=seconds,
                auth_type="saml",
                provider_arn=sign_in.provider_arn,
                source_identity=sign_in.source_identity,
                session_tags=sign_in.session_tags,
                transitive_tag_keys=tuple(sign_in.transitive_tag_keys),
                mfa=sign_in.mfa,
                federated={k: sign_in.context[k] for k in TOKEN_CONTEXT_KEYS if k in sign_in.context},
            )
            role.last_used_at = now
            role.last_used_region = self.settings.region
            self._audit(
                session,
                "AssumeRoleWithSAML",
                sign_in_actor(sign_in),
                client,
                now,
                event_source="sts.amazonaws.com",
                recipient=role.account_id,
                request_parameters={
                    "roleArn": role.arn,
                    "principalArn": sign_in.provider_arn,
                    "durationSeconds": seconds,
                },
                response_elements={
                    "credentials": {
                        "accessKeyId": credentials.access_key_id,
                        "expiration": credentials.expiration_iso(),
                    },
                    "assumedRoleUser": {
                        "arn": credentials.assumed_role_arn,
                        "assumedRoleId": credentials.assumed_role_id,
                    },
                },
            )
            return credentials

    def _audit(
        self,
        session: Session,
        name: str,
        actor: Actor,
        client: ClientInfo,
        now: dt.datetime,
        *,
        event_source: str = EVENT_SOURCE,
        error_code: str | None = None,
        error_message: str | None = None,
        request_parameters: dict[str, Any] | None = None,
        response_elements: dict[str, Any] | None = None,
        recipient: str | None = None,
        additional: dict[str, Any] | None = None,
    ) -> None:
        record_event(
            session,
            event_name=name,
            event_source=event_source,
            actor=actor,
            now=now,
            region=self.settings.region,
            source_ip=client.source_ip,
            user_agent=client.user_agent,
            request_id=client.request_id,
            error_code=error_code,
            error_message=error_message,
            request_parameters=request_parameters,
            response_elements=response_elements,
            event_type="AwsConsoleSignIn" if name in ("ConsoleLogin", "ConsoleLogout") else "AwsApiCall",
            recipient_account_id=recipient or self.settings.default_account_id,
            additional=additional,
        )


def sign_in_actor(sign_in: SignIn) -> Actor:
    return Actor(
        type="SAMLUser",
        principal_id=f"{sign_in.provider_arn}:{sign_in.subject}",
        user_name=sign_in.subject,
        account_id=sign_in.account_id,
        session_context=saml_session_context(sign_in.mfa, sign_in.source_identity),
        extra={"identityProvider": sign_in.provider_arn},
    )


def saml_session_context(mfa: bool, source_identity: str | None) -> dict[str, Any]:
    """The audit record's ``sessionContext`` of a SAML sign-in: MFA as the IdP asserted it, source identity."""
    context: dict[str, Any] = {"attributes": {"mfaAuthenticated": "true" if mfa else "false"}}
    if source_identity:
        context["sourceIdentity"] = source_identity
    return context


def is_local_path(target: str, base_url: str) -> bool:
    """A RelayState we will follow: a path on this site, or an absolute URL under base_url."""
    if target.startswith(base_url + "/"):
        target = target[len(base_url) :]
    return (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 0x20 for c in target)
    )


def provider_arn_for(account_id: str, name: str) -> str:
    return saml_provider_arn(account_id, name)
