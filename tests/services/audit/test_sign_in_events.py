"""Sign-ins at a real SimpleSAMLphp IdP and CLI logins, found through LookupEvents with boto3."""

from __future__ import annotations

import json
import threading
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from broker.cli.main import cli
from broker.services.setup import bootstrap_admin
from tests.cli.conftest import demo_broker, demo_role, home
from tests.cli.demo_browser import DemoBrowser
from tests.support.aws import client
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import post_to_acs, provider_arn, register, role_arn, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp

__all__ = ["demo_broker", "home"]  # fixtures: a live demo-mode broker, a private HOME


def trail(broker: LiveBroker) -> Any:
    admin = bootstrap_admin(broker.runtime)
    return client(broker, "cloudtrail", admin.access_key_id, admin.secret_access_key)


def records(trail: Any, key: str, value: str) -> list[dict[str, Any]]:
    found = trail.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in found]


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


@pytest.mark.simplesamlphp
def test_saml_sign_ins_accepted_and_refused_and_credentials_issued(broker: LiveBroker) -> None:
    with SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users()) as idp:
        register(broker.runtime, idp.metadata_xml())
        form = idp.login_http("bob", start_url=idp.idp_initiated_url(broker.runtime.settings.sp_entity_id))
        page = post_to_acs(form)
        replayed = post_to_acs(form)
    assert page.status == 200 and replayed.status == 403
    access_key_id = page.element("access-key-id")
    cloudtrail = trail(broker)

    logins = records(cloudtrail, "EventName", "ConsoleLogin")
    (accepted,) = [r for r in logins if "errorCode" not in r]
    (refused,) = [r for r in logins if "errorCode" in r]
    assert accepted["eventType"] == "AwsConsoleSignIn" and accepted["eventSource"] == "signin.amazonaws.com"
    identity = accepted["userIdentity"]
    assert identity["type"] == "SAMLUser" and identity["identityProvider"] == provider_arn()
    assert identity["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assertion = accepted["additionalEventData"]
    assert {"assertionId", "issuer", "assertionDigest"} <= set(assertion)
    assert refused["errorCode"] == "Replay" and assertion["assertionId"] in refused["errorMessage"]

    (issued,) = records(cloudtrail, "ResourceName", "Engineer")  # the role, by its short name
    assert issued["eventName"] == "AssumeRoleWithSAML"
    assert issued["responseElements"]["credentials"]["accessKeyId"] == access_key_id
    assert {"ARN": role_arn("Engineer")} in issued["resources"]
    assert {"ARN": provider_arn()} in issued["resources"]

    everything = json.dumps(records(cloudtrail, "EventSource", "signin.amazonaws.com"))
    everything += json.dumps(records(cloudtrail, "EventSource", "sts.amazonaws.com"))
    assert form.saml_response not in everything
    assert page.element("secret-access-key") not in everything
    assert page.element("session-token") not in everything


class _Browser:
    """Stands in for ``webbrowser.open``: the person signs in and picks a role, in a thread."""

    def __init__(self, role: str) -> None:
        self.person = DemoBrowser(user="bob", password="bob-demo")
        self.role = role
        self.threads: list[threading.Thread] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        thread = threading.Thread(target=self.person.authorize, args=(url, self.role, "approve"), daemon=True)
        thread.start()
        self.threads.append(thread)
        return True


def test_cli_login_code_exchange_is_found(home: Path, demo_broker: LiveBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    browser = _Browser(demo_role("DemoDeveloper"))
    monkeypatch.setattr(webbrowser, "open", browser.open)
    done = CliRunner().invoke(cli, ["login", "--url", demo_broker.url, "--profile", "dev"], catch_exceptions=False)
    for thread in browser.threads:
        thread.join(timeout=30)
    assert done.exit_code == 0, done.output
    cloudtrail = trail(demo_broker)
    source = records(cloudtrail, "EventSource", "sso-oauth.amazonaws.com")
    names = {r["eventName"] for r in source if "errorCode" not in r}
    assert {"CreateAuthorizationCode", "CreateToken"} <= names
    text = json.dumps(source)
    assert "code_verifier" not in text
    (created,) = [r for r in source if r["eventName"] == "CreateAuthorizationCode" and "errorCode" not in r]
    assert created["userIdentity"]["type"] == "SAMLUser"
