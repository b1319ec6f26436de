"""IdP metadata from a URL against a real SimpleSAMLphp IdP: the broker fetches the IdP's metadata
from its metadata URL, the IdP rolls its signing key, the refresh picks the new certificate up
and keeps the old one for the grace period; a stopped IdP leaves the last good metadata in use
and shows in /readyz."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from broker.services.federation.metadata_refresh import RefreshOutcome, refresh_due
from broker.services.runtime import Runtime, utcnow
from broker.services.setup import sync_metadata_dir
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings
from tests.support.interop import post_to_acs, register, users
from tests.support.simplesamlphp import SimpleSamlPhpIdp, generate_key_pair

pytestmark = pytest.mark.simplesamlphp


def live_broker(tmp_path: Path, keys_dir: Path, **overrides: object) -> LiveBroker:
    port = free_port()
    database = f"sqlite:///{tmp_path / 'broker.db'}"
    settings = make_settings(tmp_path, keys_dir, database, f"http://127.0.0.1:{port}", **overrides)
    return LiveBroker(make_runtime(settings), port)


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path) -> Iterator[LiveBroker]:
    with live_broker(tmp_path, keys_dir) as live:
        yield live


def start_idp(broker: LiveBroker, tmp_path: Path) -> SimpleSamlPhpIdp:
    """The IdP, registered as "ssp" with its roles, its metadata then taken from its URL."""
    idp = SimpleSamlPhpIdp(broker.runtime.sp.metadata_xml, users(), workdir=tmp_path / "idp").start()
    register(broker.runtime, idp.metadata_xml())
    (Path(broker.runtime.settings.metadata_dir) / "ssp.url").write_text(f"url = {idp.metadata_url}\n")
    assert sync_metadata_dir(broker.runtime) == ["ssp"]
    return idp


def rotate_signing_key(idp: SimpleSamlPhpIdp) -> None:
    """The IdP's operator rolls its key: new key and certificate files, same server and entity ID."""
    idp.signing_key = generate_key_pair("SimpleSAMLphp test IdP, rolled over")
    idp._write_configuration()  # SimpleSAMLphp reads its configuration and key files on each request


def refresh(runtime: Runtime, hours: int) -> list[RefreshOutcome]:
    """The worker's refresh pass, as it runs once the next fetch is due (``hours`` from now)."""
    return refresh_due(replace(runtime, clock=lambda: utcnow() + dt.timedelta(hours=hours)))


def readyz(broker: LiveBroker) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(f"{broker.url}/readyz", timeout=10) as response:
        return response.status, json.loads(response.read())


def test_key_rollover_from_the_metadata_url(broker: LiveBroker, tmp_path: Path) -> None:
    idp = start_idp(broker, tmp_path)
    try:
        [first] = refresh(broker.runtime, hours=0)  # fetched from the URL: the document is the registered one
        assert (first.changed, first.error) == (False, None)
        signed_with_old_key = idp.login_http("bob")
        rotate_signing_key(idp)
        before_refresh = idp.login_http("bob")
        refused = post_to_acs(before_refresh)
        assert refused.status == 403  # the new key is not trusted until the metadata says so
        assert refused.element("error-code") == "BadSignature"
        [outcome] = refresh(broker.runtime, hours=1)
        assert (outcome.changed, outcome.error) == (True, None)
        signed_with_new_key = idp.login_http("bob")
        signed_before_the_failure = idp.login_http("bob")
        new = post_to_acs(signed_with_new_key)
        assert new.status == 200, new.body
        assert new.element("assumed-role-arn").endswith("assumed-role/Engineer/bob")
        old = post_to_acs(signed_with_old_key)  # in flight during the rollover: still accepted
        assert old.status == 200, old.body
        idp.stop()  # the IdP goes away: the next fetch fails
        [failed] = refresh(broker.runtime, hours=3)
        assert failed.error is not None and failed.error.startswith("unreachable")
        status, body = readyz(broker)
        assert status == 200  # degraded, not unready
        assert body["checks"] == {"database": "ok", "keys": "ok", "metadata": "degraded: refresh failing (ssp)"}
        kept = post_to_acs(signed_before_the_failure)  # the last good metadata is still in use
        assert kept.status == 200, kept.body
    finally:
        idp.stop()


def test_without_a_grace_period_the_old_key_is_refused_after_the_refresh(tmp_path: Path, keys_dir: Path) -> None:
    with live_broker(tmp_path, keys_dir, saml_metadata_rollover_grace_seconds=0) as broker:
        idp = start_idp(broker, tmp_path)
        try:
            signed_with_old_key = idp.login_http("bob")
            rotate_signing_key(idp)
            [outcome] = refresh(broker.runtime, hours=1)
            assert outcome.changed
            page = post_to_acs(signed_with_old_key)
            assert page.status == 403
            assert page.element("error-code") == "BadSignature"
            assert post_to_acs(idp.login_http("bob")).status == 200
        finally:
            idp.stop()
