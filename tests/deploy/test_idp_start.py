"""The compose demo's IdP, run on the host: docker/idp/start.sh in front of the broker's start-up.

The build machines have no Docker, so this runs the scripts compose runs, with the same
variables: the IdP (Debian's SimpleSAMLphp under `php -S`) writes its metadata into the broker's
metadata_dir, the broker's one-shot set-up job registers it, docker/idp/roles.py adds the roles
its groups map to, and a person signs in through it, SP-initiated, over HTTP.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.test_entrypoint import ENTRYPOINT, Processes, base_env, run, wait_for
from tests.support.brokers import free_port, postgres_schema
from tests.support.interop import post_to_acs
from tests.support.simplesamlphp import IdpLoginError, http_login

ROOT = Path(__file__).resolve().parents[2]
IDP_START = ROOT / "docker" / "idp" / "start.sh"
IDP_ROLES = ROOT / "docker" / "idp" / "roles.py"
ROLE_PATH = "arn:aws:iam::123456789012:role/idp/"


@dataclass
class Idp:
    process: subprocess.Popen[bytes]
    base_url: str
    state_dir: Path
    metadata_file: Path
    log: Path


def idp_env(tmp_path: Path, port: int, broker_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "IDP_", "SIMPLESAMLPHP_"))}
    return {
        **env,
        "IDP_PORT": str(port),
        "IDP_LISTEN": "127.0.0.1",
        "IDP_BASE_URL": f"http://127.0.0.1:{port}",
        "IDP_STATE_DIR": str(tmp_path / "idp"),
        "IDP_METADATA_FILE": str(tmp_path / "metadata" / "simplesamlphp.xml"),
        "BROKER_BASE_URL": broker_url,
        **extra,
    }


def start_idp(processes: Processes, tmp_path: Path, broker_url: str, name: str = "idp") -> Idp:
    port = free_port()
    (tmp_path / "metadata").mkdir(exist_ok=True)
    env = idp_env(tmp_path, port, broker_url)
    log = tmp_path / f"{name}.log"
    process = processes.start(["sh", str(IDP_START)], env, log)
    metadata_file = Path(env["IDP_METADATA_FILE"])
    deadline = time.monotonic() + 30
    while b"serving on" not in log.read_bytes():  # printed once the metadata file is in place
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return Idp(process, env["IDP_BASE_URL"], Path(env["IDP_STATE_DIR"]), metadata_file, log)


def fetch(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return str(response.read().decode())


def stop(idp: Idp) -> None:
    idp.process.send_signal(signal.SIGTERM)
    idp.process.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


def test_the_idp_writes_the_metadata_it_serves_and_keeps_its_key(tmp_path: Path, processes: Processes) -> None:
    broker_url = f"http://127.0.0.1:{free_port()}"
    idp = start_idp(processes, tmp_path, broker_url)
    served = fetch(f"{idp.base_url}/saml2/idp/metadata.php")
    written = idp.metadata_file.read_text()
    assert written.strip() == served.strip()
    assert f'entityID="{idp.base_url}/saml2/idp/metadata.php"' in written
    assert f'Location="{idp.base_url}/saml2/idp/SSOService.php"' in written
    certificate = "".join((idp.state_dir / "cert" / "idp.crt").read_text().splitlines()[1:-1])
    assert f"<ds:X509Certificate>{certificate}</ds:X509Certificate>" in written
    assert oct((idp.state_dir / "cert" / "idp.key").stat().st_mode & 0o777) == "0o600"
    assert not list(idp.metadata_file.parent.glob("*.tmp"))
    # SIGTERM stops it (compose's `docker compose stop`), with nothing left listening.
    stop(idp)
    assert idp.process.returncode in (0, 143, -signal.SIGTERM)

    # Restarted on the same state volume: the same key, so brokers keep trusting its responses.
    again = start_idp(processes, tmp_path, broker_url, name="idp-again")
    assert "making a signing key" not in again.log.read_text()
    assert f"<ds:X509Certificate>{certificate}</ds:X509Certificate>" in again.metadata_file.read_text()


def test_a_missing_sp_or_half_a_mounted_key_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = idp_env(tmp_path, free_port(), "unused")
    del env["BROKER_BASE_URL"]
    result = subprocess.run(["sh", str(IDP_START)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("BROKER_BASE_URL: the broker's public URL (or IDP_SP_ENTITY_ID and IDP_SP_ACS_URL)")
    )

    key_only = tmp_path / "mounted.key"
    key_only.write_text("not used")
    env = idp_env(tmp_path, free_port(), "http://127.0.0.1:1", IDP_SIGNING_KEY=str(key_only))
    result = subprocess.run(["sh", str(IDP_START)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"idp: cannot read {tmp_path / 'idp' / 'cert' / 'idp.crt'} "
        "(mount both IDP_SIGNING_KEY and IDP_SIGNING_CERT, or neither)"
    )


def offered_roles(html: str) -> set[str]:
    return set(re.findall(r'name="role_arn"[^>]*value="([^"]+)"', html)) | set(
        re.findall(r'value="([^"]+)"[^>]*name="role_arn"', html)
    )


def test_a_sign_in_through_the_idp_reaches_the_broker_started_as_compose_starts_it(
    tmp_path: Path, processes: Processes
) -> None:
    broker_port = free_port()
    broker_url = f"http://127.0.0.1:{broker_port}"
    idp = start_idp(processes, tmp_path, broker_url)  # before the set-up job, as compose orders them

    with postgres_schema() as database_url:
        env = base_env(tmp_path, database_url, BROKER_BASE_URL=broker_url, BROKER_PORT=str(broker_port))
        env["BROKER_DEMO"] = "true"  # as compose: the bundled demo IdP stays beside this one
        setup = run({**env, "BROKER_GENERATE_KEYS": "1"}, "setup")
        assert setup.returncode == 0, setup.stderr
        # The job runs the broker's Python, not the entrypoint: without the entrypoint's own variable.
        roles_env = {k: v for k, v in env.items() if k != "BROKER_DATABASE_WAIT_SECONDS"}
        roles = subprocess.run(
            [sys.executable, str(IDP_ROLES)], env=roles_env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert roles.returncode == 0, roles.stderr
        assert roles.stdout.strip() == (
            "idp-roles: IdpAdmin, IdpDeveloper, IdpReadOnly trust arn:aws:iam::123456789012:saml-provider/simplesamlphp"
        )
        again = subprocess.run(
            [sys.executable, str(IDP_ROLES)], env=roles_env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr  # idempotent, as a restarted job must be

        log = tmp_path / "broker.log"
        broker = processes.start(["sh", str(ENTRYPOINT)], env, log)
        wait_for(broker_port, broker, log)

        # The home page offers both providers: the IdP (it now has roles) and the bundled demo one.
        home = fetch(f"{broker_url}/")
        assert ">simplesamlphp</a>" in home and ">demo</a>" in home
        assert "at 127.0.0.1:" in home  # the IdP's host, from the metadata it wrote

        # alice is in admins and developers: the role page offers the three roles those groups map to.
        jar = http.cookiejar.CookieJar()
        form = http_login(f"{broker_url}/saml/login?provider=simplesamlphp", "alice", "alice-idp", cookie_jar=jar)
        assert form.action == f"{broker_url}/saml/acs"
        page = post_to_acs(form, jar)
        assert page.status == 200, page.body
        assert 'id="role-form"' in page.body
        assert offered_roles(page.body) == {
            f"{ROLE_PATH}IdpAdmin",
            f"{ROLE_PATH}IdpDeveloper",
            f"{ROLE_PATH}IdpReadOnly",
        }

        # bob, developers only: the two developer roles, not the admins'.
        jar = http.cookiejar.CookieJar()
        form = http_login(f"{broker_url}/saml/login?provider=simplesamlphp", "bob", "bob-idp", cookie_jar=jar)
        page = post_to_acs(form, jar)
        assert page.status == 200, page.body
        assert offered_roles(page.body) == {f"{ROLE_PATH}IdpDeveloper", f"{ROLE_PATH}IdpReadOnly"}

        # carol has no group: the IdP vouches for her, and the broker offers her nothing.
        jar = http.cookiejar.CookieJar()
        form = http_login(f"{broker_url}/saml/login?provider=simplesamlphp", "carol", "carol-idp", cookie_jar=jar)
        page = post_to_acs(form, jar)
        assert page.status == 403, page.body
        assert not offered_roles(page.body)

        # A wrong password never leaves the IdP.
        with pytest.raises(IdpLoginError, match="refused the credentials"):
            http_login(f"{broker_url}/saml/login?provider=simplesamlphp", "alice", "alice-demo")

        broker.send_signal(signal.SIGTERM)
        assert broker.wait(timeout=60) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    stop(idp)
