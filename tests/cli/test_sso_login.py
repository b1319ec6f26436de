"""`broker login --sso-session`: one browser sign-in leaves what `aws sso login` leaves.

The broker is the demo-mode app on werkzeug's server (tests/support/brokers.py); the person is
a scripted browser. botocore reads the files it wrote; tests/flows/test_sso_clients.py shows the
stock tools refreshing from such files against `broker serve`.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import stat
import threading
import webbrowser
from pathlib import Path
from urllib.parse import urljoin

import botocore.session
import botocore.utils
import pytest
from click.testing import CliRunner

from broker.cli import oauth, sso_session
from broker.cli.errors import BrokerError
from broker.cli.main import cli
from tests.cli.conftest import demo_role
from tests.cli.demo_browser import DemoBrowser, Visit, consent_form, hidden_fields
from tests.support.brokers import LiveBroker


def _approve(person: DemoBrowser, url: str, pages: list[Visit]) -> None:
    page = person.sign_in_if_asked(person.open(url))
    assert 'id="consent-form"' in page.body, page.body[:500]
    fields = {**hidden_fields(consent_form(page.body)), "action": "approve"}
    pages.append(person.open(urljoin(page.url, "/authorize/resume"), fields))


def test_login_writes_the_sso_token_cache_and_an_sso_session_profile(
    home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir(parents=True)
    config.write_text("# mine\n[profile other]\nregion = eu-west-1\n")
    person = DemoBrowser()
    pages: list[Visit] = []
    threads: list[threading.Thread] = []

    def open_browser(url: str, *args: object, **kwargs: object) -> bool:
        assert url.startswith(f"{demo_broker.url}/authorize?")
        thread = threading.Thread(target=_approve, args=(person, url, pages), daemon=True)
        thread.start()
        threads.append(thread)
        return True

    monkeypatch.setattr(webbrowser, "open", open_browser)
    done = CliRunner().invoke(
        cli,
        [
            "login",
            "--url",
            demo_broker.url,
            "--profile",
            "dev",
            "--sso-session",
            "corp",
            "--role",
            demo_role("DemoDeveloper"),
        ],
        catch_exceptions=False,
    )
    for thread in threads:
        thread.join(timeout=30)
    assert done.exit_code == 0, done.output
    assert "You can close this tab" in pages[-1].body

    cache = home / ".aws" / "sso" / "cache" / f"{hashlib.sha1(b'corp').hexdigest()}.json"  # noqa: S324
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    token = json.loads(cache.read_text())
    assert set(token) == {
        "startUrl",
        "region",
        "accessToken",
        "expiresAt",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "refreshToken",
    }
    assert token["startUrl"] == f"{demo_broker.url}/start" and token["region"] == "us-east-1"
    assert token["expiresAt"].endswith("Z") and token["registrationExpiresAt"].endswith("Z")

    text = config.read_text()
    assert text.startswith("# mine\n[profile other]\nregion = eu-west-1\n")
    parsed = configparser.RawConfigParser()
    parsed.read_string(text)
    assert parsed["sso-session corp"]["sso_start_url"] == f"{demo_broker.url}/start"
    assert dict(parsed["profile dev"]) == {
        "sso_session": "corp",
        "sso_account_id": "123456789012",
        "sso_role_name": "DemoDeveloper",
        "region": "us-east-1",
        "services": "corp-endpoints",
    }
    assert f"endpoint_url = {demo_broker.url}" in parsed["services corp-endpoints"]["sso_oidc"]

    # botocore finds the token where it looks for this sso-session, and reads the same profile.
    loader = botocore.utils.SSOTokenLoader(cache=botocore.utils.JSONFileCache(str(cache.parent)))
    assert loader(token["startUrl"], session_name="corp")["accessToken"] == token["accessToken"]
    session = botocore.session.Session(profile="dev")
    assert session.get_scoped_config()["sso_session"] == "corp"

    # A second login reuses the cached client registration (the broker keeps it across restarts).
    again = CliRunner().invoke(
        cli,
        [
            "login",
            "--url",
            demo_broker.url,
            "--profile",
            "dev",
            "--sso-session",
            "corp",
            "--role",
            demo_role("DemoDeveloper"),
        ],
        catch_exceptions=False,
    )
    for thread in threads:
        thread.join(timeout=30)
    assert again.exit_code == 0, again.output
    renewed = json.loads(cache.read_text())
    assert renewed["clientId"] == token["clientId"] and renewed["accessToken"] != token["accessToken"]
    assert text.count("[sso-session corp]") == 1 and config.read_text().count("[profile dev]") == 1


MINE = (
    "[default]\r\n"
    "region = eu-west-1\r\n"
    "\r\n"
    "[profile dev]\r\n"
    "# MFA for the break-glass role\r\n"
    "mfa_serial = arn:aws:iam::123456789012:mfa/me\r\n"
    "output = table\r\n"
    "sso_start_url = https://old.awsapps.com/start\r\n"
    "cli_pager =\r\n"
)


def test_the_sso_profile_keeps_the_persons_keys_comments_and_line_endings_with_a_backup(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_bytes(MINE.encode())
    said: list[str] = []
    backup = sso_session.write_config(
        config,
        say=said.append,
        session_name="corp",
        profile="dev",
        start_url="https://sso.example.com/start",
        url="https://sso.example.com",
        region="us-east-1",
        account_id="123456789012",
        role_name="Dev",
    )
    written = config.read_bytes().decode()
    for kept in ("[default]\r\nregion = eu-west-1\r\n", "# MFA for the break-glass role\r\n", "output = table\r\n"):
        assert kept in written
    assert backup == tmp_path / "config.bak" and backup.read_bytes() == MINE.encode()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert f"Changes to {config}:" in said and "+sso_session = corp" in said
    profile = botocore.session.Session(profile="dev")
    profile.set_config_variable("config_file", str(config))
    assert profile.get_scoped_config() == {
        "mfa_serial": "arn:aws:iam::123456789012:mfa/me",
        "output": "table",
        "cli_pager": "",
        "sso_session": "corp",
        "sso_account_id": "123456789012",
        "sso_role_name": "Dev",
        "region": "us-east-1",
        "services": "corp-endpoints",
    }  # the old sso_start_url is gone: botocore refuses it next to an sso_session naming another


def test_an_unparseable_config_is_left_alone_by_the_sso_login(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("region = outside any section\n")
    with pytest.raises(BrokerError, match="not a valid AWS config file"):
        sso_session.write_config(
            config,
            say=lambda line: None,
            session_name="corp",
            profile="dev",
            start_url="https://sso.example.com/start",
            url="https://sso.example.com",
            region="us-east-1",
            account_id="123456789012",
            role_name="Dev",
        )
    assert config.read_text() == "region = outside any section\n"


class _SsoBroker(oauth.BrokerHttp):
    """A broker whose SSO-OIDC /token answers ``token``."""

    def __init__(self, token: dict[str, object]) -> None:
        super().__init__("https://sso.example.com")
        self.token_answer = token

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> oauth.Answer:
        return oauth.Answer(200, self.token_answer)


@pytest.mark.parametrize(
    ("token", "named"),
    [
        ({"accessToken": "AT", "expiresIn": 3600}, "refreshToken"),
        ({"accessToken": "AT", "expiresIn": "soon", "refreshToken": "RT"}, "expiresIn"),
        ({"refreshToken": "RT", "expiresIn": 3600}, "accessToken"),
    ],
)
def test_an_sso_token_this_cli_cannot_read_is_one_line(token: dict[str, object], named: str) -> None:
    client = {"clientId": "cid", "clientSecret": "secret"}
    with pytest.raises(BrokerError, match=rf"sent a token this CLI cannot read \({named} missing or malformed\)"):
        sso_session._token(_SsoBroker(token), client, grantType="authorization_code", code="c")
