"""AWS SSO compatibility at the root of the base URL: the SSO-OIDC API, its browser pages, the
start page and the portal API, as stock AWS tools (botocore, boto3, the AWS CLI) call them.

Machine endpoints speak rest-json: camelCase bodies, errors with ``x-amzn-ErrorType`` and the
AWS shapes (:mod:`broker.services.sso.errors`). The portal's bearer token comes in the header
``x-amz-sso_bearer_token`` (an underscore: ``broker serve`` passes that one header on, see
:mod:`broker.web.request_reader`). Browser pages sign the person in through the normal SAML flow
and ask before anything is granted: a GET never issues a code or approves a device.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for

from broker.errors import BrokerError
from broker.services.cli_auth.user_codes import MAX_TYPED_LENGTH
from broker.services.ratelimit import Throttled
from broker.services.sso import (
    AuthorizeRedirect,
    Consent,
    OidcError,
    PageRefused,
    PortalError,
    SsoOidc,
    SsoPortal,
    role_credentials_json,
)
from broker.services.sso import errors as sso_errors
from broker.web.cli_routes import AFTER_SIGN_IN, _cookies_lost, _sign_in
from broker.web.pages import refusal_page
from broker.web.protocol import client_info, cross_site, csp_nonce, runtime, session_cookie

bp = Blueprint("sso", __name__)

BEARER_HEADER = "x-amz-sso_bearer_token"
# The endpoints that answer AWS JSON (the rest are pages in a browser).
PORTAL_ENDPOINTS = frozenset({"sso.role_credentials", "sso.accounts", "sso.account_roles", "sso.logout"})
OIDC_ENDPOINTS = frozenset({"sso.register_client", "sso.device_authorization", "sso.token"})
_TYPED_MAX = MAX_TYPED_LENGTH + 1


def oidc() -> SsoOidc:
    return SsoOidc(runtime())


def portal() -> SsoPortal:
    return SsoPortal(runtime())


def _aws_json(body: dict[str, Any], status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _aws_error(error: BrokerError) -> Response:
    body = error.to_json() if isinstance(error, OidcError | PortalError) else {"message": error.message}
    response = _aws_json(body, error.status)
    response.headers["x-amzn-ErrorType"] = error.code
    return response


def throttled(refusal: Throttled) -> Response:
    """A request over its address's budget, in the API's own shape (Retry-After is added by the caller)."""
    wait = refusal.retry_after_seconds
    error: BrokerError
    if request.endpoint in OIDC_ENDPOINTS:
        error = sso_errors.SlowDown(f"Too many requests; retry in {wait} s.")
    else:
        error = sso_errors.TooManyRequests(f"Too many requests; retry in {wait} s.")
    return _aws_error(error)


def _json_body(event_name: str) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting past Python's depth
        body = None
    if not isinstance(body, dict):
        refused = sso_errors.InvalidRequest("the body must be a JSON object")
        oidc().audit_refusal(event_name, client_info(), refused)
        raise refused
    return body


def _page(template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("csp_nonce", csp_nonce())
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _found(location: str) -> Response:
    response = redirect(location, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]


# --- SSO-OIDC: machine endpoints ------------------------------------------------------------------


@bp.post("/client/register")
def register_client() -> Response:
    try:
        registration = oidc().register_client(_json_body("RegisterClient"), client_info())
    except OidcError as exc:
        return _aws_error(exc)
    return _aws_json(registration.to_json())


@bp.post("/device_authorization")
def device_authorization() -> Response:
    try:
        start = oidc().start_device(_json_body("StartDeviceAuthorization"), client_info())
    except OidcError as exc:
        return _aws_error(exc)
    user_code = start.user_code[:4] + "-" + start.user_code[4:]
    verification_uri = f"{runtime().settings.base_url}/device"
    return _aws_json(
        {
            "deviceCode": start.device_code,
            "userCode": user_code,
            "verificationUri": verification_uri,
            "verificationUriComplete": f"{verification_uri}?{urlencode({'user_code': user_code})}",
            "expiresIn": start.expires_in,
            "interval": start.interval,
        }
    )


@bp.post("/token")
def token() -> Response:
    try:
        tokens = oidc().create_token(_json_body("CreateToken"), client_info())
    except OidcError as exc:
        return _aws_error(exc)
    return _aws_json(tokens.to_json())


# --- SSO-OIDC: the browser's /authorize and its consent page ------------------------------------------


@bp.get("/authorize")
def authorize() -> Response:
    try:
        handle = oidc().begin_authorize(request.args.to_dict(flat=False), client_info())
    except PageRefused as exc:
        return refusal_page("Cannot sign in the AWS tool", exc)
    except AuthorizeRedirect as exc:
        return _found(exc.location)
    return _continue(handle, after_sign_in=False)


@bp.get("/authorize/resume")
def authorize_resume() -> Response:
    return _continue(request.args.get("request"), after_sign_in=request.args.get("after") == AFTER_SIGN_IN)


def _continue(handle: str | None, *, after_sign_in: bool) -> Response:
    token = session_cookie()
    service = oidc()
    if service.federation.load_web_session(token) is None:
        if after_sign_in:
            return _cookies_lost()
        return _sign_in(None, url_for("sso.authorize_resume", request=handle or "", after=AFTER_SIGN_IN))
    try:
        consent = service.authorize_consent(handle, token)
    except PageRefused as exc:
        return refusal_page("Cannot sign in the AWS tool", exc)
    return _page("sso_consent.html", consent=consent, action=url_for("sso.authorize_decide"), **_shown(consent))


@bp.post("/authorize/resume")
def authorize_decide() -> Response:
    form = request.form
    try:
        location = oidc().decide_authorize(
            form.get("request"),
            session_cookie(),
            form.get("consent_token"),
            form.get("action") == "approve",
            client_info(),
        )
    except PageRefused as exc:
        return refusal_page("Cannot sign in the AWS tool", exc)
    return _found(location)


def _shown(consent: Consent) -> dict[str, Any]:
    accounts: dict[str, list[Any]] = {}
    for offer in consent.offers:
        accounts.setdefault(offer.account_id, []).append(offer)
    return {"accounts": sorted(accounts.items()), "sign_in": consent.sign_in, "csrf_token": consent.csrf_token}


# --- the device page --------------------------------------------------------------------------------


@bp.get("/device")
def device() -> Response:
    user_code = request.args.get("user_code", "")[:_TYPED_MAX]
    token = session_cookie()
    loaded = oidc().federation.load_web_session(token)
    if loaded is None:
        if request.args.get("after") == AFTER_SIGN_IN:
            return _cookies_lost()
        return _sign_in(None, url_for("sso.device", user_code=user_code, after=AFTER_SIGN_IN))
    if not user_code or cross_site():
        # Another site's link or image only fills in the field: a code is looked up (and a wrong
        # one counted against this browser and its address) only when the person sends it.
        web, sign_in = loaded
        shown: dict[str, Any] = {"csrf_token": web.csrf_token, "sign_in": sign_in, "user_code": user_code}
        return _page("sso_device_code.html", problem=None, **shown)
    return _device_consent(user_code, token)


def _device_consent(user_code: str, token: str | None) -> Response:
    try:
        consent = oidc().device_consent(user_code, token, client_info())
    except PageRefused as exc:
        return _device_refused(exc, token)
    return _page("sso_consent.html", consent=consent, action=url_for("sso.device_decide"), **_shown(consent))


def _device_refused(exc: PageRefused, token: str | None) -> Response:
    loaded = oidc().federation.load_web_session(token)
    if loaded is None or exc.code == "NoSession":
        return refusal_page("Cannot complete the request", exc)
    return _page(
        "sso_device_code.html",
        exc.status,
        csrf_token=loaded[0].csrf_token,
        sign_in=loaded[1],
        problem=exc.message,
        problem_code=exc.code,
        user_code=request.values.get("user_code", "")[:64],  # kept in the field, to correct it
    )


@bp.post("/device")
def device_decide() -> Response:
    form = request.form
    user_code = form.get("user_code", "")[:_TYPED_MAX]
    token = session_cookie()
    action = form.get("action", "")
    if action not in ("approve", "deny"):
        if cross_site():
            return device()
        return _device_consent(user_code, token)
    try:
        approved = oidc().decide_device(
            user_code, token, form.get("csrf_token"), form.get("consent_token"), action == "approve", client_info()
        )
    except PageRefused as exc:
        return _device_refused(exc, token)
    return _page("sso_done.html", approved=approved)


# --- the start URL ------------------------------------------------------------------------------------


@bp.get("/start")
@bp.get("/start/")
def start() -> Response:
    """The SSO start URL: the person's accounts and roles once signed in, a sign-in link otherwise."""
    rt = runtime()
    view = oidc().start_page(session_cookie())
    grouped: dict[str, list[Any]] = {}
    for offer in view[2] if view else []:
        grouped.setdefault(offer.account_id, []).append(offer)
    return _page(
        "sso_start.html",
        signed_in=view is not None,
        sign_in=view[1] if view else None,
        csrf_token=view[0].csrf_token if view else None,
        accounts=sorted(grouped.items()),
        start_url=f"{rt.settings.base_url}/start",
        region=rt.settings.region,
        base_url=rt.settings.base_url,
    )


