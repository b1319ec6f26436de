"""CLI sign-in routes: browser redirect with PKCE, device authorization, token, session, revoke.

Browser pages (``/cli/authorize``, ``/cli/device/verify``) sign the person in through the normal
SAML flow, with a local RelayState that brings them back here, and then ask: a code or a device
approval only ever comes from the POST of a page that names who is signed in, the client and the
role. Machine endpoints answer JSON with RFC 6749 errors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, make_response, redirect, render_template, request, url_for

from broker.services.audit import ClientInfo
from broker.services.cli_auth import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    AuthorizationCodeGrant,
    AuthorizeRedirect,
    AuthorizeRefused,
    Consent,
    DeviceAuthorizationGrant,
    OAuthError,
    RefreshTokenGrant,
    display_user_code,
    parse_authorize_request,
    parse_duration,
)
from broker.services.cli_auth.user_codes import MAX_TYPED_LENGTH
from broker.services.federation import RoleOffer, SignIn, sign_in_actor, sign_in_choices
from broker.web.pages import error_page, refusal_page, role_form
from broker.web.protocol import client_info, cross_site, csp_nonce, runtime, session_cookie

bp = Blueprint("cli", __name__, url_prefix="/cli")

AFTER_SIGN_IN = "signin"


def code_grant() -> AuthorizationCodeGrant:
    return AuthorizationCodeGrant(runtime())


def device_grant() -> DeviceAuthorizationGrant:
    return DeviceAuthorizationGrant(runtime())


def refresh_grant() -> RefreshTokenGrant:
    return RefreshTokenGrant(runtime())


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _json(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return _no_store(response)


def _oauth_error(exc: OAuthError) -> Response:
    return _json(exc.to_json(), exc.status)


def _refused_page(exc: AuthorizeRefused) -> Response:
    return refusal_page("Cannot sign in the command-line tool", exc)


def _see_other(location: str) -> Response:
    response = redirect(location, code=303)
    return _no_store(response)  # type: ignore[arg-type]


def _page(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("csp_nonce", csp_nonce())
    return _no_store(make_response(render_template(template, **context), status))


# --- sign-in through SAML -------------------------------------------------------------------------


def _provider_matches(reference: str, sign_in: SignIn) -> bool:
    ref = reference.lower()
    return ref in (
        sign_in.provider_arn.lower(),
        sign_in.provider_name.lower(),
        f"{sign_in.account_id}/{sign_in.provider_name}".lower(),
    )


def _sign_in(provider: str | None, next_path: str) -> Response:
    """Send the browser to the IdP (SP-initiated), to come back to ``next_path``."""
    if provider:
        return _see_other(url_for("saml.login", provider=provider, next=next_path))
    providers = sign_in_choices(runtime())
    if not providers:
        return error_page(
            "No identity provider",
            "No identity provider is registered with this broker yet.",
            503,
            code="NoProvider",
        )
    if len(providers) == 1:
        return _see_other(url_for("saml.login", provider=providers[0].reference, next=next_path))
    links = [
        {
            "name": p.name,
            "account_id": p.account_id,
            "href": url_for("saml.login", provider=p.reference, next=next_path),
        }
        for p in providers
    ]
    return _page("cli_providers.html", providers=links)


def _cookies_lost() -> Response:
    return error_page(
        "Sign-in did not stick",
        "You signed in, but this browser did not keep the broker's session cookie. Allow cookies for this "
        "site and try again.",
        400,
        code="NoSessionCookie",
    )


# --- browser redirect (authorization code + PKCE) -------------------------------------------------


@bp.get("/authorize")
def authorize() -> Response:
    cli = code_grant()
    try:
        authorize_request = parse_authorize_request(request.args.to_dict(flat=False))
    except AuthorizeRefused as exc:
        cli.audit_refusal("CreateAuthorizationCode", client_info(), exc)
        return _refused_page(exc)
    except AuthorizeRedirect as exc:
        cli.audit_refusal("CreateAuthorizationCode", client_info(), exc)
        return _see_other(exc.location())
    return _continue(cli.begin(authorize_request), after_sign_in=False)


@bp.get("/authorize/resume")
def resume() -> Response:
    return _continue(request.args.get("request"), after_sign_in=request.args.get("after") == AFTER_SIGN_IN)


def _continue(handle: str | None, after_sign_in: bool) -> Response:
    """Signed in through the right provider: the consent page. A GET never issues a code."""
    cli = code_grant()
    try:
        pending = cli.pending(handle)
    except AuthorizeRefused as exc:
        return _refused_page(exc)
    assert handle is not None
    token = session_cookie()
    loaded = cli.web_sign_in(token)
    wrong_provider = (
        loaded is not None
        and pending.provider is not None
        and not after_sign_in
        and not _provider_matches(pending.provider, loaded[1])
    )
    if loaded is None or wrong_provider:
        if after_sign_in:
            return _cookies_lost()
        return _sign_in(pending.provider, url_for("cli.resume", request=handle, after=AFTER_SIGN_IN))
    try:
        consent = cli.consent(handle, token, client_info())
    except AuthorizeRedirect as exc:
        return _see_other(exc.location())
    except AuthorizeRefused as exc:
        return _refused_page(exc)
    return _page("cli_authorize.html", consent=consent, **_consent_choices(consent))


def _consent_choices(consent: Consent) -> dict[str, Any]:
    """The role radios (or the one role the CLI named) and the durations the page offers."""
    sign_in = consent.sign_in
    fixed = consent.requested_role
    offers = [fixed] if fixed is not None else consent.offers
    # One role is preselected (the CLI's, or the only one); the person still has to click.
    preselected = fixed.role_arn if fixed is not None else None
    choices = _role_choice(offers, preselected, consent.requested_duration or sign_in.requested_duration)
    choices["sign_in"] = sign_in
    choices["csrf_token"] = consent.csrf_token  # the sign-out form's
    return choices


@bp.post("/authorize/resume")
def choose() -> Response:
    cli = code_grant()
    form = request.form
    token = session_cookie()
    client = client_info()
    try:
        if form.get("action") == "deny":
            location = cli.deny(form.get("request"), token, form.get("consent_token"), client)
        else:
            location = cli.grant_code(
                form.get("request"),
                token,
                form.get("consent_token"),
                form.get("role_arn", "")[:2048],
                _form_duration(cli, "CreateAuthorizationCode", client),
                client,
            )
    except AuthorizeRedirect as exc:
        location = exc.location()
    except AuthorizeRefused as exc:
        return _refused_page(exc)
    return _see_other(location)


def _role_choice(offers: list[RoleOffer], preselected: str | None, requested_duration: int | None) -> dict[str, Any]:
    if preselected is None and len(offers) == 1:
        preselected = offers[0].role_arn
    return {**role_form(offers, requested_duration), "preselected": preselected}


def _form_duration(
    cli: AuthorizationCodeGrant | DeviceAuthorizationGrant, event_name: str, client: ClientInfo
) -> int | None:
    """The duration a browser form chose; absent is None, anything but ASCII seconds in range is
    refused (a page's select never sends it) and audited."""
    try:
        return parse_duration(request.form.get("duration"))
    except OAuthError:
        refused = AuthorizeRefused("InvalidRequest", "The session duration on the form is not valid.")
        cli.audit_refusal(event_name, client, refused)
        raise refused from None


# --- token endpoint --------------------------------------------------------------------------------


@bp.post("/token")
def token() -> Response:
    form = request.form
    if any(len(values) > 1 for values in form.listvalues()):
        return _oauth_error(OAuthError("invalid_request", "a parameter is given more than once"))
    grant_type = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    client = client_info()
    try:
        if grant_type == GRANT_AUTHORIZATION_CODE:
            grant = code_grant().exchange_code(
                form.get("code", ""), form.get("code_verifier", ""), form.get("redirect_uri", ""), client_id, client
            )
        elif grant_type == GRANT_REFRESH_TOKEN:
            grant = refresh_grant().refresh(
                form.get("refresh_token", ""),
                form.get("role") or None,
                _duration_parameter("CreateToken", client),
                client_id,
                client,
            )
        elif grant_type == GRANT_DEVICE_CODE:
            grant = device_grant().poll_device(form.get("device_code", ""), client_id, client)
        elif not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type[:100]!r} is not supported")
    except OAuthError as exc:
        return _oauth_error(exc)
    settings = runtime().settings
    return _json(grant.to_json(settings.region, settings.base_url))


