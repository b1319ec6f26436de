"""Human pages and well-known documents: index, JWKS, health; the error page and role form they share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request

from broker.errors import BrokerError
from broker.services.federation import FederationService, RoleOffer, sign_in_choices
from broker.services.health import ReadinessProbe
from broker.web.aws import endpoint
from broker.web.protocol import csp_nonce, runtime, session_cookie

bp = Blueprint("pages", __name__)

# The session lengths a role form offers, up to the longest role's maximum.
_DURATION_STEPS = (900, 1800, 3600, 7200, 14400, 28800, 43200)
_DEFAULT_DURATION = 3600


def error_page(
    title: str, message: str, status: int, code: str | None = None, request_id: str | None = None
) -> Response:
    body = render_template("error.html", title=title, message=message, code=code, request_id=request_id or "")
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal_page(title: str, error: BrokerError, request_id: str | None = None) -> Response:
    """A refusal for a person: its message, code and status, as the error's type carries them."""
    return error_page(title, error.message, error.status, code=error.code, request_id=request_id)


def duration_choices(max_seconds: int, default: int) -> list[tuple[int, str]]:
    choices = [s for s in _DURATION_STEPS if s <= max_seconds]
    if default not in choices:
        choices.append(default)
    return [(s, f"{s // 3600} h" if s >= 3600 and s % 3600 == 0 else f"{s // 60} min") for s in sorted(choices)]


def role_form(offers: Sequence[RoleOffer], requested_duration: int | None) -> dict[str, Any]:
    """What a role-choice form shows: the offers grouped by account, and the durations to pick from."""
    grouped: dict[str, list[RoleOffer]] = defaultdict(list)
    for offer in offers:
        grouped[offer.account_id].append(offer)
    longest = max((o.max_session_duration for o in offers), default=_DEFAULT_DURATION)
    default = min(requested_duration or _DEFAULT_DURATION, longest)
    return {
        "offers": offers,
        "accounts": [(_account(grouped[a][0]), grouped[a]) for a in sorted(grouped)],
        "durations": duration_choices(longest, default),
        "default_duration": default,
    }


def _account(offer: RoleOffer) -> dict[str, str | None]:
    """How a role form names an account: its Organizations name and alias, when it has them, and its id."""
    return {"id": offer.account_id, "alias": offer.account_alias, "name": offer.account_name}


@bp.get("/")
def index() -> Response:
    if "Action" in request.args:  # a Query API call by GET (e.g. a presigned URL)
        return endpoint()
    rt = runtime()
    # Signed in already: home is the person's roles (the role form posts to /saml/roles).
    loaded = FederationService(rt).load_web_session(session_cookie())
    if loaded is not None:
        web, sign_in = loaded
        offers = sign_in.offers()
        body = render_template(
            "index.html",
            sign_in=sign_in,
            csrf_token=web.csrf_token,
            csp_nonce=csp_nonce(),
            **role_form(offers, sign_in.requested_duration),
        )
    else:
        body = render_template("index.html", providers=sign_in_choices(rt), sp_entity_id=rt.settings.sp_entity_id)
    response = make_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(runtime().keys.token_keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/healthz")
def health() -> Response:
    """Alive: answered from memory, no I/O (a container's liveness probe)."""
    # baseUrl: the CLI checks it is talking to the broker by the URL the broker knows itself by.
    response = jsonify({"status": "ok", "path": request.path, "baseUrl": runtime().settings.base_url})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
def ready() -> Response:
    """Ready for requests: 200, or 503 naming what is not (a load balancer's readiness probe)."""
    probe: ReadinessProbe = current_app.extensions["broker.readiness"]
    state = probe()
    response = jsonify({"status": "ready" if state.ready else "not ready", "checks": state.checks})
    response.status_code = 200 if state.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
