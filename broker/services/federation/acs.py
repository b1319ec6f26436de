"""The assertion consumer: a POSTed SAMLResponse becomes a signed-in browser, or one audited refusal."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from broker.errors import BrokerError
from broker.iam.errors import AwsError
from broker.saml.errors import SamlError
from broker.services import metrics
from broker.services.audit import Actor, ClientInfo
from broker.services.federation.audit import sign_in_scope
from broker.services.federation.login import answer_request, check_relay_state, check_request
from broker.services.federation.origins import NO_ORIGIN, PostOrigin, check_issuer_origin, check_sender
from broker.services.federation.providers import ProviderLookup, replay_window_end
from broker.services.federation.sessions import (
    BrowserSession,
    end_replaced_session,
    open_browser_session,
    session_to_replace,
)
from broker.services.federation.sign_in import SignIn, read_sign_in, sign_in_actor
from broker.services.runtime import Runtime
from broker.store import federation as store

log = logging.getLogger("broker.federation")

PURGE_CHORE = "federation.purge-expired"
PURGE_INTERVAL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class SignedInBrowser:
    """A consumed response: the browser's new session token, the session as pages see it, the sign-in."""

    token: str
    session: BrowserSession
    sign_in: SignIn


def consume(
    runtime: Runtime,
    saml_response: str,
    relay_state: str | None,
    browser_binding: str | None,
    client: ClientInfo,
    origin: PostOrigin = NO_ORIGIN,
    previous_token: str | None = None,
) -> SignedInBrowser:
    """Validate a POSTed response and open a web session; the token is the browser's. Every outcome is audited.

    ``previous_token`` is the web session the browser held, if any: read with the checks, and
    another person's is ended in the write (:func:`session_to_replace`).

    ``origin`` is what the browser said about the page that posted (:mod:`.origins`): a post from
    another site is refused before the response is read, an IdP-initiated one from a page that
    is not its provider's once it is.

    Two transactions. The checks read, without SQLite's write lock (on a snapshot) and without row
    locks on PostgreSQL: the provider from the process's cache (one statement reads the stamp it is
    valid under), the outstanding request once, the signature and the conditions, and the roles
    the sign-in is offered. Then one short write: the request answered by a guarded UPDATE, the
    replay guard (one INSERT that a second use of the assertion cannot repeat), the web session
    and the audit event. So sign-ins wait for each other only for the write, not for the checks.
    """
    settings = runtime.settings
    now = runtime.now()
    try:
        with runtime.db.read() as tx:
            check_sender(runtime, tx, origin)
            lookup = ProviderLookup(runtime, tx)
            assertion, trust = lookup.validate(saml_response, now)
            provider = lookup.record(trust)
            request_id = check_request(lookup, settings, assertion, provider, relay_state, browser_binding, now)
            solicited = assertion.in_response_to is not None  # and answered from this browser
            check_issuer_origin(runtime, origin, provider.arn, lookup.origins(trust), solicited)
            check_relay_state(settings, relay_state)
            sign_in = read_sign_in(tx, settings, assertion, provider, relay_state)
            replaced = session_to_replace(tx, previous_token, sign_in, now)
        with runtime.db.transaction() as tx:
            answer_request(tx, request_id, now)
            if not store.remember_assertion(
                tx, assertion.issuer, assertion.assertion_id, replay_window_end(runtime, assertion)
            ):
                raise SamlError("Replay", f"assertion {assertion.assertion_id} was already used")
            token, session = open_browser_session(runtime, tx, sign_in, now)
            if replaced is not None:
                end_replaced_session(runtime, tx, replaced, client, now)
            # Expired replay records, requests and web sessions go now and then, not on every sign-in.
            if runtime.housekeeping.due(PURGE_CHORE, now, PURGE_INTERVAL):
                store.purge_expired(tx, now)
            scope = sign_in_scope(
                settings,
                "ConsoleLogin",
                sign_in_actor(sign_in),
                client,
                additional={
                    "assertionId": assertion.assertion_id,
                    "assertionDigest": assertion.digest,
                    "issuer": assertion.issuer,
                    "rolesOffered": len(sign_in.roles),
                },
            )
            scope.record(tx, now)
        metrics.count_sign_in()
        return SignedInBrowser(token, session, sign_in)
    except SamlError as exc:
        log.log(exc.log_level, "sign-in refused: %s: %s", exc.code, exc.audit_detail)
        _audit_refusal(runtime, client, now, exc)
        raise
    except AwsError as exc:
        log.warning("sign-in refused: %s: %s", exc.code, exc.message)
        _audit_refusal(runtime, client, now, exc)
        raise


def _audit_refusal(runtime: Runtime, client: ClientInfo, now: dt.datetime, error: BrokerError) -> None:
    # The sign-in's transaction rolled back; its refusal is recorded in one of its own.
    with runtime.db.transaction() as tx:
        sign_in_scope(runtime.settings, "ConsoleLogin", Actor(type="SAMLUser"), client).record(tx, now, error=error)
    metrics.count_sign_in(error.code)
