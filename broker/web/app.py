"""Flask application factory."""

from __future__ import annotations

import json
import logging
import time
import uuid
from functools import cached_property
from urllib.parse import parse_qsl

from flask import Flask, Request, Response, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from broker.iam.errors import AwsError
from broker.services import metrics
from broker.services.health import ReadinessProbe
from broker.services.ratelimit import Throttled
from broker.services.ratelimit.refusals import admit_client
from broker.services.runtime import Runtime
from broker.settings import Settings, load_settings
from broker.web import aws, cli_routes, decisions, ops, pages, saml_routes, sso_routes
from broker.web.protocol import client_info, request_id

access_log = logging.getLogger("broker.access")
log = logging.getLogger("broker.web")


def _aws_error(error: AwsError, request_id: str, status: int) -> Response:
    """An AWS error raised outside the pipeline, in the protocol the request spoke."""
    response = aws.render_error(aws.request_protocol(), error, request_id)
    response.status_code = status
    return response


def _address_bucket() -> str | None:
    """The per-address bucket of the request being answered, by the route it reached."""
    blueprint, endpoint = request.blueprint, request.endpoint
    if endpoint == "aws.endpoint" or (endpoint == "pages.index" and "Action" in request.args):
        return "aws"
    if blueprint == "saml" and endpoint != "saml.metadata":
        return "saml"
    if blueprint in ("cli", "decisions"):
        return blueprint
    if blueprint == "sso":
        return "cli"  # the SSO sign-in and portal share the CLI sign-in's budget
    return None


# The CLI's machine endpoints answer OAuth JSON; its other routes are pages in a browser.
_OAUTH_ENDPOINTS = frozenset({"cli.token", "cli.device_authorization", "cli.session", "cli.revoke"})


def _throttled(bucket: str, refusal: Throttled, request_id: str) -> Response:
    """A refused request, in the shape its route answers in, with ``Retry-After``."""
    wait = refusal.retry_after_seconds
    if bucket == "aws":
        response = _aws_error(refusal, request_id, refusal.status)
    elif bucket == "decisions":
        response = decisions.throttled(refusal, request_id)
    elif request.endpoint in sso_routes.PORTAL_ENDPOINTS or request.endpoint in sso_routes.OIDC_ENDPOINTS:
        response = sso_routes.throttled(refusal)
    elif request.endpoint in _OAUTH_ENDPOINTS:
        # RFC 8628's slow_down, which the device flow's poller already obeys.
        body = {"error": "slow_down", "error_description": f"Too many requests; retry in {wait} s."}
        response = Response(json.dumps(body), status=429, content_type="application/json")
        response.headers["Cache-Control"] = "no-store"
    else:
        response = pages.error_page(
            "Too many requests",
            f"Too many requests came from your network address. Wait {wait} seconds and try again.",
            429,
            code=refusal.code,
            request_id=request_id,
        )
    response.headers["Retry-After"] = str(wait)
    return response


