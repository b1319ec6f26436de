"""The `broker` command: init, bootstrap-admin, errors as one line on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.cli.main import cli, main


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
        "BROKER_CERTS_DIR": str(tmp_path / "certs"),
        "BROKER_METADATA_DIR": str(tmp_path / "metadata"),
    }


def test_init_is_idempotent_and_bootstrap_admin_prints_working_keys(tmp_path: Path) -> None:
    runner = CliRunner()
    env = env_for(tmp_path)
    first = runner.invoke(cli, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "sp-signing.key" in first.output
    second = runner.invoke(cli, ["init"], env=env)
    assert second.exit_code == 0 and "all present" in second.output
    made = runner.invoke(cli, ["bootstrap-admin"], env=env)
    assert made.exit_code == 0, made.output
    admin = json.loads(made.stdout)
    assert set(admin) == {"AccountId", "UserName", "AccessKeyId", "SecretAccessKey"}
    assert admin["AccessKeyId"].startswith("AKIA") and len(admin["SecretAccessKey"]) == 40
    again = json.loads(runner.invoke(cli, ["bootstrap-admin"], env=env).stdout)
    assert again == admin  # same administrator and key, not a new one


def test_init_never_prints_the_database_password(tmp_path: Path) -> None:
    # The container's entrypoint prints init's output on every start: into the logs.
    from tests.support.brokers import postgres_schema

    with postgres_schema() as url:
        with_password = url.replace("postgres@", "postgres:S3cret-Passw0rd@", 1)
        assert "S3cret-Passw0rd" in with_password
        result = CliRunner().invoke(cli, ["init"], env={**env_for(tmp_path), "BROKER_DATABASE_URL": with_password})
    assert result.exit_code == 0, result.output
    assert "S3cret-Passw0rd" not in result.output
    assert "postgres:***@127.0.0.1" in result.output


def test_init_registers_providers_from_the_metadata_dir(tmp_path: Path) -> None:
    from tests.support.metadata import idp_metadata_xml

    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "okta.xml").write_text(idp_metadata_xml("https://okta.example/app"))
    result = CliRunner().invoke(cli, ["init"], env=env_for(tmp_path))
    assert result.exit_code == 0, result.output
    from sqlalchemy import select

    from broker.services.runtime import Runtime
    from broker.settings import load_settings
    from broker.store import models

    runtime = Runtime.from_settings(load_settings(environ=env_for(tmp_path)))
    with runtime.db.transaction() as session:
        provider = session.scalar(select(models.SamlProvider).where(models.SamlProvider.name_key == "okta"))
        assert provider is not None and provider.entity_id == "https://okta.example/app"
        assert provider.source == "file:okta.xml"
    runtime.db.dispose()


def test_bad_configuration_is_one_line_and_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["BROKER_PORT"] = "not-a-port"
    try:
        status = main(["init"])
    finally:
        del os.environ["BROKER_PORT"]
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("broker: environment: BROKER_PORT: expected an integer")


def test_serve_without_keys_explains_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli.main", "serve"],
        env={**os.environ, **env_for(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "run `broker init`" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_runs_the_broker(tmp_path: Path) -> None:
    import time
    import urllib.request

    from tests.support.brokers import free_port

    env = {**os.environ, **env_for(tmp_path)}
    port = free_port()
    env["BROKER_BASE_URL"] = f"http://127.0.0.1:{port}"
    assert CliRunner().invoke(cli, ["init"], env=env).exit_code == 0
    server = subprocess.Popen(
        [sys.executable, "-m", "broker.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/saml/metadata", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert f'entityID="http://127.0.0.1:{port}/saml/metadata"' in body
    finally:
        server.terminate()
        server.wait(timeout=10)
