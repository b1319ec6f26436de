"""SAML service-provider routes: metadata, SP-initiated login, ACS and role selection."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from flask import Blueprint, Response, make_response, redirect, render_template, request

from broker.iam.errors import AwsError
from broker.iam.timestamps import aws_timestamp
from broker.saml.errors import SamlError
from broker.services.audit import ClientInfo
from broker.services.federation import (
    FederationError,
    FederationService,
    PostOrigin,
    RoleOffer,
    SignedInBrowser,
    SignIn,
    is_local_path,
)
from broker.web.credentials_page import IssuedCredentials, clear_handoff, hand_over, show, take_over
from broker.web.pages import error_page, refusal_page, role_form
from broker.web.protocol import SESSION_COOKIE, client_info, cookie_name, csp_nonce, runtime, session_cookie

log = logging.getLogger("broker.web.saml")
bp = Blueprint("saml", __name__, url_prefix="/saml")

BINDING_COOKIE = "broker_binding"


def federation() -> FederationService:
    return FederationService(runtime())


def _cookie_args() -> dict[str, Any]:
    secure = runtime().settings.secure_cookies
    # The IdP POSTs back cross-site, and the ACS reads both cookies (the binding, and the session
    # it may replace); over HTTPS that needs SameSite=None. On a plain-HTTP loopback demo the IdP
    # and broker are same-site, where Lax suffices (None needs Secure).
    return {"httponly": True, "secure": secure, "samesite": "None" if secure else "Lax", "path": "/"}


@bp.get("/metadata")
def metadata() -> Response:
    response = make_response(runtime().sp.metadata_xml)
    response.headers["Content-Type"] = "application/samlmetadata+xml"
    return response


@bp.get("/login")
def login() -> Response:
    """A sign-in link: to the IdP at once for the installation's own providers, else via the question page."""
    return _start_login(request.args.get("provider", ""), request.args.get("next"), None)


@bp.post("/login")
def confirm_login() -> Response:
    """The question page's continue button: its token proves the page was shown in this browser."""
    return _start_login(
        request.form.get("provider", ""), request.form.get("next"), request.form.get("confirmation", "")
    )


