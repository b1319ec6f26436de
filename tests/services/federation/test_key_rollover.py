"""The signing certificates a metadata refresh dropped: trusted through the one validation of a
response until their grace period ends, and no longer once an administrator sets the metadata
(UpdateSAMLProvider, a metadata file) or where it comes from (a new url or pin).

A review found a dropped certificate still trusted after UpdateSAMLProvider replaced the metadata,
and after its grace period, until a refresh pass pruned it."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from broker.saml.errors import SamlError
from broker.services.federation import metadata_refresh
from broker.services.federation.metadata_refresh import refresh_due
from broker.services.federation.providers import validate
from broker.services.iam import providers as iam_providers
from broker.services.runtime import Runtime
from broker.services.setup import sync_metadata_dir
from broker.store.iam import providers as provider_store
from tests.services.federation import test_metadata_refresh as refresh_tests
from tests.services.federation.corp import BASE, CORP_ARN, DEFAULT, IDP_ORIGIN, IdpKeys, idp_keys, signed_response
from tests.services.federation.test_metadata_refresh import START, Clock, MetadataServer
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml
from tests.support.saml_factory import IDP_ENTITY_ID

ROLLED = START + dt.timedelta(hours=1)  # the refresh that finds the IdP on its new key
GRACE = dt.timedelta(days=1)  # saml_metadata_rollover_grace_seconds' default
_ids = itertools.count()

# The refresh tests' fixtures: the IdP's metadata server and the movable clock.
server = refresh_tests.server
clock = refresh_tests.clock


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str, clock: Clock) -> Iterator[Runtime]:
    runtime = replace(make_runtime(make_settings(tmp_path, keys_dir, database_url, BASE)), clock=clock)
    yield runtime
    runtime.db.dispose()


def metadata(keys: IdpKeys) -> str:
    return idp_metadata_xml(IDP_ENTITY_ID, keys.cert_pem, f"{IDP_ORIGIN}/sso")


def url_file(rt: Runtime, text: str) -> Path:
    path = Path(rt.settings.metadata_dir) / "corp.url"
    path.write_text(text)
    return path


def verifies(rt: Runtime, keys: IdpKeys) -> bool:
    """Whether a response signed with ``keys`` passes the ACS's validation now; only ever refused
    for its signature."""
    now = rt.now()
    response = signed_response(keys, f"_rollover{next(_ids)}", now=now)
    with rt.db.read() as tx:
        try:
            validate(rt, tx, response, now)
        except SamlError as exc:
            refusal = exc.code
        else:
            return True
    assert refusal == "BadSignature"
    return False


@pytest.fixture
def rolled(rt: Runtime, server: MetadataServer, clock: Clock) -> tuple[IdpKeys, IdpKeys]:
    """corp, fetched from a URL, has just moved from its old key to its new one: (old, new)."""
    old, new = idp_keys(), idp_keys()
    server.serve(metadata(old))
    url_file(rt, f"url = {server.url}\n")
    assert sync_metadata_dir(rt) == ["corp"]
    server.serve(metadata(new))
    clock.now = ROLLED
    [outcome] = refresh_due(rt)
    assert (outcome.changed, outcome.error) == (True, None)
    assert verifies(rt, old) and verifies(rt, new)  # during the grace period, both
    return old, new


def rollover_entries(rt: Runtime) -> object:
    with rt.db.read() as tx:
        return provider_store.saml_options(tx, CORP_ARN).get(metadata_refresh.ROLLOVER_CERTS)


def test_the_grace_period_ends_at_its_time_without_a_refresh_pass(
    rt: Runtime, rolled: tuple[IdpKeys, IdpKeys], clock: Clock
) -> None:
    old, new = rolled
    clock.now = ROLLED + GRACE - dt.timedelta(seconds=1)
    assert verifies(rt, old)
    # Over: refused at once, though no refresh pass has pruned it (another WSGI server, a stalled
    # worker) and the cached registration still lists it.
    clock.now = ROLLED + GRACE
    assert not verifies(rt, old)
    assert verifies(rt, new)
    assert rollover_entries(rt) is not None  # still stored: the check is at validation


def test_update_saml_provider_ends_the_rollover(rt: Runtime, rolled: tuple[IdpKeys, IdpKeys]) -> None:
    old, new = rolled
    # The administrator learns the old key leaked and registers the metadata by hand.
    with rt.db.transaction() as tx:
        iam_providers.update_saml_provider(tx, DEFAULT, CORP_ARN, metadata(new))
    assert not verifies(rt, old)
    assert verifies(rt, new)
    assert rollover_entries(rt) is None


def test_a_metadata_file_ends_the_rollover(rt: Runtime, rolled: tuple[IdpKeys, IdpKeys]) -> None:
    old, new = rolled
    url_file(rt, "").unlink()
    corrected = idp_metadata_xml(IDP_ENTITY_ID, new.cert_pem, f"{IDP_ORIGIN}/sso/corrected")
    (Path(rt.settings.metadata_dir) / "corp.xml").write_text(corrected)
    assert sync_metadata_dir(rt) == ["corp"]  # what `broker init` and start-up run
    assert not verifies(rt, old)
    assert verifies(rt, new)


def test_a_new_url_or_pin_ends_the_rollover(
    rt: Runtime, rolled: tuple[IdpKeys, IdpKeys], server: MetadataServer
) -> None:
    old, new = rolled
    url_file(rt, f"# moved\nurl = {server.url}?v=2\n")
    assert sync_metadata_dir(rt) == ["corp"]
    assert not verifies(rt, old)
    assert verifies(rt, new)


def test_a_refresh_running_while_the_administrator_updates_does_not_bring_the_old_key_back(
    rt: Runtime, rolled: tuple[IdpKeys, IdpKeys], server: MetadataServer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = rolled
    newest = idp_keys()
    server.serve(metadata(newest))  # the IdP moves on again
    fetch = metadata_refresh.fetch_metadata

    def fetched_during_an_update(url: str) -> str:
        with rt.db.transaction() as tx:
            iam_providers.update_saml_provider(tx, DEFAULT, CORP_ARN, metadata(new))
        return fetch(url)

    monkeypatch.setattr(metadata_refresh, "fetch_metadata", fetched_during_an_update)
    clock.now = ROLLED + dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)
    assert (outcome.changed, outcome.error) == (True, None)
    assert not verifies(rt, old)
    assert verifies(rt, newest) and verifies(rt, new)  # new: dropped by this refresh, in its grace period
