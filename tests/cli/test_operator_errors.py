"""What an operator gets wrong is one line on stderr with the fix, and a non-zero exit; never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from broker.services.runtime import Runtime
from broker.web.app import create_app
from tests.support.brokers import free_port, make_settings

CLOSED_PORT_URL = "postgresql+psycopg://postgres:secret@127.0.0.1:{port}/test"


def broker(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    settings = {
        "BROKER_CERTS_DIR": str(tmp_path / "certs"),
        "BROKER_METADATA_DIR": str(tmp_path / "metadata"),
        "BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'broker.db'}",
    }
    (tmp_path / "metadata").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "broker.cli.main", *args],
        env={**clean, **settings, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("broker: ")
    return lines[0]


def test_serve_before_init_says_to_run_init(tmp_path: Path, keys_dir: Path) -> None:
    shutil.copytree(keys_dir, tmp_path / "certs")
    line = one_line(broker(tmp_path, "serve", "--port", str(free_port())))
    assert line == "broker: the database has no broker schema yet: run `broker init` first"


@pytest.mark.parametrize("command", [["init"], ["serve", "--port", "65535"], ["bootstrap-admin"], ["audit", "verify"]])
def test_an_unreachable_database_is_one_line(tmp_path: Path, keys_dir: Path, command: list[str]) -> None:
    shutil.copytree(keys_dir, tmp_path / "certs")
    url = CLOSED_PORT_URL.format(port=free_port())
    line = one_line(broker(tmp_path, *command, BROKER_DATABASE_URL=url))
    assert line.startswith("broker: cannot connect to the database postgresql+psycopg://postgres:***@127.0.0.1:")
    assert "Connection refused" in line
    assert "secret" not in line  # the password never appears


def test_wrong_database_credentials_are_one_line(tmp_path: Path, keys_dir: Path) -> None:
    shutil.copytree(keys_dir, tmp_path / "certs")
    url = "postgresql+psycopg://no_such_role@127.0.0.1:5432/test"
    line = one_line(broker(tmp_path, "init", BROKER_DATABASE_URL=url))
    assert 'role "no_such_role" does not exist' in line


def test_require_keys_names_the_missing_files_and_creates_none(tmp_path: Path) -> None:
    line = one_line(broker(tmp_path, "init", "--require-keys"))
    assert line.startswith(f"broker: missing key files in {tmp_path / 'certs'}/: sp-signing.key, sp-signing.crt")
    assert "audit-signing.key" in line
    assert not list((tmp_path / "certs").glob("*")) if (tmp_path / "certs").exists() else True
    assert not (tmp_path / "broker.db").exists()


def test_require_keys_with_keys_present_initialises(tmp_path: Path, keys_dir: Path) -> None:
    shutil.copytree(keys_dir, tmp_path / "certs")
    result = broker(tmp_path, "init", "--require-keys")
    assert result.returncode == 0, result.stderr
    assert "keys: all present" in result.stdout


def test_a_schema_from_another_version_is_named(tmp_path: Path, keys_dir: Path) -> None:
    shutil.copytree(keys_dir, tmp_path / "certs")
    assert broker(tmp_path, "init").returncode == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    try:
        with engine.begin() as connection:
            head = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
        older = one_line(broker(tmp_path, "serve", "--port", str(free_port())))
        assert older == f"broker: the database schema (0006) is older than this broker's ({head}): run `broker init`"
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        newer = one_line(broker(tmp_path, "serve", "--port", str(free_port())))
        assert newer == f"broker: the database schema (9999) is newer than this broker's ({head}): upgrade the broker"
    finally:
        engine.dispose()


def test_a_request_while_the_database_is_down_is_503_not_500(tmp_path: Path, keys_dir: Path) -> None:
    url = CLOSED_PORT_URL.format(port=free_port())
    runtime = Runtime.from_settings(make_settings(tmp_path, keys_dir, url, "http://127.0.0.1:8000"))
    try:
        client = create_app(runtime=runtime).test_client()
        response = client.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
        assert response.status_code == 503
        assert b"ServiceUnavailable" in response.data
        assert b"secret" not in response.data
    finally:
        runtime.db.dispose()
