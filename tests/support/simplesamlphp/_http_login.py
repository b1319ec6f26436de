"""Log in at SimpleSAMLphp over plain HTTP (stdlib only) and capture the SAMLResponse form.

What a browser does, minus the browser: follow redirects to the login page, post the
`exampleauth:UserPass` form (its hidden `AuthState` included), and read the hidden inputs of
the auto-submitting page SimpleSAMLphp renders for the HTTP-POST binding.
"""

from __future__ import annotations

import base64
import http.cookiejar
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin


class IdpLoginError(RuntimeError):
    """The IdP did not produce a SAMLResponse; the message carries the page and the IdP log."""


@dataclass(frozen=True)
class SamlPostForm:
    """The form SimpleSAMLphp's post page would auto-submit to the SP's ACS."""

    action: str  # the ACS URL the browser would POST to
    saml_response: str  # base64, exactly as posted
    relay_state: str | None
    fields: Mapping[str, str]  # every field of the form, SAMLResponse and RelayState included

    def response_xml(self) -> bytes:
        """The decoded `samlp:Response` document."""
        return base64.b64decode(self.saml_response)

    def form_body(self) -> bytes:
        """The `application/x-www-form-urlencoded` body the browser would send."""
        return urlencode(dict(self.fields)).encode()


@dataclass
class _Form:
    action: str
    method: str
    inputs: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)

    def has_input(self, name: str) -> bool:
        return any(input_name == name for _, input_name, _ in self.inputs)

    def hidden_fields(self) -> dict[str, str]:
        return {name: value for kind, name, value in self.inputs if kind == "hidden" and name}


class _PageParser(HTMLParser):
    """Forms with their inputs, plus the page's visible text for error messages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._text: list[str] = []
        self._skip_depth = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("script", "style"):
            self._skip_depth += 1
        elif tag == "form":
            self.forms.append(_Form(attributes.get("action", ""), attributes.get("method", "get").lower()))
        elif tag == "input" and self.forms:
            self.forms[-1].inputs.append(
                (
                    attributes.get("type", "text").lower(),
                    attributes.get("name", ""),
                    attributes.get("value", ""),
                )
            )

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth and data.strip():
            self._text.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " ".join(self._text)


def http_login(
    start_url: str,
    username: str,
    password: str,
    *,
    cookie_jar: http.cookiejar.CookieJar | None = None,
    diagnostics: Callable[[], str] | None = None,
    timeout: float = 15.0,
    max_steps: int = 6,
) -> SamlPostForm:
    """Follow `start_url` to the login form, sign in, and return the form bound for the ACS.

    With an existing IdP session in `cookie_jar` there is no login form and the post page comes
    straight back. Raises `IdpLoginError` if the credentials are refused or any other page shows up.
    """
    jar = cookie_jar if cookie_jar is not None else http.cookiejar.CookieJar()
    # ProxyHandler({}) so an http_proxy in the environment never sees loopback traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
    url, body = start_url, None
    credentials_sent = False
    for _ in range(max_steps):
        status, final_url, html = _fetch(opener, url, body, timeout)
        page = _PageParser()
        page.feed(html)
        page.close()
        post_form = next((form for form in page.forms if form.has_input("SAMLResponse")), None)
        if post_form is not None:
            fields = post_form.hidden_fields()
            return SamlPostForm(
                action=urljoin(final_url, post_form.action),
                saml_response=fields["SAMLResponse"],
                relay_state=fields.get("RelayState"),
                fields=fields,
            )
        login_form = next((form for form in page.forms if form.has_input("password")), None)
        if login_form is None:
            raise IdpLoginError(_failure(f"unexpected page (HTTP {status}) at {final_url}", page, diagnostics))
        if credentials_sent:
            raise IdpLoginError(_failure(f"the IdP refused the credentials of {username!r}", page, diagnostics))
        fields = login_form.hidden_fields()
        fields.update(username=username, password=password)
        # The form's action is "?": the same script, with AuthState carried as a hidden input.
        url, body = urljoin(final_url, login_form.action), urlencode(fields).encode()
        credentials_sent = True
    raise IdpLoginError(_failure(f"no SAMLResponse after {max_steps} pages", None, diagnostics))


def _fetch(opener: urllib.request.OpenerDirector, url: str, body: bytes | None, timeout: float) -> tuple[int, str, str]:
    request = urllib.request.Request(url, data=body)  # data makes it a form POST
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.geturl(), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:  # SimpleSAMLphp error pages come with 4xx/5xx
        with error:
            return error.code, error.geturl() or url, error.read().decode("utf-8", "replace")


def _failure(summary: str, page: _PageParser | None, diagnostics: Callable[[], str] | None) -> str:
    parts = [summary]
    if page is not None and page.text:
        parts.append("page text: " + page.text[:1500])
    if diagnostics is not None:
        parts.append(diagnostics())
    return "\n".join(parts)