def _duration_parameter(event_name: str, client: ClientInfo) -> int | None:
    """The optional ``duration`` form parameter; a malformed one is an audited ``invalid_request``."""
    try:
        return parse_duration(request.form.get("duration"))
    except OAuthError as exc:
        refresh_grant().audit_refusal(event_name, client, exc, request_parameters={"duration": "(malformed)"})
        raise


@bp.get("/session")
def session_info() -> Response:
    """The CLI session behind a refresh handle (``Authorization: Bearer``): who, until when, which roles."""
    scheme, _, refresh_token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not refresh_token:
        return _oauth_error(OAuthError("invalid_request", "send the refresh handle as Authorization: Bearer", 401))
    try:
        view = refresh_grant().session_info(refresh_token.strip())
    except OAuthError as exc:
        return _oauth_error(exc)
    return _json(view.to_json())


@bp.post("/revoke")
def revoke() -> Response:
    try:
        refresh_grant().revoke(request.form.get("token", ""), request.form.get("client_id", ""), client_info())
    except OAuthError as exc:
        return _oauth_error(exc)
    return _json({})


# --- device authorization (RFC 8628) ---------------------------------------------------------------


@bp.post("/device")
def device_authorization() -> Response:
    form = request.form
    if any(len(values) > 1 for values in form.listvalues()):
        return _oauth_error(OAuthError("invalid_request", "a parameter is given more than once"))
    try:
        client = client_info()
        start = device_grant().start_device(
            form.get("client_id", ""),
            form.get("role") or None,
            _duration_parameter("StartDeviceAuthorization", client),
            client,
        )
    except OAuthError as exc:
        return _oauth_error(exc)
    user_code = display_user_code(start.user_code)
    verification_uri = f"{runtime().settings.base_url}/cli/device/verify"
    return _json(
        {
            "device_code": start.device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?{urlencode({'user_code': user_code})}",
            "expires_in": start.expires_in,
            "interval": start.interval,
        }
    )


