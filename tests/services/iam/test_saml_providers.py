"""SAML providers as the IAM service stores them, on SQLite and PostgreSQL: metadata the parser
accepts can be stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.iam.errors import AwsError
from broker.services.iam import providers
from broker.services.runtime import Runtime
from broker.store.iam import providers as provider_store
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml

ENTITY = "https://idp.corp.example/metadata"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    rt = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url))
    yield rt
    rt.db.dispose()


def metadata(valid_until: str | None = None) -> str:
    xml = idp_metadata_xml(ENTITY)
    stamp = f' validUntil="{valid_until}"' if valid_until else ""
    return xml.replace(f'entityID="{ENTITY}"', f'entityID="{ENTITY}"{stamp}')


def create(runtime: Runtime, name: str, xml: str) -> str:
    with runtime.db.transaction() as tx:
        return providers.create_saml_provider(tx, runtime.settings.default_account_id, name, xml, None, NOW).arn


# Each is a time xs:dateTime can write whose UTC equivalent the calendar (and the database) lacks.
@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_valid_until_past_the_calendars_edge_in_utc_is_invalid_input(runtime: Runtime, stamp: str) -> None:
    # It was a 500 (OverflowError as the time was stored), and a traceback at `broker init`.
    with pytest.raises(AwsError) as refused:
        create(runtime, "edge", metadata(stamp))
    assert refused.value.code == "InvalidInput"
    assert "validUntil is out of range" in refused.value.message
    registered = metadata()
    arn = create(runtime, "corp", registered)
    account = runtime.settings.default_account_id
    with pytest.raises(AwsError) as refused, runtime.db.transaction() as tx:
        providers.update_saml_provider(tx, account, arn, metadata(stamp))
    assert refused.value.code == "InvalidInput"
    with runtime.db.read() as tx:
        stored = provider_store.saml_provider(tx, arn)
    assert stored is not None and stored.metadata_xml == registered and stored.valid_until is None
