"""Human pages and well-known documents: index, JWKS, health."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, make_response, render_template, request

from broker.store import repositories as repo

bp = Blueprint("pages", __name__)


def error_page(
    title: str, message: str, status: int, code: str | None = None, request_id: str | None = None
) -> Response:
    body = render_template("error.html", title=title, message=message, code=code, request_id=request_id or "")
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index() -> Response:
    from broker.web.aws import endpoint
    from broker.web.protocol import runtime

    if "Action" in request.args:  # a Query API call by GET (e.g. a presigned URL)
        return endpoint()
    rt = runtime()
    with rt.db.transaction() as session:
        providers = [
            {"name": p.name, "account_id": p.account_id, "reference": f"{p.account_id}/{p.name}"}
            for p in repo.list_providers(session)
        ]
    return make_response(render_template("index.html", providers=providers, sp_entity_id=rt.settings.sp_entity_id))


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    from broker.web.protocol import runtime

    response = jsonify(runtime().keys.token_keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/healthz")
def health() -> Response:
    return jsonify({"status": "ok", "path": request.path})
