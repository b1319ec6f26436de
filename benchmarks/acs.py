"""ACS validation at engine speed: the broker's validator against pysaml2's default SP, then HTTP.

(a) In process, on the same signed responses: the broker's
:func:`broker.saml.acs.validate_response` (with the provider already at hand, as pysaml2 has its
metadata at hand), the same through :func:`broker.services.federation.providers.validate` (which
also looks the provider up in the database), and pysaml2's default SP,
``saml2.client.Saml2Client.parse_authn_request_response`` with its default ``xmlsec1`` backend,
the same IdP metadata and the same SP keys. Three kinds: signed assertion, signed response,
encrypted (signed) assertion. Each round builds fresh responses (fresh IDs) for every kind, and
each side validates each response once; rounds alternate the sides. Each rate is the median of
the rounds, each ratio the median of the rounds' ratios. Target: the broker >= 50x pysaml2.

(b) Over HTTP: ``POST /saml/acs`` answered by the role page, through a real ``broker serve``
process on loopback (SQLite, one worker unless ``--workers``), driven by ``--clients``
keep-alive connections, against the in-process validation rate of the same responses
(IdP-initiated, fresh IDs: the replay guard refuses a repeat). Target: >= 40%. The same rounds
also drive two bare ``GET /healthz`` per iteration through the same clients: the rate of requests
that do nothing, which bounds any sign-in made of two requests (the ceiling line).

Run: ``.venv/bin/python benchmarks/acs.py [--rounds 5] [--count 400] [--pysaml2-seconds 1.5]
[--http-count 400] [--clients 4] [--workers 1]``. Needs ``xmlsec1`` on the PATH (Debian package
``xmlsec1``) for the baseline. Nothing asserts on time; each ratio is printed with its target.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from saml2 import BINDING_HTTP_POST
from saml2 import __version__ as pysaml2_version
from saml2.client import Saml2Client
from saml2.config import SPConfig

from broker.crypto.keys import ensure_keys, generate_rsa_pair
from broker.saml.acs import AcsPolicy, ProviderTrust, validate_response
from broker.services.federation.providers import validate as validate_with_lookup
from broker.services.iam import providers, roles
from broker.services.runtime import Runtime
from broker.services.setup import initialise
from broker.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.metadata import idp_metadata_xml
from tests.support.saml_factory import (
    IDP_ENTITY_ID,
    REQUEST_ID,
    Confirmation,
    Encryption,
    ResponseOptions,
    Signer,
    response_b64,
)

ACCOUNT = "123456789012"
PROVIDER = "Corp"  # the factory's Role attribute pairs its roles with saml-provider/Corp
KINDS = ("signed assertion", "signed response", "encrypted assertion")
RATIO_TARGET = 50.0
HTTP_TARGET = 0.40


@dataclasses.dataclass(frozen=True)
class Setup:
    base_url: str
    workdir: Path
    settings: Settings
    signer: Signer
    sp_encryption_cert_pem: bytes
    policy: AcsPolicy
    trust: ProviderTrust
    metadata_file: Path
    sp_key_files: dict[str, str]  # pysaml2's configuration keys -> the broker's SP key files

    def responses(self, kind: str, count: int, solicited: bool = True) -> list[str]:
        """``count`` fresh responses of ``kind``: new IDs each, issued now."""
        acs_url = f"{self.base_url}/saml/acs"
        in_response_to = REQUEST_ID if solicited else None
        stamp = time.time_ns()
        base = ResponseOptions(
            now=dt.datetime.now(dt.UTC),
            destination=acs_url,
            in_response_to=in_response_to,
            confirmations=(Confirmation(recipient=acs_url),),
            audience_restrictions=((f"{self.base_url}/saml/metadata",),),
            sign_assertion=None if kind == "signed response" else self.signer,
            sign_response=self.signer if kind == "signed response" else None,
            encrypt=Encryption(self.sp_encryption_cert_pem) if kind == "encrypted assertion" else None,
        )
        return [
            response_b64(dataclasses.replace(base, response_id=f"_r{stamp}-{n}", assertion_id=f"_a{stamp}-{n}"))
            for n in range(count)
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(workdir: Path) -> Setup:
    """Keys, schema, the IdP registered as saml-provider/Corp, and two roles that trust it."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    certs = workdir / "certs"
    ensure_keys(certs, "benchmark")
    (workdir / "metadata").mkdir()
    settings = Settings(
        base_url=base_url,
        database_url=f"sqlite:///{workdir / 'broker.db'}",
        certs_dir=str(certs),
        metadata_dir=str(workdir / "metadata"),
        auto_select_single_role=False,
    )
    idp_key, idp_cert = generate_rsa_pair("idp.corp.example", key_size=2048)
    metadata = idp_metadata_xml(IDP_ENTITY_ID, idp_cert)
    metadata_file = workdir / "idp-metadata.xml"
    metadata_file.write_text(metadata)
    runtime = Runtime.from_settings(settings)
    initialise(runtime)
    provider_arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/{PROVIDER}"
    trust_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"saml:aud": settings.acs_url}},
                }
            ],
        }
    )
    with runtime.db.transaction() as tx:
        providers.create_saml_provider(tx, ACCOUNT, PROVIDER, metadata, None, runtime.now())
        for name in ("Admin", "ReadOnly"):
            roles.create_role(
                tx,
                ACCOUNT,
                name=name,
                trust_policy=trust_policy,
                path="/",
                description=f"{name} role",
                max_session_duration=3600,
                permissions_boundary=None,
                tags=None,
                now=runtime.now(),
            )
    keys = runtime.keys
    runtime.db.dispose()
    policy = AcsPolicy(
        acs_url=settings.acs_url,
        sp_entity_id=settings.sp_entity_id,
        decryption_keys=(keys.sp_encryption_key_pem,),
        clock_skew=dt.timedelta(seconds=settings.saml_clock_skew_seconds),
        max_bytes=settings.saml_max_response_bytes,
    )
    trust = ProviderTrust(arn=provider_arn, name=PROVIDER, entity_id=IDP_ENTITY_ID, signing_certs=(idp_cert,))
    sp_key_files = {
        "key_file": keys.sp_signing_key_file(),
        "cert_file": keys.sp_signing_cert_file(),
        "encryption_key_file": keys.sp_encryption_key_file(),
        "encryption_cert_file": keys.sp_encryption_cert_file(),
    }
    signer = Signer(idp_key, idp_cert)
    return Setup(
        base_url, workdir, settings, signer, keys.sp_encryption_cert_pem, policy, trust, metadata_file, sp_key_files
    )


