"""Shared fixtures: keys generated once, a database per test (SQLite or PostgreSQL), runtimes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.crypto.keys import ensure_keys
from broker.services.runtime import Runtime
from tests.services.federation.corp import IdpKeys, idp_keys
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings, postgres_schema

logging.getLogger("xmlschema").setLevel(logging.WARNING)
logging.getLogger("saml2").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    ensure_keys(directory, common_name="broker tests")
    return directory


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'broker.db'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'broker.db'}"


@pytest.fixture
def base_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def runtime(tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str) -> Iterator[Runtime]:
    rt = make_runtime(make_settings(tmp_path, keys_dir, sqlite_url, base_url))
    yield rt
    rt.db.dispose()


@pytest.fixture
def broker(tmp_path: Path, keys_dir: Path, database_url: str) -> Iterator[LiveBroker]:
    """A live broker (werkzeug, a background thread) on the database under test, on a free port."""
    port = free_port()
    settings = make_settings(tmp_path, keys_dir, database_url, f"http://127.0.0.1:{port}")
    with LiveBroker(make_runtime(settings), port) as live:
        yield live


@pytest.fixture(scope="session")
def keys() -> IdpKeys:
    """The corp IdP's signing key and certificate (tests/services/federation/corp.py), made once."""
    return idp_keys()
