"""DEMO ONLY: a small SAML identity provider on pysaml2, mounted at /demo-idp when demo mode is on.

It exists so a newcomer can sign in within a minute of `make demo`. Users and passwords are
fixed and printed on its login page. It is never registered unless ``demo = true``, and the
settings refuse demo mode on anything but a loopback base URL.
"""

from __future__ import annotations

import base64
import secrets
import warnings
from dataclasses import dataclass
from functools import cached_property
from html import escape
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, make_response, request
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID

with warnings.catch_warnings():
    # pysaml2 touches cryptography's relocated CFB mode at import; harmless, and not ours.
    warnings.simplefilter("ignore")
    from saml2.server import Server

from broker.iam.constant_time import same_secret
from broker.saml.sp import entity_config
from broker.saml.xmldsig import XmlsecBindingsBackend

bp = Blueprint("demo_idp", __name__, url_prefix="/demo-idp")

DEMO_PROVIDER_NAME = "demo"


@dataclass(frozen=True)
class DemoUser:
    password: str
    display_name: str
    groups: tuple[str, ...]


DEMO_USERS: dict[str, DemoUser] = {
    "alice": DemoUser("alice-demo", "Alice Admin", ("admins", "developers")),
    "bob": DemoUser("bob-demo", "Bob Builder", ("developers",)),
    "carol": DemoUser("carol-demo", "Carol Contractor", ()),
}
_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class DemoIdp:
    def __init__(self, base_url: str, key_file: Path, cert_file: Path, sp_metadata_xml: str) -> None:
        self.base_url = base_url
        self.entity_id = f"{base_url}/demo-idp/metadata"
        self.key_file = key_file
        self.cert_file = cert_file
        self.sp_metadata_xml = sp_metadata_xml

    @cached_property
    def server(self) -> Server:
        config = entity_config(
            IdPConfig(),
            self.entity_id,
            key_file=str(self.key_file),
            cert_file=str(self.cert_file),
            metadata={"inline": [self.sp_metadata_xml]},
            service={
                "idp": {
                    "name": "Broker demo IdP (demo only)",
                    "endpoints": {"single_sign_on_service": [(f"{self.base_url}/demo-idp/sso", BINDING_HTTP_REDIRECT)]},
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                }
            },
        )
        server = Server(config=config)
        server.sec.crypto = XmlsecBindingsBackend()
        return server

    @cached_property
    def metadata_xml(self) -> str:
        from saml2.metadata import create_metadata_string

        xml = create_metadata_string(None, config=self.server.config, valid=None, sign=False)
        return xml.decode() if isinstance(xml, bytes) else xml

    def response_for(self, user_name: str, in_response_to: str | None, acs_url: str, sp_entity_id: str) -> str:
        user = DEMO_USERS[user_name]
        identity = {
            "uid": [user_name],
            "mail": [f"{user_name}@demo.example"],
            "displayName": [user.display_name],
            "groups": list(user.groups),
            "https://aws.amazon.com/SAML/Attributes/RoleSessionName": [user_name],
        }
        response = self.server.create_authn_response(
            identity,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=f"demo-{user_name}"),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                "authn_auth": self.entity_id,
            },
            sign_assertion=True,
            sign_response=True,
            sign_alg=_RSA_SHA256,
            digest_alg=_SHA256,
        )
        return base64.b64encode(str(response).encode()).decode()


def demo_idp() -> DemoIdp:
    idp: DemoIdp = current_app.extensions["broker.demo_idp"]
    return idp


def _page(body: str, status: int = 200) -> Response:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Demo IdP</title>"
        "<link rel='stylesheet' href='/static/broker.css'></head><body><header><strong>Demo identity "
        "provider</strong> <span class='badge'>demo only, never in production</span></header>"
        f"<main>{body}</main></body></html>"
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metadata")
def metadata() -> Response:
    response = make_response(demo_idp().metadata_xml)
    response.headers["Content-Type"] = "application/samlmetadata+xml"
    return response


def _login_form(request_id: str | None, relay_state: str | None, message: str = "") -> Response:
    users = "".join(
        f"<li><code>{escape(n)}</code> / <code>{escape(u.password)}</code> — groups: "
        f"{escape(', '.join(u.groups) or 'none')}</li>"
        for n, u in DEMO_USERS.items()
    )
    hidden = ""
    if request_id:
        hidden += f"<input type='hidden' name='request_id' value='{escape(request_id)}'>"
    if relay_state:
        hidden += f"<input type='hidden' name='RelayState' value='{escape(relay_state)}'>"
    error = f"<p role='alert' id='login-error'>{escape(message)}</p>" if message else ""
    return _page(
        f"<h1>Sign in to the demo IdP</h1>{error}<form method='post' action='/demo-idp/login' id='login-form'>"
        f"{hidden}<p><label for='username'>User name</label> <input id='username' name='username' "
        "autocomplete='username' required></p><p><label for='password'>Password</label> "
        "<input id='password' type='password' name='password' autocomplete='current-password' required></p>"
        f"<p><button type='submit'>Sign in</button></p></form><h2>Demo users</h2><ul>{users}</ul>"
    )


@bp.get("/sso")
def sso() -> Response:
    saml_request = request.args.get("SAMLRequest")
    if not saml_request:
        return _page("<h1>Missing SAMLRequest</h1>", 400)
    try:
        parsed = demo_idp().server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
    except Exception as exc:  # pysaml2 raises many types; the demo only reports them
        return _page(f"<h1>Bad AuthnRequest</h1><p>{escape(type(exc).__name__)}</p>", 400)
    return _login_form(parsed.message.id, request.args.get("RelayState"))


@bp.get("/initiate")
def initiate() -> Response:
    """IdP-initiated sign-in: the login form, then an unsolicited response."""
    return _login_form(None, request.args.get("RelayState"))


@bp.post("/login")
def login() -> Response:
    user_name = request.form.get("username", "")
    user = DEMO_USERS.get(user_name)
    supplied = request.form.get("password", "")
    if user is None or not same_secret(user.password, supplied):
        return _login_form(
            request.form.get("request_id"), request.form.get("RelayState"), "Unknown user name or wrong password."
        )
    settings = current_app.extensions["broker.runtime"].settings
    saml_response = demo_idp().response_for(
        user_name, request.form.get("request_id") or None, settings.acs_url, settings.sp_entity_id
    )
    relay = request.form.get("RelayState")
    relay_input = f"<input type='hidden' name='RelayState' value='{escape(relay)}'>" if relay else ""
    nonce = secrets.token_urlsafe(12)
    response = _page(
        "<h1>Signing you in</h1><p>Returning to the broker.</p>"
        f"<form method='post' action='{escape(settings.acs_url)}' id='saml-post'>"
        f"<input type='hidden' name='SAMLResponse' value='{saml_response}'>{relay_input}"
        "<noscript><button type='submit'>Continue</button></noscript></form>"
        f"<script nonce='{nonce}'>document.getElementById('saml-post').submit();</script>"
    )
    response.headers["Content-Security-Policy"] = f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self'"
    return response


def install(app: Flask, idp: DemoIdp) -> None:
    app.extensions["broker.demo_idp"] = idp