# One character over what may be typed, so that a longer entry is refused rather than cut to a code.
_TYPED_MAX = MAX_TYPED_LENGTH + 1


@bp.get("/device/verify")
def device_verify() -> Response:
    user_code = request.args.get("user_code", "")[:_TYPED_MAX]
    loaded = device_grant().web_sign_in(session_cookie())
    if loaded is None:
        if request.args.get("after") == AFTER_SIGN_IN:
            return _cookies_lost()
        next_path = (
            url_for("cli.device_verify", user_code=user_code, after=AFTER_SIGN_IN)
            if user_code
            else url_for("cli.device_verify", after=AFTER_SIGN_IN)
        )
        return _sign_in(None, next_path)
    web, sign_in = loaded
    if not user_code or cross_site():
        # Another site's link or image only fills in the field (see sso_routes.device).
        return _code_form(sign_in, web.csrf_token, user_code)
    return _device_confirm(user_code, web.csrf_token, sign_in)


@bp.post("/device/verify")
def device_decide() -> Response:
    form = request.form
    user_code = form.get("user_code", "")[:_TYPED_MAX]
    cli = device_grant()
    loaded = cli.web_sign_in(session_cookie())
    if loaded is None:
        return error_page(
            "Sign-in expired",
            "Your sign-in has expired. Open the verification link again.",
            401,
            code="NoSession",
        )
    web, sign_in = loaded
    action = form.get("action", "")
    client = client_info()
    if action in ("approve", "deny"):
        try:
            view = cli.decide_device(
                user_code,
                session_cookie(),
                form.get("csrf_token"),
                action == "approve",
                form.get("role_arn") or None,
                _form_duration(cli, "ApproveDeviceAuthorization", client) if action == "approve" else None,
                client,
            )
        except AuthorizeRefused as exc:
            if exc.code in _CODE_REFUSALS:
                return _code_form(sign_in, web.csrf_token, user_code, exc)
            return refusal_page("Cannot complete the request", exc)
        return _page("cli_device_done.html", view=view, approved=action == "approve")
    if not web.csrf_matches(form.get("csrf_token")):
        refused = AuthorizeRefused("BadCsrf", "The form has expired. Enter the code again.", 403)
        cli.audit_refusal("VerifyUserCode", client, refused, actor=sign_in_actor(sign_in))
        return refusal_page("Form expired", refused)
    return _device_confirm(user_code, web.csrf_token, sign_in)


# Refusals of the code itself: the code form is shown again, with the reason and the status.
_CODE_REFUSALS = frozenset(
    {
        "UnknownUserCode",
        "MalformedUserCode",
        "ExpiredUserCode",
        "UsedUserCode",
        "LockedUserCode",
        "TooManyUserCodeAttempts",
    }
)


def _code_form(
    sign_in: SignIn, csrf_token: str, user_code: str = "", problem: AuthorizeRefused | None = None
) -> Response:
    return _page(
        "cli_device_code.html",
        problem.status if problem else 200,
        sign_in=sign_in,
        csrf_token=csrf_token,
        user_code=user_code,
        problem=problem.message if problem else None,
        problem_code=problem.code if problem else None,
    )


def _device_confirm(user_code: str, csrf_token: str, sign_in: SignIn) -> Response:
    try:
        view = device_grant().device_for_user_code(user_code, session_cookie(), client_info())
    except AuthorizeRefused as exc:
        if exc.code in _CODE_REFUSALS:
            return _code_form(sign_in, csrf_token, user_code, exc)
        return refusal_page("Cannot complete the request", exc)
    offers = sign_in.offers()
    requested = view.requested_role_arn if any(o.role_arn == view.requested_role_arn for o in offers) else None
    return _page(
        "cli_device_confirm.html",
        view=view,
        sign_in=sign_in,
        csrf_token=csrf_token,
        requested_elsewhere=view.requested_role_arn is not None and requested is None,
        minutes_left=max(0, int((view.expires_at - runtime().now()).total_seconds() // 60)),
        **_role_choice(offers, requested, view.requested_duration or sign_in.requested_duration),
    )