def _start_login(provider: str, next_path: str | None, confirmation: str | None) -> Response:
    provider = provider.strip()
    if not provider:
        return error_page(
            "Choose an identity provider", "The sign-in link names no identity provider.", 400, code="MissingProvider"
        )
    relay_state = next_path or None
    if relay_state is not None and (
        len(relay_state) > 512 or not is_local_path(relay_state, runtime().settings.base_url)
    ):
        return error_page(
            "Unacceptable return address", "The sign-in link asks to return to another site.", 400, code="BadRelayState"
        )
    binding = request.cookies.get(cookie_name(BINDING_COOKIE))
    if not binding or len(binding) > 128:
        binding = secrets.token_urlsafe(32)
    client = client_info()
    try:
        start = federation().begin_login(provider, binding, relay_state, confirmation, client)
    except FederationError as exc:
        return refusal_page("Cannot start sign-in", exc, client.request_id)
    if start.url is None:
        body = render_template(
            "saml_continue.html", target=start.target, next_path=relay_state, confirmation=start.confirmation
        )
        response = _no_store(make_response(body))
    else:
        # 303 after the continue form's POST, so the browser GETs the IdP.
        response = redirect(start.url, code=302 if confirmation is None else 303)  # type: ignore[assignment]
    response.set_cookie(
        cookie_name(BINDING_COOKIE), binding, max_age=runtime().settings.saml_request_lifetime_seconds, **_cookie_args()
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/acs")
def acs() -> Response:
    settings = runtime().settings
    client = client_info()
    if (request.content_length or 0) > settings.saml_max_response_bytes + 4096:
        too_large = SamlError("MessageTooLarge", f"POST body of {request.content_length} bytes")
        return refusal_page("Sign-in refused", too_large, client.request_id)
    saml_response = request.form.get("SAMLResponse")
    relay_state = request.form.get("RelayState")
    if not saml_response:
        return error_page("Sign-in failed", "The identity provider sent no SAMLResponse.", 400, code="MissingResponse")
    try:
        signed_in = federation().sign_in_browser(
            saml_response,
            relay_state,
            request.cookies.get(cookie_name(BINDING_COOKIE)),
            client,
            _post_origin(),
            session_cookie(),
        )
    except SamlError as exc:
        return refusal_page("Sign-in refused", exc, client.request_id)
    except AwsError as exc:
        return refusal_page("Sign-in failed", exc, client.request_id)
    response = _after_sign_in(signed_in, client)
    response.set_cookie(
        cookie_name(SESSION_COOKIE), signed_in.token, max_age=settings.web_session_lifetime_seconds, **_cookie_args()
    )
    response.delete_cookie(cookie_name(BINDING_COOKIE), **_cookie_args())
    return response


def _post_origin() -> PostOrigin:
    """What the browser says about the page that posted: set by the browser, never by the page."""
    return PostOrigin(request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"))


def _after_sign_in(signed_in: SignedInBrowser, client: ClientInfo) -> Response:
    sign_in = signed_in.sign_in
    if sign_in.relay_state and not sign_in.relay_state.startswith("/saml/"):
        # A flow (such as the CLI's) that sent the person here picks up from the relay path.
        target = sign_in.relay_state
        base = runtime().settings.base_url
        return redirect(target[len(base) :] if target.startswith(base) else target, code=303)  # type: ignore[return-value]
    offers = sign_in.offers()
    if len(offers) == 1 and runtime().settings.auto_select_single_role:
        try:
            credentials = federation().issue(sign_in, offers[0].role_arn, None, client)
        except FederationError as exc:
            return refusal_page("Cannot issue credentials", exc)
        # The session was opened in the sign-in's own transaction: its CSRF token is at hand.
        issued = IssuedCredentials.of(credentials, sign_in, None, signed_in.session.csrf_token)
        return hand_over(runtime(), issued, signed_in.token, _cookie_args())
    # Post/redirect/get: the role page (or the page saying why there is none) is a GET, so the
    # browser can come Back to it.
    return _no_store(redirect("/saml/roles", code=303))  # type: ignore[arg-type]


def _no_roles(sign_in: SignIn, csrf_token: str) -> Response:
    body = render_template(
        "no_roles.html",
        sign_in=sign_in,
        csrf_token=csrf_token,
        refused_count=sign_in.refused_count,
        attributes=sorted(sign_in.attributes.items()),
        now=aws_timestamp(dt.datetime.now(dt.UTC)),
    )
    return _no_store(make_response(body, 403))


def roles_page(sign_in: SignIn, csrf_token: str, offers: list[RoleOffer] | None = None) -> Response:
    body = render_template(
        "roles.html",
        sign_in=sign_in,
        csrf_token=csrf_token,
        csp_nonce=csp_nonce(),
        **role_form(sign_in.offers() if offers is None else offers, sign_in.requested_duration),
    )
    return _no_store(make_response(body))


@bp.post("/roles")
def choose_role() -> Response:
    client = client_info()
    role_arn = request.form.get("role_arn", "")
    token = session_cookie()
    try:
        credentials = federation().assume_from_web_session(
            token,
            role_arn,
            request.form.get("duration"),
            request.form.get("csrf_token"),
            client,
        )
    except FederationError as exc:
        return refusal_page("Cannot issue credentials", exc, client.request_id)
    loaded = federation().load_web_session(token)
    duration = request.form.get("duration", "")
    # The token was checked against the web session's: the page may carry it for signing out.
    issued = IssuedCredentials.of(
        credentials,
        loaded[1] if loaded else None,
        int(duration) if duration.isdigit() else None,
        request.form.get("csrf_token"),
    )
    return hand_over(runtime(), issued, token, _cookie_args())


@bp.get("/credentials")
def show_credentials() -> Response:
    """The credentials a role choice just issued, shown once: a reload or a later visit gets none."""
    issued = take_over(runtime(), request, session_cookie())
    if issued is None:
        body = render_template("credentials_gone.html", signed_in=session_cookie() is not None)
        response = _no_store(make_response(body, 410))
    else:
        response = show(issued, runtime())
    clear_handoff(response, _cookie_args())
    return response


@bp.post("/logout")
def sign_out() -> Response:
    client = client_info()
    try:
        federation().sign_out(session_cookie(), request.form.get("csrf_token"), client)
    except FederationError as exc:
        return refusal_page("Cannot sign out", exc, client.request_id)
    response = _no_store(make_response(render_template("signed_out.html")))
    # Cleared with the attributes they were set with, or a browser may keep them.
    response.delete_cookie(cookie_name(SESSION_COOKIE), **_cookie_args())
    response.delete_cookie(cookie_name(BINDING_COOKIE), **_cookie_args())
    clear_handoff(response, _cookie_args())
    return response


@bp.get("/roles")
def roles_again() -> Response:
    loaded = federation().load_web_session(session_cookie())
    if loaded is None:
        return redirect("/", code=303)  # type: ignore[return-value]
    web, sign_in = loaded
    offers = sign_in.offers()
    if not offers:
        return _no_roles(sign_in, web.csrf_token)
    return roles_page(sign_in, web.csrf_token, offers)


@bp.get("/roles/why")
def explain_roles() -> Response:
    """Why the roles that trust the sign-in's provider are not offered, decided again now."""
    explained = federation().explain_refusals(session_cookie())
    if explained is None:
        return redirect("/", code=303)  # type: ignore[return-value]
    web, sign_in, report = explained
    body = render_template("role_refusals.html", sign_in=sign_in, report=report, csrf_token=web.csrf_token)
    return _no_store(make_response(body))


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
