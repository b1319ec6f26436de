"""What every route reads off a Flask request: the runtime, who is asking, the request as signed."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from flask import current_app, request

from broker.services.audit import ClientInfo
from broker.services.runtime import Runtime

# The browser's sign-in at the broker (set by the ACS, read by every page that needs the person).
SESSION_COOKIE = "broker_session"


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["broker.runtime"]
    return rt


def cookie_name(base: str, path: str = "/") -> str:
    """The name a broker cookie goes by. With secure cookies it carries a prefix the browser
    enforces: ``__Host-`` (Secure, ``Path=/``, no ``Domain``) for one scoped to the whole site,
    ``__Secure-`` for one scoped to a path. So a page on a sibling subdomain, which may set
    cookies for the parent domain, can neither set nor shadow them (session fixation, or a
    binding cookie of the attacker's own for a login CSRF). Browsers refuse both prefixes
    without ``Secure``, so on a plain-HTTP loopback the bare name is used."""
    if not runtime().settings.secure_cookies:
        return base
    return ("__Host-" if path == "/" else "__Secure-") + base


def session_cookie() -> str | None:
    """The value of this request's session cookie, if it sent one."""
    return request.cookies.get(cookie_name(SESSION_COOKIE))


def request_id() -> str:
    """This request's id: answered in ``X-Request-Id`` (and AWS's own places), logged and audited."""
    found: str | None = request.environ.get("broker.request_id")
    if found is None:
        found = request.environ["broker.request_id"] = str(uuid.uuid4())
    return found


def csp_nonce() -> str:
    """This response's script nonce, made when a page first asks for one. A response that never
    asks (every API answer) gets ``script-src 'none'`` and costs no random bytes."""
    found: str | None = request.environ.get("broker.csp_nonce")
    if found is None:
        found = request.environ["broker.csp_nonce"] = secrets.token_urlsafe(16)
    return found


def client_info() -> ClientInfo:
    return ClientInfo(
        source_ip=request.remote_addr, user_agent=request.headers.get("User-Agent"), request_id=request_id()
    )


def raw_path() -> str:
    """SigV4 signs the path as sent; werkzeug's request.path is already percent-decoded."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return request.path
    path = str(raw).split("?", 1)[0]
    if "://" in path:  # an absolute-form target (RFC 9112 3.2.2): the client signed its path alone
        path = urlsplit(path).path or "/"
    return path


def signed_headers() -> dict[str, str]:
    """The headers as SigV4 signs them: one sent more than once is its values joined by commas."""
    values: dict[str, list[str]] = {}
    names: list[str] = []
    for name, value in request.headers.items():  # one pass: getlist per name rescans them all
        values.setdefault(name.lower(), []).append(value)
        names.append(name)
    return {name: ",".join(values[name.lower()]) for name in names}


def cross_site() -> bool:
    """Whether the browser says another site made this request (``Sec-Fetch-Site``): an image, a
    form or a link on someone else's page. Typing or pasting the address, or following a link
    from a terminal, says ``none``; the broker's own pages say ``same-origin``. A client that
    sends no such header is taken at its word."""
    return request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site")
