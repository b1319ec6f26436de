"""Two `broker serve` starting together after a metadata file was added (a rolling restart) on one
PostgreSQL database: both start, and the provider is registered once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import broker.services.setup as setup
from broker.services.runtime import Runtime
from tests.support.brokers import make_runtime, make_settings, postgres_schema
from tests.support.metadata import idp_metadata_xml


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.mark.postgres
def test_two_instances_register_a_new_metadata_file_once(
    tmp_path: Path, keys_dir: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, keys_dir, postgres_url, "http://broker.test")
    make_runtime(settings).db.dispose()  # `broker init`, before the file is added
    (Path(settings.metadata_dir) / "corp.xml").write_text(idp_metadata_xml("https://corp.example/idp"))
    looked_up = setup.provider_store.saml_provider_named

    def slow_lookup(*args: Any, **kwargs: Any) -> Any:
        found = looked_up(*args, **kwargs)
        time.sleep(0.3)  # between "not registered yet" and creating it: both instances look first
        return found

    monkeypatch.setattr(setup.provider_store, "saml_provider_named", slow_lookup)
    start, errors = threading.Barrier(2), []

    def serve_start_up() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            start.wait()
            setup.prepare_to_serve(runtime)
        except Exception as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            runtime.db.dispose()

    threads = [threading.Thread(target=serve_start_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    runtime = Runtime.from_settings(settings)
    with runtime.db.read() as tx:
        assert "corp" in setup.provider_store.saml_provider_names(tx)
    runtime.db.dispose()