def _pysaml2_client(setup: Setup) -> Saml2Client:
    """pysaml2's default SP: xmlsec1 backend, the same IdP metadata, the broker's SP keys."""
    files = setup.sp_key_files
    encryption = {"key_file": files["encryption_key_file"], "cert_file": files["encryption_cert_file"]}
    config = SPConfig()
    config.load(
        {
            "entityid": setup.settings.sp_entity_id,
            "key_file": files["key_file"],
            "cert_file": files["cert_file"],
            "encryption_keypairs": [encryption],
            "metadata": {"local": [str(setup.metadata_file)]},
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(setup.settings.acs_url, BINDING_HTTP_POST)]},
                    "want_assertions_or_response_signed": True,
                    "want_assertions_signed": False,
                    "want_response_signed": False,
                }
            },
        }
    )
    return Saml2Client(config)


def _timed(validate: Callable[[str], object], messages: list[str], budget: float | None = None) -> float:
    """Validations per second over ``messages`` (stopping after ``budget`` seconds, if given)."""
    count, started = 0, time.perf_counter()
    for message in messages:
        validate(message)
        count += 1
        if budget is not None and time.perf_counter() - started >= budget:
            break
    return count / (time.perf_counter() - started)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def in_process(setup: Setup, rounds: int, count: int, pysaml2_seconds: float) -> None:
    client = _pysaml2_client(setup)
    runtime = Runtime.from_settings(setup.settings)
    find = {IDP_ENTITY_ID: setup.trust}.get

    def broker(message: str) -> object:
        return validate_response(message, setup.policy, lambda issuer, _irt: find(issuer))

    def broker_with_lookup(message: str) -> object:
        with runtime.db.transaction() as tx:
            return validate_with_lookup(runtime, tx, message, runtime.now())

    def pysaml2(message: str) -> Any:
        response = client.parse_authn_request_response(message, BINDING_HTTP_POST, outstanding={REQUEST_ID: "/"})
        if response is None:
            raise RuntimeError("pysaml2 refused a good response")
        return response

    for kind in KINDS:  # both sides accept every kind, and read the same person
        message = setup.responses(kind, 1)[0]
        assertion, _ = validate_response(message, setup.policy, lambda issuer, _irt: find(issuer))
        name_id = pysaml2(message).assertion.subject.name_id.text
        assert assertion.subject == name_id == "alice@corp.example", (kind, name_id)

    rates: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    for round_number in range(rounds):
        for kind in KINDS:
            # One batch of fresh responses, split: each side validates each of its share once.
            messages = setup.responses(kind, 3 * count)
            sides: list[tuple[str, Callable[[str], object], list[str], float | None]] = [
                ("broker", broker, messages[:count], None),
                ("lookup", broker_with_lookup, messages[count : 2 * count], None),
                ("pysaml2", pysaml2, messages[2 * count :], pysaml2_seconds),
            ]
            if round_number % 2:
                sides.reverse()
            measured = {side: _timed(validate, share, budget) for side, validate, share, budget in sides}
            for side, rate in measured.items():
                rates.setdefault((kind, side), []).append(rate)
            for side in ("broker", "lookup"):
                ratios.setdefault((kind, side), []).append(measured[side] / measured["pysaml2"])
    runtime.db.dispose()

    print(
        f"(a) in-process validation, pysaml2 {pysaml2_version} default SP (xmlsec1) as baseline; "
        f"{rounds} interleaved rounds, median"
    )
    header = f"{'kind':<21}{'broker/s':>10}{'+lookup/s':>11}{'pysaml2/s':>11}{'ratio':>9}{'+lookup':>9}  target"
    print(header)
    for kind in KINDS:
        print(
            f"{kind:<21}{_median(rates[(kind, 'broker')]):>10,.0f}{_median(rates[(kind, 'lookup')]):>11,.0f}"
            f"{_median(rates[(kind, 'pysaml2')]):>11,.1f}{_median(ratios[(kind, 'broker')]):>8.0f}x"
            f"{_median(ratios[(kind, 'lookup')]):>8.0f}x  >= {RATIO_TARGET:.0f}x"
        )


