"""The CLI's protocol pieces: PKCE, the browser wait, the clock-skew guard, device polling, session roles."""

from __future__ import annotations

import datetime as dt
import email.utils
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from broker.cli import oauth
from broker.cli.errors import BrokerError
from broker.services.cli_auth.pkce import pkce_matches, s256_challenge


def test_pkce_verifiers_are_long_random_and_match_the_broker_check() -> None:
    verifiers = {oauth.new_code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128
        assert oauth.code_challenge(verifier) == s256_challenge(verifier)
        assert pkce_matches(verifier, oauth.code_challenge(verifier))
    assert oauth.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    assert not pkce_matches("x" * 43, oauth.code_challenge("y" * 43))
    assert not pkce_matches("short", oauth.code_challenge("short"))


def test_the_wait_ends_at_its_timeout_while_an_idle_connection_is_open() -> None:
    idle: list[socket.socket] = []
    outcome: list[BaseException] = []

    def say(line: str) -> None:
        if "/cli/authorize?" in line:
            query = parse_qs(urlsplit(line.strip()).query)
            callback = urlsplit(query["redirect_uri"][0])
            idle.append(socket.create_connection((callback.hostname, callback.port)))

    def sign_in() -> None:
        try:
            oauth.browser_login(
                oauth.BrokerHttp("https://sso.example.com"),
                role_arn=None,
                duration=None,
                provider=None,
                open_browser=False,
                timeout=1,
                say=say,
            )
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    thread = threading.Thread(target=sign_in, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=15)
    try:
        assert not thread.is_alive(), "broker login hung on an idle connection to its listener"
        assert time.monotonic() - started < 5
        assert len(outcome) == 1 and isinstance(outcome[0], BrokerError)
        assert "did not come back within 1 s" in outcome[0].format_message()
    finally:
        for connection in idle:
            connection.close()


@pytest.mark.parametrize("skew_minutes", [-6, 6, 120])
def test_a_skewed_clock_is_named(skew_minutes: int) -> None:
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    broker = oauth.BrokerHttp("https://sso.example.com", clock=lambda: now + dt.timedelta(minutes=skew_minutes))
    with pytest.raises(BrokerError, match=r"clock is .* (ahead of|behind) the broker's"):
        broker.check_clock(email.utils.format_datetime(now, usegmt=True))


def test_a_small_skew_or_no_date_passes() -> None:
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    broker = oauth.BrokerHttp("https://sso.example.com", clock=lambda: now + dt.timedelta(minutes=4))
    broker.check_clock(email.utils.format_datetime(now, usegmt=True))
    broker.check_clock(None)
    broker.check_clock("not a date")


def test_device_polling_honours_pending_and_slow_down() -> None:
    answers = iter(
        [
            oauth.TokenError("authorization_pending", "wait"),
            oauth.TokenError("slow_down", "slower"),
            oauth.TokenError("authorization_pending", "wait"),
            {"AccessKeyId": "ASIA"},
        ]
    )
    sleeps: list[float] = []

    class Broker(oauth.BrokerHttp):
        def post_form(self, path: str, fields: dict[str, str | None]) -> oauth.Answer:
            return oauth.Answer(
                200,
                {
                    "device_code": "d",
                    "user_code": "BCDF-GHJK",
                    "verification_uri": "https://x/v",
                    "expires_in": 600,
                    "interval": 5,
                },
            )

        def token(self, fields: dict[str, str | None]) -> dict[str, object]:
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return answer

    said: list[str] = []
    body = oauth.device_login(Broker("https://x"), role_arn=None, duration=None, say=said.append, sleep=sleeps.append)
    assert body == {"AccessKeyId": "ASIA"}
    assert sleeps == [5, 5, 10, 10]
    assert "    BCDF-GHJK" in said


@pytest.mark.parametrize(
    ("error", "message"),
    [("access_denied", "denied in the browser"), ("expired_token", "expired before anyone approved")],
)
def test_device_polling_stops_on_denial_and_expiry(error: str, message: str) -> None:
    class Broker(oauth.BrokerHttp):
        def post_form(self, path: str, fields: dict[str, str | None]) -> oauth.Answer:
            return oauth.Answer(
                200,
                {
                    "device_code": "d",
                    "user_code": "BCDF-GHJK",
                    "verification_uri": "https://x/v",
                    "expires_in": 600,
                    "interval": 1,
                },
            )

        def token(self, fields: dict[str, str | None]) -> dict[str, object]:
            raise oauth.TokenError(error, "no")

    with pytest.raises(BrokerError, match=message):
        oauth.device_login(
            Broker("https://x"), role_arn=None, duration=None, say=lambda line: None, sleep=lambda seconds: None
        )


class _SessionBroker(oauth.BrokerHttp):
    """A broker whose /cli/session answers ``roles``."""

    def __init__(self, roles: object) -> None:
        super().__init__("https://sso.example.com")
        self.roles = roles

    def get(self, path: str, headers: dict[str, str] | None = None) -> oauth.Answer:
        return oauth.Answer(200, {"Subject": "dave", "Roles": self.roles})


@pytest.mark.parametrize(
    "roles",
    [
        ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"],
        {"RoleArn": "arn:aws:iam::1:role/a"},
        [{"RoleName": "a"}],
        [{"RoleArn": "arn:aws:iam::1:role/a", "MaxSessionDuration": "an hour"}],
    ],
)
def test_session_roles_the_cli_cannot_read_are_one_line(roles: object) -> None:
    with pytest.raises(BrokerError, match="listed the session's roles in a form this CLI cannot read"):
        oauth.session_info(_SessionBroker(roles), "handle")


def test_session_roles_as_the_broker_sends_them_are_read() -> None:
    role = {"RoleArn": "arn:aws:iam::1:role/a", "MaxSessionDuration": 3600, "AccountId": "1"}
    assert oauth.session_info(_SessionBroker([role]), "handle")["Roles"] == [role]
    assert oauth.session_info(_SessionBroker(None), "handle")["Roles"] == []
