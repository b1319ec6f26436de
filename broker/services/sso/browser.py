"""The browser steps of SSO-OIDC: /authorize with its consent page, and the device page.

A code or a device approval only ever comes from the POST of a page that names who is signed in
and what asks, carrying a token bound to that browser session and that request; a GET grants
nothing. Wrong user codes count in the same per-session and per-address counters as the CLI's.
"""

from __future__ import annotations

import datetime as dt
import secrets

from broker.errors import BrokerError
from broker.iam.constant_time import same_secret
from broker.iam.text import has_control_characters
from broker.services.audit import Actor, ClientInfo
from broker.services.cli_auth import user_codes
from broker.services.cli_auth.loopback import is_loopback_redirect_uri, loopback_host_port, with_query
from broker.services.cli_auth.pkce import is_code_challenge
from broker.services.federation import BrowserSession, RoleOffer, SignIn, sign_in_actor, signed_in
from broker.services.federation import token_hash as sha256_hex
from broker.services.ratelimit.addresses import client_key
from broker.services.sso import errors
from broker.services.sso._base import (
    AUTHORIZATION_LIFETIME,
    CODE_LIFETIME,
    GRANT_AUTHORIZATION_CODE,
    MAX_FIELD,
    AuthorizeRedirect,
    Consent,
    OidcBase,
    allows_grant,
    consent_matches,
    consent_token,
    one_arg,
    registered_redirect,
)
from broker.services.sso.offers import current_offers
from broker.store import Tx
from broker.store import cli_auth as guesses
from broker.store import sso as store
from broker.store.sso import SsoAuthorizationRecord