@contextmanager
def running_broker(setup: Setup, workers: int) -> Iterator[str]:
    """``broker serve`` in its own process on the setup's port; yields the base URL."""
    env = {
        **os.environ,
        "BROKER_BASE_URL": setup.base_url,
        "BROKER_DATABASE_URL": setup.settings.database_url,
        "BROKER_CERTS_DIR": setup.settings.certs_dir,
        "BROKER_METADATA_DIR": setup.settings.metadata_dir,
        "BROKER_AUTO_SELECT_SINGLE_ROLE": "false",
        "BROKER_LOG_LEVEL": "WARNING",
        # One address sends every sign-in: a budget far above what it can send, so the limiter is
        # measured but never refuses (the default stops a flood at 20/s). No access log line each.
        "BROKER_RATE_LIMITS": "saml=1000000/s:1000000",
        "BROKER_ACCESS_LOG": "false",
    }
    port = urllib.parse.urlsplit(setup.base_url).port
    command = [shutil.which("broker") or str(Path(sys.executable).parent / "broker"), "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log = open(setup.workdir / "serve.log", "w")  # noqa: SIM115  (closed below)
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"broker serve did not start: {(setup.workdir / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield setup.base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _drive(
    base_url: str, items: list[str], clients: int, step: Callable[[http.client.HTTPConnection, str], str | None]
) -> float:
    """Items per second: ``clients`` keep-alive connections share ``items``, each taken by one
    ``step`` (which returns a failure, or None)."""
    parts = urllib.parse.urlsplit(base_url)
    pending = iter(items)
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                break
            failure = step(connection, item)
            if failure is not None:
                failures.append(failure)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(items)} did not succeed; first: {failures[0]}")
    return len(items) / elapsed