@bp.get("/start/signin")
def start_sign_in() -> Response:
    return _sign_in(None, url_for("sso.start"))


# --- the portal API -------------------------------------------------------------------------------------


def _bearer() -> str | None:
    return request.headers.get(BEARER_HEADER)


@bp.get("/federation/credentials")
def role_credentials() -> Response:
    args = request.args
    try:
        credentials = portal().get_role_credentials(
            _bearer(), args.get("role_name"), args.get("account_id"), client_info()
        )
    except PortalError as exc:
        return _aws_error(exc)
    return _aws_json(role_credentials_json(credentials))


@bp.get("/assignment/accounts")
def accounts() -> Response:
    args = request.args
    try:
        page = portal().list_accounts(_bearer(), args.get("next_token"), args.get("max_result"), client_info())
    except PortalError as exc:
        return _aws_error(exc)
    body: dict[str, Any] = {"accountList": page.items}
    if page.next_token:
        body["nextToken"] = page.next_token
    return _aws_json(body)


@bp.get("/assignment/roles")
def account_roles() -> Response:
    args = request.args
    try:
        page = portal().list_account_roles(
            _bearer(), args.get("account_id"), args.get("next_token"), args.get("max_result"), client_info()
        )
    except PortalError as exc:
        return _aws_error(exc)
    body: dict[str, Any] = {"roleList": page.items}
    if page.next_token:
        body["nextToken"] = page.next_token
    return _aws_json(body)


@bp.post("/logout")
def logout() -> Response:
    try:
        portal().logout(_bearer(), client_info())
    except PortalError as exc:
        return _aws_error(exc)
    return _aws_json({})