class BrowserSteps(OidcBase):
    def begin_authorize(self, args: dict[str, list[str]], client: ClientInfo) -> str:
        """Check an /authorize query and record it; the handle that resumes it after sign-in.

        Client and redirect URI problems raise :class:`errors.PageRefused` (no redirect to trust);
        anything else raises :class:`AuthorizeRedirect` with ``error=`` for the loopback listener."""
        now = self.runtime.now()
        try:
            return self._begin_authorize(args, client, now)
        except (errors.PageRefused, AuthorizeRedirect) as exc:
            refusal = exc if isinstance(exc, errors.PageRefused) else exc.refusal
            self.audit_refusal("Authorize", client, refusal, parameters={"clientId": one_arg(args, "client_id")})
            raise

    def _begin_authorize(self, args: dict[str, list[str]], client: ClientInfo, now: dt.datetime) -> str:
        if any(len(values) > 1 for values in args.values()):
            raise errors.PageRefused("InvalidRequest", "The sign-in link repeats a parameter.")
        if any(has_control_characters(value) for values in args.values() for value in values):
            raise errors.PageRefused("InvalidRequest", "The sign-in link carries a control character.")
        client_id = one_arg(args, "client_id")
        redirect_uri = one_arg(args, "redirect_uri") or ""
        with self.runtime.db.read() as tx:
            registered = store.client(tx, client_id) if client_id and len(client_id) <= 64 else None
        if registered is None or registered.expires_at <= now:
            raise errors.PageRefused("UnknownClient", "The sign-in link names no client registered with this broker.")
        if not allows_grant(registered, GRANT_AUTHORIZATION_CODE):
            raise errors.PageRefused(
                "UnauthorizedClient", "The tool that sent you here did not register to sign in this way."
            )
        if not is_loopback_redirect_uri(redirect_uri) or not registered_redirect(registered, redirect_uri):
            raise errors.PageRefused(
                "InvalidRedirectUri",
                "The sign-in link must return to a tool on this computer (http://127.0.0.1:PORT/oauth/callback); "
                "it asks to go elsewhere.",
            )
        state = one_arg(args, "state")

        def refuse(error: str, description: str) -> AuthorizeRedirect:
            params = {"error": error, "error_description": description}
            if state and len(state) <= MAX_FIELD:
                params["state"] = state
            return AuthorizeRedirect(with_query(redirect_uri, params), errors.InvalidRequest(f"{error}: {description}"))

        if one_arg(args, "response_type") != "code":
            raise refuse("unsupported_response_type", "only response_type=code is supported")
        if not state or len(state) > MAX_FIELD:
            raise refuse("invalid_request", f"state is required (at most {MAX_FIELD} characters)")
        if one_arg(args, "code_challenge_method") != "S256" or not is_code_challenge(
            one_arg(args, "code_challenge") or ""
        ):
            raise refuse(
                "invalid_request", "PKCE is required: code_challenge_method=S256 and a 43-character code_challenge"
            )
        handle = secrets.token_urlsafe(32)
        with self.runtime.db.transaction() as tx:
            self._purge_now_and_then(tx, now)
            store.add_authorization(
                tx,
                SsoAuthorizationRecord(
                    grant_hash=sha256_hex(handle),
                    kind="code",
                    client_id=registered.client_id,
                    redirect_uri=redirect_uri,
                    state=state,
                    code_challenge=one_arg(args, "code_challenge"),
                    source_ip=(client.source_ip or "")[:64] or None,
                    interval_seconds=0,
                    status="pending",
                    created_at=now,
                    expires_at=now + AUTHORIZATION_LIFETIME,
                ),
            )
        return handle

    def _pending_code_request(self, tx: Tx, handle: str | None, now: dt.datetime) -> SsoAuthorizationRecord:
        row = store.authorization(tx, sha256_hex(handle)) if handle and len(handle) <= 128 else None
        if row is None or row.kind != "code" or row.status != "pending":
            raise errors.PageRefused(
                "UnknownAuthorization", "This sign-in link was already used or is not known here. Start again.", 404
            )
        if row.expires_at <= now:
            raise errors.PageRefused("ExpiredAuthorization", "This sign-in link has expired. Start again.", 410)
        return row

    def authorize_consent(self, handle: str | None, web_token: str | None) -> Consent:
        """What the consent page shows (nothing is granted by a GET)."""
        now = self.runtime.now()
        with self.runtime.db.read() as tx:
            row = self._pending_code_request(tx, handle, now)
            web, sign_in = self._browser(tx, web_token, now)
            registered = store.client(tx, row.client_id)
            offers = current_offers(tx, sign_in)
            session_expires_at = self._session_expiry(tx, sign_in, offers, now)
        assert handle is not None
        assert row.redirect_uri is not None
        host, port = loopback_host_port(row.redirect_uri)
        return Consent(
            handle=handle,
            consent_token=consent_token(web, row.grant_hash),
            csrf_token=web.csrf_token,
            client_name=registered.client_name if registered else row.client_id,
            sign_in=sign_in,
            offers=offers,
            session_expires_at=session_expires_at,
            redirect_host=host,
            redirect_port=port,
        )

    def decide_authorize(
        self, handle: str | None, web_token: str | None, consent: str | None, approve: bool, client: ClientInfo
    ) -> str:
        """The consent page's POST: the loopback URL with a one-time code (or ``error=access_denied``)."""
        now = self.runtime.now()
        code = secrets.token_urlsafe(32)
        actor: Actor = Actor(type="SAMLUser")
        try:
            with self.runtime.db.transaction() as tx:
                row = self._pending_code_request(tx, handle, now)
                web, sign_in = self._browser(tx, web_token, now)
                actor = sign_in_actor(sign_in)
                if not consent_matches(web, row.grant_hash, consent):
                    raise errors.PageRefused("BadCsrf", "The form has expired. Start again.", 403)
                assert row.redirect_uri is not None
                assert row.state is not None
                scope = self._scope("CreateAuthorizationCode", actor, client, {"clientId": row.client_id})
                scope.additional = {"authorizationId": row.grant_hash[:16]}
                if approve and not current_offers(tx, sign_in):
                    approve = False
                    refusal: BrokerError = errors.AccessDenied("no role is available to this sign-in")
                else:
                    refusal = errors.AccessDenied("cancelled in the browser")
                if not approve:
                    store.decide(tx, row.grant_hash, "denied", now)
                    scope.record(tx, now, error=refusal)
                    location = with_query(
                        row.redirect_uri,
                        {"error": "access_denied", "error_description": refusal.message, "state": row.state},
                    )
                elif store.decide(
                    tx,
                    row.grant_hash,
                    "approved",
                    now,
                    code_hash=sha256_hex(code),
                    web_session_hash=web.id_hash,
                    expires_at=min(row.expires_at, now + CODE_LIFETIME),
                ):
                    scope.request_parameters = {"clientId": row.client_id, "redirectUri": row.redirect_uri}
                    scope.record(tx, now)
                    location = with_query(row.redirect_uri, {"code": code, "state": row.state})
                else:
                    raise errors.PageRefused("UnknownAuthorization", "This sign-in link was already used.", 409)
        except errors.PageRefused as exc:
            self.audit_refusal("CreateAuthorizationCode", client, exc, actor=actor)
            raise
        return location

    # --- the device page -----------------------------------------------------------------------

    def device_consent(self, typed: str | None, web_token: str | None, client: ClientInfo) -> Consent:
        """What the device page shows for a typed user code; a wrong code is counted and audited."""
        now = self.runtime.now()
        with self.runtime.db.transaction() as tx:
            web, sign_in = self._browser(tx, web_token, now)
            row, refusal = self._check_user_code(tx, typed, web, sign_in, client, now)
            if row is not None:
                return Consent(
                    handle=row.user_code or "",
                    consent_token=consent_token(web, row.grant_hash),
                    csrf_token=web.csrf_token,
                    client_name=self._client_name(tx, row.client_id),
                    sign_in=sign_in,
                    offers=(offers := current_offers(tx, sign_in)),
                    session_expires_at=self._session_expiry(tx, sign_in, offers, now),
                    user_code=user_codes.display_user_code(row.user_code or ""),
                    source_ip=row.source_ip,
                )
        assert refusal is not None
        raise refusal

    def _client_name(self, tx: Tx, client_id: str) -> str:
        registered = store.client(tx, client_id)
        return registered.client_name if registered else client_id

    def _check_user_code(
        self, tx: Tx, typed: str | None, web: BrowserSession, sign_in: SignIn, client: ClientInfo, now: dt.datetime
    ) -> tuple[SsoAuthorizationRecord | None, errors.PageRefused | None]:
        """The live device authorization ``typed`` names, or the refusal, counted (per browser
        session and client address, in the counters the CLI's device flow uses) and audited."""
        keys = [(sha256_hex(f"session:{web.id_hash}"), "session")]
        address = client_key(client.source_ip, self.settings.rate_limit_ipv6_prefix)
        if address:
            keys.append((sha256_hex(f"address:{address}"), "address"))
        code = user_codes.normalise_user_code(typed)
        refusal: errors.PageRefused | None = None
        detail = ""
        if guesses.user_code_locks(tx, [key for key, _ in keys], now):
            refusal = errors.PageRefused(
                "TooManyUserCodeAttempts",
                "Too many wrong codes were typed from this browser or network. Try later.",
                429,
            )
            detail = "locked out"
        elif code is None:
            refusal = errors.PageRefused("MalformedUserCode", "That is not a code: it has 8 letters, like BCDF-GHJK.")
        else:
            row = store.authorization_by_user_code(tx, code)
            if row is not None and row.kind == "device" and row.status == "pending" and row.expires_at > now:
                return row, None
            detail = (
                "no such code" if row is None else f"the code is {row.status if row.expires_at > now else 'expired'}"
            )
            refusal = errors.PageRefused("UnknownUserCode", "That code is not valid or has expired.", 404)
            for key, kind in keys:
                guesses.count_user_code_failure(
                    tx,
                    key,
                    kind,
                    now,
                    window=user_codes.WRONG_CODE_WINDOW,
                    max_failures=user_codes.MAX_WRONG_CODES,
                    lockout=user_codes.WRONG_CODE_LOCKOUT,
                )
        scope = self._scope("VerifyUserCode", sign_in_actor(sign_in), client)
        scope.additional = {"detail": detail, "userCodeWellFormed": code is not None}
        scope.record(tx, now, error=refusal)
        return None, refusal

    def decide_device(
        self,
        typed: str | None,
        web_token: str | None,
        csrf: str | None,
        consent: str | None,
        approve: bool,
        client: ClientInfo,
    ) -> bool:
        """Approve or deny a pending device authorization from its page; True when approved.

        The form must carry the browser session's CSRF token before the code is even looked up:
        a form posted from another site must not count wrong codes against the person (five lock
        them, and everyone at their address, out for a while)."""
        now = self.runtime.now()
        event = "ApproveDeviceAuthorization" if approve else "DenyDeviceAuthorization"
        with self.runtime.db.transaction() as tx:
            web, sign_in = self._browser(tx, web_token, now)
            if csrf is None or len(csrf) > 128 or not same_secret(web.csrf_token, csrf):
                refused = errors.PageRefused("BadCsrf", "The form has expired. Enter the code again.", 403)
                self._scope(event, sign_in_actor(sign_in), client, None).record(tx, now, error=refused)
                raise refused
            row, refusal = self._check_user_code(tx, typed, web, sign_in, client, now)
            if row is not None and not consent_matches(web, row.grant_hash, consent):
                refusal = errors.PageRefused("BadCsrf", "The form has expired. Enter the code again.", 403)
            elif row is not None and approve and not current_offers(tx, sign_in):
                refusal = errors.PageRefused("RoleNotPermitted", "No role is available to your sign-in.", 403)
            scope = self._scope(event, sign_in_actor(sign_in), client, {"clientId": row.client_id} if row else None)
            if row is not None:
                scope.additional = {"deviceAuthorizationId": row.grant_hash[:16], "deviceSourceIp": row.source_ip}
            if refusal is None and row is not None:
                status = "approved" if approve else "denied"
                if store.decide(tx, row.grant_hash, status, now, web_session_hash=web.id_hash if approve else None):
                    scope.record(tx, now)
                    return approve
                refusal = errors.PageRefused("UsedUserCode", "That code was decided meanwhile.", 409)
            if refusal is not None and refusal.code != "UnknownUserCode" and refusal.code != "MalformedUserCode":
                scope.record(tx, now, error=refusal)
        assert refusal is not None
        raise refusal

    # --- CreateToken ---------------------------------------------------------------------------

    def start_page(self, web_token: str | None) -> tuple[BrowserSession, SignIn, list[RoleOffer]] | None:
        """The start URL's view: the signed-in browser and the roles its sign-in may assume now."""
        if not web_token or len(web_token) > 128:
            return None
        with self.runtime.db.read() as tx:
            loaded = signed_in(tx, web_token, self.runtime.now())
            if loaded is None:
                return None
            return loaded[0], loaded[1], current_offers(tx, loaded[1])