class BrokerRequest(Request):
    """Flask's request, reading a query string that is not UTF-8 as text with U+FFFD in place of
    the bad bytes (werkzeug decodes it strictly, and a stray byte became a 500 on every page)."""

    @cached_property
    def args(self) -> MultiDict[str, str]:
        return self.parameter_storage_class(
            parse_qsl(self.query_string.decode("utf-8", "replace"), keep_blank_values=True, errors="replace")
        )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    if runtime is None:
        runtime = Runtime.from_settings(settings or load_settings())
    app = Flask(__name__)
    app.request_class = BrokerRequest
    app.config.update(
        MAX_CONTENT_LENGTH=max(runtime.settings.max_request_bytes, runtime.settings.saml_max_response_bytes + 8192),
        MAX_FORM_MEMORY_SIZE=max(runtime.settings.max_request_bytes, runtime.settings.saml_max_response_bytes + 8192),
        JSON_SORT_KEYS=False,
    )
    app.extensions["broker.runtime"] = runtime
    app.extensions["broker.readiness"] = ReadinessProbe(runtime)  # /readyz reuses an answer for a second
    hops = runtime.settings.trusted_proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.register_blueprint(aws.bp)
    app.register_blueprint(saml_routes.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(decisions.bp)
    app.register_blueprint(cli_routes.bp)
    app.register_blueprint(sso_routes.bp)
    if runtime.settings.metrics_enabled:
        app.register_blueprint(ops.bp)
    if runtime.settings.demo:
        # Demo only: the bundled IdP is mounted nowhere else (settings refuse demo off loopback).
        from broker.demo.idp import bp as demo_bp
        from broker.demo.idp import install
        from broker.demo.setup import demo_idp

        install(app, demo_idp(runtime))
        app.register_blueprint(demo_bp)

    @app.context_processor
    def _globals() -> dict[str, object]:
        return {"demo": runtime.settings.demo}

    @app.before_request
    def _started() -> None:
        request.environ["broker.started"] = time.perf_counter()

    @app.before_request
    def _rate_limit() -> Response | None:
        # The per-address budgets, in one place for every route; the per-principal and MFA
        # budgets are charged after authentication, in the services.
        if not runtime.rate_limiter.enabled:
            return None
        bucket = _address_bucket()
        if bucket is None:
            return None
        client = client_info()
        refusal = admit_client(runtime, bucket, client, request.method, request.path)
        if refusal is None:
            return None
        if bucket == "aws":
            request.environ["broker.error_code"] = refusal.code  # for the metrics
        return _throttled(bucket, refusal, client.request_id)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        nonce = request.environ.get("broker.csp_nonce")  # made only by a page that runs a script
        scripts = f"'nonce-{nonce}'" if nonce else "'none'"
        # form-action stays open: the demo IdP and real IdPs receive the AuthnRequest flow by
        # redirect, and the IdP's own auto-POST page is not ours.
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if runtime.settings.secure_cookies:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        response.headers.setdefault("X-Request-Id", request_id())
        if runtime.settings.access_log:
            _log_request(response)
        return response

    @app.after_request
    def _count(response: Response) -> Response:
        environ = request.environ
        started = environ.get("broker.started")
        if started is not None:
            metrics.observe_request(
                request.endpoint, request.method, response.status_code, time.perf_counter() - started
            )
        if "broker.error_code" in environ:  # an AWS call, answered by aws.render or refused before it
            metrics.count_aws_call(environ.get("broker.action"), environ["broker.error_code"])
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        if request.path == "/":
            error = AwsError("InvalidParameterValue", "Request body is too large.")
            request.environ["broker.error_code"] = error.code  # for the metrics
            return _aws_error(error, str(uuid.uuid4()), 413)
        return pages.error_page(
            "Request too large", "The request is larger than this broker accepts.", 413, code="MessageTooLarge"
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return pages.error_page(exc.name, exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        failed = request_id()
        log.exception("unhandled error (request %s)", failed)
        if request.path == "/" and request.method == "POST":
            return _aws_error(AwsError("InternalFailure"), failed, 500)
        return pages.error_page(
            "Something went wrong",
            "The broker could not complete this request.",
            500,
            code="InternalFailure",
            request_id=failed,
        )

    return app


def _log_request(response: Response) -> None:
    """One line per request on ``broker.access`` (its fields are the JSON log's, see broker.logs)."""
    started = request.environ.get("broker.started")
    latency = (time.perf_counter() - started) * 1000 if started is not None else None
    fields = {
        "requestId": request_id(),
        "method": request.method,
        "path": request.path[:256],
        "status": response.status_code,
        "latencyMs": round(latency, 2) if latency is not None else None,
        "sourceIp": request.remote_addr,
        "userAgent": (request.headers.get("User-Agent") or "")[:200] or None,
        "action": request.environ.get("broker.action"),
        "principal": request.environ.get("broker.principal"),
    }
    access_log.log(
        logging.DEBUG if request.endpoint == "ops.scrape" else logging.INFO,  # scrapes: every few seconds
        "%s %s %s %s ms %s",
        fields["method"],
        fields["path"],
        fields["status"],
        fields["latencyMs"],
        fields["requestId"],
        extra={"fields": fields},
    )
