"""Credentials for a signed-in browser: the role it chose, decided again against the role's trust policy."""

from __future__ import annotations

import datetime as dt

from broker.iam.errors import AwsError
from broker.iam.numbers import is_absent, parse_ascii_int
from broker.services.audit import Actor, ClientInfo
from broker.services.credentials import TemporaryCredentials, issue_role_credentials
from broker.services.federation.audit import STS_SOURCE, sign_in_scope
from broker.services.federation.errors import BadCsrf, BadDuration, FederationError, NoSession, RoleNotPermitted
from broker.services.federation.sessions import load_web_session
from broker.services.federation.sign_in import SignIn, sign_in_actor, token_context
from broker.services.runtime import Runtime
from broker.services.saml_session import session_duration
from broker.services.trust import saml_trust_decision
from broker.store import federation as store

EVENT_NAME = "AssumeRoleWithSAML"
# More digits than any duration has (43200): a longer number is refused as malformed, not parsed.
_DURATION_DIGITS = 6


def read_duration(text: str | None) -> int | None:
    """The role form's session duration: None when not given, else whole seconds in ASCII digits.

    The range (and the role's maximum) is checked where the session is made; text that is not a
    number at all, such as ``'²'`` (a digit to ``str.isdigit``, not to ``int``), is refused here.
    """
    if is_absent(text):
        return None
    seconds = parse_ascii_int(text, max_digits=_DURATION_DIGITS)
    if seconds is None:
        raise BadDuration("The session duration must be a whole number of seconds, such as 3600.")
    return seconds


def assume_from_web_session(
    runtime: Runtime,
    token: str | None,
    role_arn: str,
    duration_text: str | None,
    csrf_token: str | None,
    client: ClientInfo,
) -> TemporaryCredentials:
    """The role page's form: a role the sign-in was offered, for a duration up to that role's maximum.
    ``duration_text`` is the form's field as sent (absent or empty for the default)."""
    loaded = load_web_session(runtime, token)
    sign_in = loaded[1] if loaded else None
    shown: int | str | None = duration_text[:16] if duration_text else None  # what a refusal records
    try:
        if loaded is None:
            raise NoSession("Your sign-in has expired. Please sign in again.")
        web, sign_in = loaded
        if not web.csrf_matches(csrf_token):
            raise BadCsrf("The form has expired. Please choose the role again.")
        duration = shown = read_duration(duration_text)
        offer = next((o for o in sign_in.offers() if o.role_arn == role_arn), None)
        if offer is None:
            raise RoleNotPermitted("That role is not one you may assume.")
    except FederationError as exc:
        _audit_refusal(runtime, sign_in, role_arn, shown, client, exc)
        raise
    # The page offers durations up to the longest role's maximum; cap to this role's.
    if duration is not None:
        duration = min(duration, offer.max_session_duration)
    return issue(runtime, sign_in, offer.role_arn, duration, client)


def issue(
    runtime: Runtime, sign_in: SignIn, role_arn: str, duration: int | None, client: ClientInfo
) -> TemporaryCredentials:
    """Credentials for ``role_arn`` if it still trusts the sign-in; every refusal is audited."""
    try:
        return _issue(runtime, sign_in, role_arn, duration, client)
    except FederationError as exc:
        _audit_refusal(runtime, sign_in, role_arn, duration, client, exc)
        raise


def _issue(
    runtime: Runtime, sign_in: SignIn, role_arn: str, duration: int | None, client: ClientInfo
) -> TemporaryCredentials:
    settings = runtime.settings
    now = runtime.now()
    with runtime.db.transaction() as tx:
        role = store.trusting_role(tx, role_arn)
        if role is None:
            raise RoleNotPermitted("That role no longer exists, or its account is closed.")
        # The trust policy may have changed since sign-in: decide again at issuance.
        decision = saml_trust_decision(
            role, sign_in.provider_arn, sign_in.context, sign_in.session_tags, sign_in.source_identity
        )
        if not decision.allowed:
            raise RoleNotPermitted("That role no longer trusts your sign-in.")
        not_after = (
            dt.datetime.fromisoformat(sign_in.session_not_on_or_after) if sign_in.session_not_on_or_after else None
        )
        try:
            seconds = session_duration(duration, sign_in.requested_duration, role.max_session_duration, not_after, now)
        except AwsError as exc:
            raise BadDuration(exc.message) from None
        credentials = issue_role_credentials(
            runtime,
            role,
            session_name=sign_in.session_name,
            duration_seconds=seconds,
            auth_type="saml",
            provider_arn=sign_in.provider_arn,
            source_identity=sign_in.source_identity,
            session_tags=sign_in.session_tags,
            transitive_tag_keys=tuple(sign_in.transitive_tag_keys),
            mfa=sign_in.mfa,
            federated=token_context(sign_in.context),
        )
        store.mark_role_used(tx, role.role_id, now, settings.region)
        scope = sign_in_scope(
            settings,
            EVENT_NAME,
            sign_in_actor(sign_in),
            client,
            event_source=STS_SOURCE,
            recipient=role.account_id,
            request_parameters={"roleArn": role.arn, "principalArn": sign_in.provider_arn, "durationSeconds": seconds},
        )
        scope.record(tx, now, response=credentials.audit_elements())
        return credentials


def _audit_refusal(
    runtime: Runtime,
    sign_in: SignIn | None,
    role_arn: str,
    duration: int | str | None,
    client: ClientInfo,
    exc: FederationError,
) -> None:
    with runtime.db.transaction() as tx:
        scope = sign_in_scope(
            runtime.settings,
            EVENT_NAME,
            sign_in_actor(sign_in) if sign_in else Actor(type="SAMLUser"),
            client,
            event_source=STS_SOURCE,
            request_parameters={"roleArn": role_arn[:2048], "durationSeconds": duration},
        )
        scope.record(tx, runtime.now(), error=exc)
