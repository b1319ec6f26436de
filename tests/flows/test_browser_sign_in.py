"""A real headless Chromium: broker /saml/login -> SimpleSAMLphp login -> role selection -> credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.browser import chromium_page
from tests.support.interop import register, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp, login

pytestmark = [pytest.mark.simplesamlphp, pytest.mark.browser]


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'broker.db'}", f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


def test_sign_in_choose_role_and_read_credentials(broker: LiveBroker) -> None:
    with SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users()) as idp:
        register(broker.runtime, idp.metadata_xml())
        with chromium_page() as page:
            page.goto(f"{broker.url}/saml/login?provider=ssp")
            login(page, "dave", "davepw")
            page.wait_for_selector("#role-form")
            radios = page.locator("#role-form input[name=role_arn]")
            values = sorted(radios.nth(i).get_attribute("value") or "" for i in range(radios.count()))
            assert values == ["arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/Engineer"]
            # labels are wired to inputs, so a screen reader (and this click) reaches the radio by name
            page.get_by_label("Engineer", exact=False).first.check()
            page.select_option("#duration", "1800")
            page.click("#get-credentials")
            page.wait_for_selector("#access-key-id")
            key = page.inner_text("#access-key-id")
            secret = page.inner_text("#secret-access-key")
            token = page.inner_text("#session-token")
            expiration = page.inner_text("#expiration")
            # Signing out in the browser ends the broker session: the role page is gone.
            page.click("#sign-out")
            page.wait_for_selector("#signed-out")
            page.goto(f"{broker.url}/saml/roles")
            assert page.url == f"{broker.url}/"
            assert not [c for c in page.context.cookies() if c["name"] == "broker_session"]
    assert key.startswith("ASIA") and len(secret) == 40 and expiration.endswith("Z")
    identity = boto3.client(
        "sts",
        endpoint_url=broker.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/Engineer/dave"
