"""A scripted browser (urllib + cookie jar) for the demo IdP: no Chromium, for fast CLI tests.

It follows redirects like a browser (including the final one to the CLI's loopback listener),
fills the demo IdP's login form, and answers the broker's CLI pages as told.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlencode, urljoin

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""(\w+)(?:=(?:"([^"]*)"|'([^']*)'))?""")


def inputs(html: str) -> list[dict[str, str]]:
    found = []
    for tag in _INPUT.findall(html):
        found.append(
            {
                m.group(1).lower(): unescape(m.group(2) if m.group(2) is not None else (m.group(3) or ""))
                for m in _ATTR.finditer(tag[len("<input") :])
            }
        )
    return found


def hidden_fields(html: str) -> dict[str, str]:
    return {i["name"]: i.get("value", "") for i in inputs(html) if i.get("type") == "hidden" and "name" in i}


def checked_role(html: str) -> str | None:
    """The role radio the page has checked, as a browser would submit it."""
    for radio in inputs(html):
        if radio.get("type") == "radio" and radio.get("name") == "role_arn" and "checked" in radio:
            return radio.get("value")
    return None


def consent_form(html: str) -> str:
    """The consent form alone (the page also has a sign-out form, with fields of its own)."""
    start = html.find('<form id="consent-form"')
    assert start >= 0, html[:500]
    return html[start : html.index("</form>", start)]


def selected_duration(html: str) -> str:
    """The duration the page preselects, as a browser would submit it."""
    match = re.search(r'<option value="(\d+)" selected>', html)
    return match.group(1) if match else ""


@dataclass
class Visit:
    status: int
    url: str
    body: str


@dataclass
class DemoBrowser:
    user: str = "bob"
    password: str = "bob-demo"
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)
    visits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, url: str, form: dict[str, str] | None = None) -> Visit:
        data = urlencode(form).encode() if form is not None else None
        self.visits.append(url)
        try:
            with self.opener.open(urllib.request.Request(url, data=data), timeout=30) as response:
                return Visit(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as exc:
            with exc:
                return Visit(exc.code, exc.url, exc.read().decode())

    def sign_in_if_asked(self, page: Visit) -> Visit:
        """On the demo IdP's form: sign in and post the response to the ACS, following redirects."""
        if "id='login-form'" not in page.body:
            return page
        fields = {**hidden_fields(page.body), "username": self.user, "password": self.password}
        posted = self.open(urljoin(page.url, "/demo-idp/login"), fields)
        action = re.search(r"<form method='post' action='([^']+)' id='saml-post'>", posted.body)
        assert action is not None, posted.body[:500]
        return self.open(unescape(action.group(1)), hidden_fields(posted.body))

    def authorize(self, url: str, role_arn: str | None = None, action: str = "approve") -> Visit:
        """Open a /cli/authorize URL, sign in, and on the consent page choose ``role_arn`` (or keep
        the role the page has checked) and press ``action`` (approve or deny)."""
        page = self.sign_in_if_asked(self.open(url))
        if 'id="consent-form"' in page.body:
            form = consent_form(page.body)
            fields = {**hidden_fields(form), "action": action, "duration": selected_duration(form)}
            chosen = role_arn or fields.get("role_arn") or checked_role(form)
            if chosen:
                fields["role_arn"] = chosen
            page = self.open(urljoin(page.url, "/cli/authorize/resume"), fields)
        return page

    def approve_device(
        self, verification_uri: str, user_code: str, role_arn: str | None = None, action: str = "approve"
    ) -> Visit:
        """Open the verification page, sign in, type the code, then approve (or deny)."""
        page = self.sign_in_if_asked(self.open(verification_uri))
        fields = {**hidden_fields(page.body), "user_code": user_code}
        page = self.open(urljoin(page.url, "/cli/device/verify"), fields)
        if page.status != 200:
            return page
        fields = {**hidden_fields(page.body), "action": action, "duration": selected_duration(page.body)}
        if role_arn:
            fields["role_arn"] = role_arn
        return self.open(urljoin(page.url, "/cli/device/verify"), fields)
