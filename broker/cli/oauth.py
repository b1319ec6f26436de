"""The CLI side of the broker's sign-in protocols.

- Browser redirect (RFC 8252 + RFC 7636): a one-shot HTTP listener on 127.0.0.1 with a random
  port (loopback.py) receives ``code`` and ``state``; the code is exchanged with its PKCE verifier
  before the browser is told the CLI has the credentials.
- Device authorization (RFC 8628): a user code for any browser, polled at the broker's interval.
- Refresh: credentials for any role of the broker session, without a browser.

Every broker answer is checked against the local clock (the ``Date`` header): credentials that
look expired, or not yet valid, to a skewed clock are a confusing failure better named at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import http.client
import json
import platform
import secrets
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from broker.cli.errors import BrokerError
from broker.cli.errors import TokenError as TokenError  # where callers have always caught it
from broker.cli.loopback import LoopbackServer, wait_for_browser
from broker.cli.waiting import Progress
from broker.client import transport

CLIENT_ID = "broker-cli"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# Beyond this, SigV4 and expiry arithmetic go wrong in ways that are hard to recognise.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
HTTP_TIMEOUT = 30.0
MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = f"broker-cli/0.1 python/{platform.python_version()}"


def new_code_verifier() -> str:
    """RFC 7636 section 4.1: 86 characters of the unreserved alphabet (512 bits of randomness)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- HTTP -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class BrokerHttp:
    """JSON over HTTP(S) with one broker; failures become one clear line."""

    def __init__(self, url: str, timeout: float = HTTP_TIMEOUT, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def post_form(self, path: str, fields: dict[str, str | None]) -> Answer:
        body = urlencode({k: v for k, v in fields.items() if v is not None}).encode()
        return self.send("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.send("GET", path, None, headers or {})

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        status, raw = self.raw(method, path, body, {"Accept": "application/json", **headers})
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise BrokerError(
                f"the broker at {self.url} answered HTTP {status} without JSON; is that the broker's URL?"
            )
        return Answer(status, document)

    def raw(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """One exchange, any status; redirects are not followed, the clock is checked."""
        url = self.url + path
        request = urllib.request.Request(  # noqa: S310  (the URL was checked to be http(s))
            url, data=body, method=method, headers={"User-Agent": USER_AGENT, **headers}
        )
        try:
            with transport.OPENER.open(request, timeout=self.timeout) as response:
                self.check_clock(response.headers.get("Date"))
                return response.status, response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            with exc:
                self.check_clock(exc.headers.get("Date"))
                return exc.code, exc.read(MAX_RESPONSE_BYTES)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise BrokerError(f"cannot reach the broker at {self.url}: {reason}") from None

    def check_clock(self, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            theirs = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if theirs.tzinfo is None:
            return
        skew = self.clock() - theirs
        if abs(skew) > MAX_CLOCK_SKEW:
            direction = "ahead of" if skew > dt.timedelta(0) else "behind"
            raise BrokerError(
                f"this computer's clock is {abs(int(skew.total_seconds()))} s {direction} the broker's "
                f"({self.url}); credentials would look expired or not yet valid. Set the clock right (NTP) and retry"
            )

    def check_reachable(self) -> None:
        """GET /healthz: is the broker there, does it know itself by this URL, and does our clock
        agree with its?"""
        answer = self.get("/healthz")
        if answer.status != 200 or answer.body.get("status") != "ok":
            raise BrokerError(f"the broker at {self.url} is not healthy (HTTP {answer.status})")
        public = answer.body.get("baseUrl")
        if isinstance(public, str) and _origin(public) != _origin(self.url):
            # Sign-in sends the browser to the broker's base_url: from another URL it never comes back.
            raise BrokerError(
                f"the broker at {self.url} knows itself as {public} (its base_url), and sign-in would send "
                f"your browser there; use --url {public}, or set the broker's base_url to {self.url}"
            )

    def token(self, fields: dict[str, str | None]) -> dict[str, Any]:
        answer = self.post_form("/cli/token", {"client_id": CLIENT_ID, **fields})
        if answer.status == 200 and "AccessKeyId" in answer.body:
            return answer.body
        raise _token_error(answer, self.url)


def _token_error(answer: Answer, url: str) -> TokenError:
    error = str(answer.body.get("error") or f"http_{answer.status}")
    description = str(answer.body.get("error_description") or f"the broker at {url} answered HTTP {answer.status}")
    return TokenError(error, description)


# --- refresh, session, revoke -------------------------------------------------------------------------


def refresh(broker: BrokerHttp, refresh_token: str, role_arn: str | None, duration: int | None) -> dict[str, Any]:
    return broker.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "role": role_arn,
            "duration": str(duration) if duration else None,
        }
    )


def session_info(broker: BrokerHttp, refresh_token: str) -> dict[str, Any]:
    """The broker session's subject and ``Roles``, each role an object (checked here once, for the
    role prompt and `broker roles` alike)."""
    answer = broker.get("/cli/session", {"Authorization": f"Bearer {refresh_token}"})
    if answer.status != 200:
        raise _token_error(answer, broker.url)
    roles = answer.body.get("Roles") or []
    if not isinstance(roles, list) or not all(_readable_role(role) for role in roles):
        raise BrokerError(f"the broker at {broker.url} listed the session's roles in a form this CLI cannot read")
    return {**answer.body, "Roles": roles}


def _readable_role(role: object) -> bool:
    if not isinstance(role, dict) or not isinstance(role.get("RoleArn"), str):
        return False
    duration = role.get("MaxSessionDuration")
    return duration is None or (isinstance(duration, int) and not isinstance(duration, bool))


def revoke(broker: BrokerHttp, refresh_token: str) -> None:
    answer = broker.post_form("/cli/revoke", {"token": refresh_token, "client_id": CLIENT_ID})
    if answer.status != 200:
        raise _token_error(answer, broker.url)


# --- browser redirect -------------------------------------------------------------------------------


def browser_login(
    broker: BrokerHttp,
    *,
    role_arn: str | None,
    duration: int | None,
    provider: str | None,
    open_browser: bool,
    timeout: float,
    say: Callable[[str], None],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Authorization code + PKCE through the system browser; the token response."""
    verifier = new_code_verifier()
    state = secrets.token_urlsafe(24)
    holder: dict[str, str] = {}

    def exchange(code: str) -> dict[str, Any]:
        return broker.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": holder["redirect_uri"],
            }
        )

    server = LoopbackServer(state, exchange)
    holder["redirect_uri"] = server.redirect_uri
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": server.redirect_uri,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
        "state": state,
    }
    for name, value in (("role", role_arn), ("duration", str(duration) if duration else None), ("provider", provider)):
        if value:
            query[name] = value
    url = f"{broker.url}/cli/authorize?{urlencode(query)}"
    server.start()
    try:
        opened = False
        if open_browser:
            try:
                opened = webbrowser.open(url)
            except webbrowser.Error:
                opened = False
        if opened:
            say("Opened your browser to sign in. If it did not open, visit this URL:")
        else:
            say("Open this URL in a browser on this computer to sign in:")
        say(f"  {url}")
        listener = urlsplit(server.redirect_uri)
        say(
            f"Then press Allow on the broker's page if it names {listener.hostname}:{listener.port}, "
            "where this command waits."
        )
        say(f"Waiting up to {int(timeout)} s for the browser...")
        if not wait_for_browser(server.finished, timeout, progress):
            raise BrokerError(
                f"the browser did not come back within {int(timeout)} s. Run `broker login` again and open the URL "
                "it prints (or use --device where this computer's browser cannot reach 127.0.0.1)"
            )
    finally:
        server.close()
    if server.outcome.error is not None:
        raise server.outcome.error
    if server.outcome.body is None:
        raise BrokerError("the browser came back but no credentials were received; run `broker login` again")
    return server.outcome.body


# --- device authorization ---------------------------------------------------------------------------


def device_login(
    broker: BrokerHttp,
    *,
    role_arn: str | None,
    duration: int | None,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """RFC 8628: show a user code, poll until approved, denied or expired; the token response."""
    answer = broker.post_form(
        "/cli/device",
        {"client_id": CLIENT_ID, "role": role_arn, "duration": str(duration) if duration else None},
    )
    start = answer.body
    if answer.status != 200 or "device_code" not in start:
        raise _token_error(answer, broker.url)
    try:
        device_code = str(start["device_code"])
        user_code = str(start["user_code"])
        verification_uri = str(start["verification_uri"])
        complete = str(start.get("verification_uri_complete") or verification_uri)
        interval = max(1, int(start.get("interval", 5)))
        expires_in = int(start["expires_in"])
    except (KeyError, TypeError, ValueError):
        raise BrokerError(f"the broker at {broker.url} sent a device authorization this CLI cannot read") from None
    say(f"On any device, open {verification_uri} and enter the code:")
    say("")
    say(f"    {user_code}")
    say("")
    say(f"(or open {complete})")
    say(f"Waiting up to {expires_in // 60} min for the approval...")
    deadline = monotonic() + expires_in
    try:
        return _poll_device(broker, device_code, user_code, interval, deadline, sleep, monotonic, progress)
    finally:
        if progress is not None:
            progress.done()


def _poll_device(
    broker: BrokerHttp,
    device_code: str,
    user_code: str,
    interval: int,
    deadline: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    progress: Progress | None,
) -> dict[str, Any]:
    while True:
        if progress is not None:
            progress.update(f"Waiting for the approval of code {user_code}", deadline - monotonic())
        sleep(interval)
        try:
            return broker.token({"grant_type": GRANT_DEVICE_CODE, "device_code": device_code})
        except TokenError as exc:
            if exc.error == "authorization_pending":
                pass
            elif exc.error == "slow_down":
                interval += 5  # RFC 8628 3.5: for this and every later request
            elif exc.error == "access_denied":
                raise BrokerError("the sign-in was denied in the browser; nothing was stored") from None
            elif exc.error == "expired_token":
                raise BrokerError(
                    "the code expired before anyone approved it; run `broker login --device` again"
                ) from None
            else:
                raise
        if monotonic() >= deadline:
            raise BrokerError("the code expired before anyone approved it; run `broker login --device` again")


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url``, the default port made explicit."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)
