"""The store's view of URL-fetched providers: the fetch state alone, for /readyz and /metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from broker.services.runtime import Runtime
from broker.services.setup import sync_metadata_dir
from broker.store.iam import providers as store
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml

ACCOUNT = "123456789012"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url))
    yield runtime
    runtime.db.dispose()


def url_fetched(rt: Runtime, *names: str) -> None:
    """Providers registered from files, then given a metadata URL (as `metadata/NAME.url` does)."""
    for name in names:
        (Path(rt.settings.metadata_dir) / f"{name}.xml").write_text(idp_metadata_xml(f"https://{name}.example/md"))
    sync_metadata_dir(rt)
    with rt.db.transaction() as tx:
        for name in names:
            arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/{name}"
            store.set_metadata_source(tx, arn, url=f"https://{name}.example/md", pin=None, next_fetch_at=NOW)


def test_metadata_states_read_the_fetch_state_and_not_the_documents(rt: Runtime) -> None:
    url_fetched(rt, "beta", "Alpha")
    (Path(rt.settings.metadata_dir) / "local.xml").write_text(idp_metadata_xml("https://local.example/md"))
    sync_metadata_dir(rt)  # from a file only: no fetch state to report
    with rt.db.transaction() as tx:
        store.record_metadata_fetch_failed(
            tx, f"arn:aws:iam::{ACCOUNT}:saml-provider/beta", error="HTTP error", failures=1, next_fetch_at=NOW
        )
    sent: list[str] = []
    event.listen(rt.db.engine, "before_cursor_execute", lambda _c, _k, statement, *_a: sent.append(statement))
    with rt.db.read() as tx:
        states = store.metadata_states(tx)
    assert [(s.name, s.last_fetch_error, s.last_fetch_at, s.valid_until) for s in states] == [
        ("Alpha", None, None, None),
        ("beta", "HTTP error", None, None),
    ]
    assert states[0].arn == f"arn:aws:iam::{ACCOUNT}:saml-provider/Alpha"
    (query,) = [statement for statement in sent if statement.lstrip().upper().startswith("SELECT")]
    # The documents (up to 1 MiB each) and options stay in the database.
    assert "metadata_xml" not in query and "options" not in query
