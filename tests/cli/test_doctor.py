"""`broker doctor`: one line per check with its fix, and exit status 1 when any check fails."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest

from broker.cli.main import main
from broker.crypto.keys import generate_rsa_pair
from broker.services.runtime import Runtime
from broker.settings import load_settings
from tests.cli.conftest import cli_runtimes_on
from tests.support.brokers import LiveBroker, free_port, make_settings, postgres_schema
from tests.support.metadata import idp_metadata_xml


@pytest.fixture
def installation(tmp_path: Path, keys_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised broker (SQLite) configured through BROKER_* variables; nothing serves it."""
    settings = make_settings(tmp_path, keys_dir, f"sqlite:///{tmp_path / 'b.db'}", f"http://127.0.0.1:{free_port()}")
    for key in Path(settings.certs_dir).iterdir():
        if key.suffix != ".crt":
            key.chmod(0o600)
    Path(settings.certs_dir).chmod(0o700)
    (Path(settings.metadata_dir) / "okta.xml").write_text(idp_metadata_xml("https://okta.example/app"))
    monkeypatch.setenv("BROKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BROKER_CERTS_DIR", settings.certs_dir)
    monkeypatch.setenv("BROKER_METADATA_DIR", settings.metadata_dir)
    monkeypatch.setenv("BROKER_BASE_URL", settings.base_url)
    monkeypatch.delenv("BROKER_CONFIG", raising=False)
    assert main(["init"]) == 0
    return tmp_path


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str]]:
    """The exit status and each check's line, by check name."""
    capsys.readouterr()
    status = main(["doctor", *args])
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    found: dict[str, str] = {}
    for line in lines:
        check = line[5:].split(":", 1)[0]
        found[check] = line
    return status, found


def test_a_healthy_installation_passes_every_check(
    installation: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("BROKER_BASE_URL", f"http://127.0.0.1:{port}")
    with LiveBroker(Runtime.from_settings(load_settings()), port):
        status, lines = doctor(capsys)
    assert status == 0, lines
    assert set(lines) >= {"configuration", "key permissions", "database", "clock", "IdP okta", "base URL"}
    assert all(line.startswith("ok ") for line in lines.values()), lines
    assert "https://okta.example/app" in lines["IdP okta"]


def test_loose_key_permissions_fail_with_the_chmod_to_run(
    installation: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = installation / "certs" / "sp-signing.key"
    key.chmod(0o644)
    status, lines = doctor(capsys, "--no-base-url")
    assert status == 1
    assert lines["key permissions"].startswith("FAIL")
    assert f"-> chmod 600 {key}" in lines["key permissions"]


def test_missing_keys_fail_and_say_run_init(installation: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (installation / "certs" / "secret-derivation.key").unlink()
    status, lines = doctor(capsys, "--no-base-url")
    assert status == 1
    assert lines["keys"].startswith("FAIL") and "secret-derivation.key" in lines["keys"]
    assert "broker init" in lines["keys"]


def test_an_unreachable_database_fails(
    installation: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = free_port()
    monkeypatch.setenv("BROKER_DATABASE_URL", f"postgresql+psycopg://broker:pw@127.0.0.1:{closed}/broker")
    status, lines = doctor(capsys, "--no-base-url")
    assert status == 1
    assert lines["database"].startswith("FAIL") and f"cannot reach 127.0.0.1:{closed}/broker" in lines["database"]
    assert "pw" not in lines["database"]
    assert "clock" not in lines  # nothing to compare with


def test_an_old_schema_fails_and_says_run_init(installation: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(installation / "b.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    status, lines = doctor(capsys, "--no-base-url")
    assert status == 1
    assert lines["database"].startswith("FAIL") and "is at schema 0001" in lines["database"]
    assert "-> run `broker init`" in lines["database"]


@pytest.mark.parametrize(("days", "mark"), [(3, "FAIL"), (20, "WARN")])
def test_an_expiring_idp_certificate(
    installation: Path, capsys: pytest.CaptureFixture[str], days: int, mark: str
) -> None:
    cert = generate_rsa_pair("expiring idp", key_size=2048, days=days)[1]
    (installation / "metadata" / "okta.xml").write_text(idp_metadata_xml("https://okta.example/app", cert))
    assert main(["init"]) == 0
    status, lines = doctor(capsys, "--no-base-url")
    assert lines["IdP okta"].startswith(mark), lines
    assert "expires" in lines["IdP okta"] and "UpdateSAMLProvider" in lines["IdP okta"]
    assert status == (1 if mark == "FAIL" else 0)


def test_clock_skew_against_the_database_fails(
    installation: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_runtimes_on(lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5), monkeypatch)
    status, lines = doctor(capsys, "--no-base-url")
    assert status == 1
    assert lines["clock"].startswith("FAIL")
    assert re.search(r"this host is (299|300|301) s ahead of the database server", lines["clock"])  # whole seconds
    assert "NTP" in lines["clock"]


def test_a_base_url_that_does_not_answer_fails(installation: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = doctor(capsys)
    assert status == 1
    assert lines["base URL"].startswith("FAIL") and "nothing answers at http://127.0.0.1:" in lines["base URL"]
    assert "broker serve" in lines["base URL"]
    assert lines["database"].startswith("ok")


def test_bad_configuration_fails_on_one_line(
    installation: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_PORT", "not-a-port")
    status, lines = doctor(capsys)
    assert status == 1
    assert list(lines) == ["configuration"]
    assert "BROKER_PORT" in lines["configuration"]


def test_plain_http_on_a_public_host_warns_about_tls(
    installation: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_BASE_URL", "http://sso.example.com")
    status, lines = doctor(capsys, "--no-base-url")
    assert lines["tls"].startswith("WARN") and "https://" in lines["tls"]
    assert status == 0


@pytest.mark.postgres
def test_the_database_and_its_clock_on_postgresql(
    installation: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_schema() as url:
        monkeypatch.setenv("BROKER_DATABASE_URL", url)
        assert main(["init"]) == 0
        status, lines = doctor(capsys, "--no-base-url")
        assert status == 0, lines
        assert lines["database"].startswith("ok") and lines["clock"].startswith("ok"), lines
        cli_runtimes_on(lambda: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2), monkeypatch)
        status, lines = doctor(capsys, "--no-base-url")
        assert status == 1 and re.search(r"(119|120|121) s behind the database server", lines["clock"])
