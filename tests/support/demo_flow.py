"""Drive the bundled pysaml2 demo IdP through the Flask test client (no browser)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def _field(html: str, name: str) -> str:
    match = re.search(rf"name=['\"]{name}['\"] value=['\"]([^'\"]*)['\"]", html)
    if match is None:
        raise AssertionError(f"no {name} field in page: {html[:500]}")
    return unescape(match.group(1))


def demo_saml_response(
    client: FlaskClient, user: str, password: str, provider: str = "demo", next_path: str | None = None
) -> tuple[str, str | None]:
    """SP-initiated: /saml/login -> demo IdP -> (SAMLResponse, RelayState) the IdP would POST."""
    query = f"provider={provider}" + (f"&next={next_path}" if next_path else "")
    started = client.get(f"/saml/login?{query}")
    assert started.status_code == 302, started.text
    location = urlsplit(started.headers["Location"])
    form = client.get(f"{location.path}?{location.query}")
    assert form.status_code == 200, form.text
    data = {"username": user, "password": password, "request_id": _field(form.text, "request_id")}
    if "name='RelayState'" in form.text:
        data["RelayState"] = _field(form.text, "RelayState")
    posted = client.post("/demo-idp/login", data=data)
    assert posted.status_code == 200, posted.text
    relay = _field(posted.text, "RelayState") if "name='RelayState'" in posted.text else None
    return _field(posted.text, "SAMLResponse"), relay


def demo_sign_in(client: FlaskClient, user: str, password: str, **kwargs: str) -> TestResponse:
    saml_response, relay = demo_saml_response(client, user, password, **kwargs)
    data = {"SAMLResponse": saml_response}
    if relay:
        data["RelayState"] = relay
    return client.post("/saml/acs", data=data, follow_redirects=True)


def element_text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    if match is None:
        raise AssertionError(f"no element #{element_id}")
    return unescape(match.group(1)).strip()


def csrf_token(html: str) -> str:
    return _field(html, "csrf_token")