def _sign_in(connection: http.client.HTTPConnection, message: str) -> str | None:
    """Post one response to the ACS and follow its redirect to the role page, which must offer roles."""
    body = urllib.parse.urlencode({"SAMLResponse": message})
    connection.request("POST", "/saml/acs", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    page = response.read().decode()
    if response.status != 303 or response.getheader("Location") != "/saml/roles":
        return f"{response.status}: {page[:300]}"
    # The ACS answers 303 to the role page (post/redirect/get); the browser follows it.
    cookies = "; ".join(c.split(";", 1)[0] for c in response.msg.get_all("Set-Cookie") or [])
    connection.request("GET", "/saml/roles", headers={"Cookie": cookies})
    response = connection.getresponse()
    page = response.read().decode()
    if response.status != 200 or 'id="role-form"' not in page:
        return f"{response.status}: {page[:300]}"
    return None


def _bare_pair(connection: http.client.HTTPConnection, _item: str) -> str | None:
    """Two ``GET /healthz`` on one connection: what two requests cost this server and client when
    the requests do nothing (the ceiling of any sign-in that takes two requests)."""
    for _ in range(2):
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            return f"healthz: {response.status}"
    return None


def over_http(setup: Setup, rounds: int, count: int, clients: int, workers: int) -> None:
    kind = "signed assertion"
    find = {IDP_ENTITY_ID: setup.trust}.get

    def broker(message: str) -> object:
        return validate_response(message, setup.policy, lambda issuer, _irt: find(issuer))

    http_rates, local_rates, ratios, bare_rates, ceilings = [], [], [], [], []
    with running_broker(setup, workers) as base_url:
        _drive(base_url, setup.responses(kind, 20, solicited=False), clients, _sign_in)  # warm up
        for _ in range(rounds):
            local = _timed(broker, setup.responses(kind, count, solicited=False))
            remote = _drive(base_url, setup.responses(kind, count, solicited=False), clients, _sign_in)
            bare = _drive(base_url, [""] * count, clients, _bare_pair)
            local_rates.append(local)
            http_rates.append(remote)
            ratios.append(remote / local)
            bare_rates.append(bare)
            # The sign-in must also validate: add that CPU to the bare pair's, spread over the
            # workers as if it parallelized perfectly (so this is still an upper bound).
            ceilings.append((bare / local, 1 / (1 / bare + 1 / (local * workers)) / local))
    served = f"{workers} worker{'s' if workers > 1 else ''}"
    print(
        f"(b) HTTP: POST /saml/acs -> role page, `broker serve` ({served}, SQLite) on loopback, "
        f"{clients} keep-alive clients; {kind}, IdP-initiated; {rounds} interleaved rounds, median"
    )
    print(
        f"    in-process validation {_median(local_rates):,.0f}/s, HTTP sign-ins {_median(http_rates):,.0f}/s: "
        f"{_median(ratios):.0%} of in-process (target >= {HTTP_TARGET:.0%})"
    )
    print(
        f"    ceiling: two bare requests (GET /healthz twice, same clients) {_median(bare_rates):,.0f}/s: "
        f"{_median([c[0] for c in ceilings]):.0%} of in-process; with the validation's own CPU added: "
        f"{_median([c[1] for c in ceilings]):.0%}. A sign-in takes two requests and a validation, so none "
        "can do better"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median is printed)")
    parser.add_argument("--count", type=int, default=400, help="responses per kind per round for the broker sides")
    parser.add_argument("--pysaml2-seconds", type=float, default=1.5, help="time for pysaml2 per kind per round")
    parser.add_argument("--http-count", type=int, default=400, help="sign-ins per HTTP round")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP connections")
    parser.add_argument("--workers", type=int, default=1, help="`broker serve --workers`")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    arguments = parser.parse_args()
    if arguments.rounds < 3:
        parser.error("--rounds must be at least 3")
    if not arguments.skip_in_process and shutil.which("xmlsec1") is None:
        parser.error("pysaml2's default SP needs xmlsec1 on the PATH (apt-get install xmlsec1)")
    logging.getLogger("saml2").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="acs-bench-") as workdir:
        setup = _prepare(Path(workdir))
        if not arguments.skip_in_process:
            in_process(setup, arguments.rounds, arguments.count, arguments.pysaml2_seconds)
        if not arguments.skip_http:
            over_http(setup, arguments.rounds, arguments.http_count, arguments.clients, arguments.workers)


if __name__ == "__main__":
    main()
