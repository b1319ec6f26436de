"""IdP metadata fetched from a URL: registration from metadata/NAME.url, the schedule, key
rollover, failures kept out of the way, and the documents and URLs that are refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from broker.crypto.keys import generate_rsa_pair
from broker.saml.xmldsig import sign_enveloped
from broker.services.audit.worker import AuditWorker
from broker.services.federation import metadata_refresh
from broker.services.federation.metadata_refresh import MetadataFetchFailed, refresh_due
from broker.services.federation.providers import trust_from
from broker.services.health import readiness
from broker.services.runtime import Runtime
from broker.services.setup import SetupError, sync_metadata_dir
from broker.store import federation as federation_store
from broker.store.iam import providers as provider_store
from broker.store.models.audit import AuditDigest, AuditEvent
from tests.support.brokers import make_runtime, make_settings
from tests.support.metadata import idp_metadata_xml

ACCOUNT = "123456789012"
ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"
ENTITY = "https://idp.corp.example/metadata"
START = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class MetadataServer:
    """Serves one document at ``/md`` on 127.0.0.1; counts the requests."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.location: str | None = None
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(server.status)
                if server.location:
                    self.send_header("Location", server.location)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/md"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve(self, xml: str) -> None:
        self.body, self.status = xml.encode(), 200


class Dribbler:
    """An http server on 127.0.0.1 that answers a byte at a time, each well within the per-read
    timeout, for ever: in its headers, or in its body. ``closed`` is set when the broker hangs up."""

    def __init__(self, where: str) -> None:
        self.stop = threading.Event()
        self.asked = threading.Event()
        self.closed = threading.Event()
        dribbler = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                dribbler.asked.set()
                try:
                    if where == "headers":
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    else:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                    while not dribbler.stop.wait(0.1):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                except OSError:
                    dribbler.closed.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/md"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class TlsRedirect:
    """An https server on 127.0.0.1 (its certificate in ``ca_file``) that answers 302 to ``location``."""

    def __init__(self, directory: Path, location: str) -> None:
        key_pem, cert_pem = _loopback_tls_pair()
        (directory / "tls-key.pem").write_bytes(key_pem)
        self.ca_file = directory / "tls-cert.pem"
        self.ca_file.write_bytes(cert_pem)
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, directory / "tls-key.pem")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/metadata"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _loopback_tls_pair() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[MetadataServer]:
    md = MetadataServer()
    md.thread.start()
    yield md
    md.httpd.shutdown()
    md.httpd.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(tmp_path: Path, keys_dir: Path, database_url: str, base_url: str, clock: Clock) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(tmp_path, keys_dir, database_url, base_url))
    runtime = replace(runtime, clock=clock)
    yield runtime
    runtime.db.dispose()


def cert() -> tuple[bytes, bytes]:
    return generate_rsa_pair("corp idp", key_size=2048)


def metadata(cert_pem: bytes, *, valid_until: dt.datetime | None = None, cache: str | None = None) -> str:
    xml = idp_metadata_xml(ENTITY, cert_pem)
    attributes = ""
    if valid_until is not None:
        attributes += f' validUntil="{valid_until.strftime("%Y-%m-%dT%H:%M:%SZ")}"'
    if cache is not None:
        attributes += f' cacheDuration="{cache}"'
    return xml.replace(f'entityID="{ENTITY}"', f'entityID="{ENTITY}"{attributes}')


def at_the_calendars_edge(xml: str) -> str:
    """``xml`` with a validUntil that is valid xs:dateTime text but past the calendar's end in UTC."""
    return xml.replace(f'entityID="{ENTITY}"', f'entityID="{ENTITY}" validUntil="9999-12-31T23:59:59-14:00"')


def signed(xml: str, key_pem: bytes, cert_pem: bytes) -> str:
    root = etree.fromstring(xml.replace(f'entityID="{ENTITY}"', f'ID="md1" entityID="{ENTITY}"').encode())
    document: bytes = etree.tostring(sign_enveloped(root, key_pem, cert_pem))
    return document.decode()


def write_url_file(rt: Runtime, text: str, name: str = "corp") -> Path:
    path = Path(rt.settings.metadata_dir) / f"{name}.url"
    path.write_text(text)
    return path


def register(rt: Runtime, server: MetadataServer, pin: Path | None = None) -> None:
    text = f"# corp's IdP\nurl = {server.url}\n" + (f"pin = {pin}\n" if pin else "")
    write_url_file(rt, text)
    assert sync_metadata_dir(rt) == ["corp"]


def source(rt: Runtime) -> provider_store.MetadataSource:
    with rt.db.read() as tx:
        found = provider_store.metadata_source(tx, ARN)
    assert found is not None
    return found


def signing_certs(rt: Runtime) -> tuple[bytes, ...]:
    with rt.db.read() as tx:
        record = federation_store.provider_by_arn(tx, ARN)
    assert record is not None
    return trust_from(record, rt.settings).signing_certs_at(rt.now())


def events(rt: Runtime, name: str) -> list[dict[str, Any]]:
    with rt.db.read() as tx:
        rows = tx.scalars(select(AuditEvent).where(AuditEvent.event_name == name).order_by(AuditEvent.seq))
        return [row.record for row in rows]


def test_a_url_file_registers_the_provider_from_its_url(rt: Runtime, server: MetadataServer, clock: Clock) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    state = source(rt)
    assert state.metadata_url == server.url
    assert state.last_fetch_at == START
    assert state.next_fetch_at == START + dt.timedelta(hours=1)  # the refresh setting's default
    assert signing_certs(rt) == (cert_pem,)
    assert sync_metadata_dir(rt) == []  # idempotent: nothing fetched again, nothing changed
    assert server.requests == 1
    assert refresh_due(rt) == []  # not due yet


def test_rollover_keeps_the_old_certificate_for_the_grace_period(
    rt: Runtime, server: MetadataServer, clock: Clock
) -> None:
    _old_key, old_cert = cert()
    server.serve(metadata(old_cert))
    register(rt, server)
    _new_key, new_cert = cert()
    server.serve(metadata(new_cert))
    clock.now = START + dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)
    assert (outcome.changed, outcome.error) == (True, None)
    assert signing_certs(rt) == (new_cert, old_cert)  # the old key still verifies responses in flight
    [event] = events(rt, "MetadataRefreshed")
    assert event["requestParameters"]["providerArn"] == ARN
    assert event["requestParameters"]["retiredCertificates"] == 1
    # The grace period (a day) ends: the old certificate goes at the worker's next pass.
    clock.now = START + dt.timedelta(hours=1, days=1, seconds=1)
    refresh_due(rt)
    assert signing_certs(rt) == (new_cert,)


def test_no_grace_period_drops_the_old_certificate_at_once(rt: Runtime, server: MetadataServer, clock: Clock) -> None:
    rt = replace(rt, settings=replace(rt.settings, saml_metadata_rollover_grace_seconds=0))
    _key, old_cert = cert()
    server.serve(metadata(old_cert))
    register(rt, server)
    _key, new_cert = cert()
    server.serve(metadata(new_cert))
    clock.now = START + dt.timedelta(hours=1)
    refresh_due(rt)
    assert signing_certs(rt) == (new_cert,)


def test_a_failed_fetch_keeps_the_last_good_metadata_backs_off_and_shows_in_readyz(
    rt: Runtime, server: MetadataServer, clock: Clock
) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    assert readiness(rt).checks["metadata"] == "ok"
    server.status, server.body = 500, b"down"
    clock.now = START + dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)
    assert outcome.error == "HTTP error: status 500"
    assert outcome.next_fetch_at == clock.now + dt.timedelta(seconds=60)
    assert signing_certs(rt) == (cert_pem,)
    state = readiness(rt)
    assert state.ready  # one IdP's trouble does not take the broker out of the load balancer
    assert state.checks["metadata"] == "degraded: refresh failing (corp)"
    [event] = events(rt, "MetadataRefreshFailed")
    assert event["requestParameters"] == {"providerArn": ARN, "reason": "HTTP error", "failures": 1}
    clock.now = outcome.next_fetch_at
    [again] = refresh_due(rt)
    assert again.next_fetch_at == clock.now + dt.timedelta(seconds=120)  # doubled
    server.serve(metadata(cert_pem))
    clock.now = again.next_fetch_at
    [recovered] = refresh_due(rt)
    assert (recovered.changed, recovered.error) == (False, None)
    assert readiness(rt).checks["metadata"] == "ok"
    assert source(rt).fetch_failures == 0


def test_an_unexpected_error_after_the_claim_is_a_recorded_failure_that_backs_off(
    rt: Runtime, server: MetadataServer, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)

    def store_fails(*args: object, **kwargs: object) -> None:
        raise OverflowError("date value out of range")  # as a validUntil past 9999 in UTC did

    monkeypatch.setattr(metadata_refresh.iam_providers, "update_saml_provider_metadata", store_fails)
    server.serve(metadata(cert()[1]))
    clock.now = START + dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)  # it was only logged, and fetched again when the claim ran out
    assert outcome.error == "internal error: OverflowError"
    assert outcome.next_fetch_at == clock.now + dt.timedelta(seconds=60)
    assert (source(rt).fetch_failures, source(rt).next_fetch_at) == (1, outcome.next_fetch_at)
    assert signing_certs(rt) == (cert_pem,)
    assert readiness(rt).checks["metadata"] == "degraded: refresh failing (corp)"
    [event] = events(rt, "MetadataRefreshFailed")
    assert event["requestParameters"] == {"providerArn": ARN, "reason": "internal error", "failures": 1}


def test_expired_metadata_with_a_failing_fetch_is_reported_expired(
    rt: Runtime, server: MetadataServer, clock: Clock
) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem, valid_until=START + dt.timedelta(hours=4)))
    register(rt, server)
    assert source(rt).next_fetch_at == START + dt.timedelta(hours=1)
    server.status, server.body = 404, b""
    clock.now = START + dt.timedelta(hours=5)
    refresh_due(rt)
    assert readiness(rt).checks["metadata"] == "degraded: expired (corp)"


@pytest.mark.parametrize(
    ("valid_for", "cache", "expected"),
    [
        (None, "PT10M", dt.timedelta(minutes=10)),
        (dt.timedelta(hours=1), None, dt.timedelta(minutes=30)),  # half the time left
        (None, "P2D", dt.timedelta(hours=1)),  # never longer than the refresh setting
        (None, "PT1S", dt.timedelta(minutes=1)),  # never shorter than a minute
    ],
)
def test_the_next_fetch_honours_cache_duration_and_valid_until(
    rt: Runtime, server: MetadataServer, valid_for: dt.timedelta | None, cache: str | None, expected: dt.timedelta
) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem, valid_until=START + valid_for if valid_for else None, cache=cache))
    register(rt, server)
    assert source(rt).next_fetch_at == START + expected


def test_one_fetch_per_due_time_across_processes(
    rt: Runtime, server: MetadataServer, clock: Clock, tmp_path: Path, keys_dir: Path, base_url: str
) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    other = replace(Runtime.from_settings(rt.settings), clock=clock)  # a second instance on the same database
    try:
        clock.now = START + dt.timedelta(hours=1)
        first = metadata_refresh.refresh_provider(rt, ARN)
        second = metadata_refresh.refresh_provider(other, ARN)
        assert first is not None and second is None
        assert server.requests == 2  # registration, then one refresh
    finally:
        other.db.dispose()


def test_a_pinned_provider_accepts_only_metadata_signed_with_the_pin(
    rt: Runtime, server: MetadataServer, clock: Clock, tmp_path: Path
) -> None:
    signer_key, signer_cert = cert()
    pin = tmp_path / "signer.pem"
    pin.write_bytes(signer_cert)
    _key, cert_pem = cert()
    server.serve(signed(metadata(cert_pem), signer_key, signer_cert))
    register(rt, server, pin=pin)
    assert source(rt).metadata_pin == signer_cert.decode()
    other_key, other_cert = cert()
    _key, rogue_cert = cert()
    for document in (metadata(rogue_cert), signed(metadata(rogue_cert), other_key, other_cert)):
        server.serve(document)
        clock.now += dt.timedelta(hours=1)
        [outcome] = refresh_due(rt)
        assert outcome.error is not None and outcome.error.startswith("signature not verified")
        assert signing_certs(rt) == (cert_pem,)
    # A signed document whose content was changed after signing.
    tampered = signed(metadata(cert_pem), signer_key, signer_cert).replace(
        "https://idp.example/sso", "https://evil.example/sso"
    )
    server.serve(tampered)
    clock.now += dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)
    assert outcome.error is not None and outcome.error.startswith("signature not verified")


def test_a_pinned_url_file_refuses_unsigned_metadata_at_registration(
    rt: Runtime, server: MetadataServer, tmp_path: Path
) -> None:
    _signer_key, signer_cert = cert()
    pin = tmp_path / "signer.pem"
    pin.write_bytes(signer_cert)
    server.serve(metadata(cert()[1]))
    write_url_file(rt, f"url = {server.url}\npin = {pin}\n")
    with pytest.raises(SetupError, match="signature not verified: metadata is not signed"):
        sync_metadata_dir(rt)


def test_a_document_naming_another_entity_is_refused(rt: Runtime, server: MetadataServer, clock: Clock) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    server.serve(idp_metadata_xml("https://other.example/idp", cert()[1]))
    clock.now += dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)
    assert outcome.error == "entity ID changed: the document names 'https://other.example/idp'"
    assert signing_certs(rt) == (cert_pem,)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><md:EntityDescriptor '
            'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&e;"/>',
            "unacceptable metadata",
        ),
        ("x" * (1024 * 1024 + 1), "too large"),
        ("\udcff", "not UTF-8"),
        ("expired", "expired"),
        # A validUntil with no UTC equivalent: the refresh failed unrecorded and silently, every 2 min.
        ("edge of the calendar", "unacceptable metadata"),
    ],
)
def test_refused_documents_keep_the_last_good_metadata(
    rt: Runtime, server: MetadataServer, clock: Clock, body: str, reason: str
) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    clock.now += dt.timedelta(hours=1)
    if body == "expired":
        server.serve(metadata(cert()[1], valid_until=clock.now - dt.timedelta(seconds=1)))
    elif body == "edge of the calendar":
        server.serve(at_the_calendars_edge(metadata(cert()[1])))
    else:
        server.body = body.encode("utf-8", "surrogateescape")
    [outcome] = refresh_due(rt)
    assert outcome.error is not None and outcome.error.split(":")[0] == reason
    assert signing_certs(rt) == (cert_pem,)
    assert events(rt, "MetadataRefreshFailed")[0]["requestParameters"]["reason"] == reason


def test_a_redirect_to_plain_http_elsewhere_is_not_followed(rt: Runtime, server: MetadataServer, clock: Clock) -> None:
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    server.status, server.body, server.location = 302, b"", "http://idp.example/md"
    clock.now += dt.timedelta(hours=1)
    [outcome] = refresh_due(rt)
    assert (
        outcome.error
        == "redirected to a URL that is not allowed: must be https (plain http only to a loopback address)"
    )
    assert (
        events(rt, "MetadataRefreshFailed")[0]["requestParameters"]["reason"]
        == "redirected to a URL that is not allowed"
    )


@pytest.mark.parametrize(
    ("url", "target", "problem"),
    [
        ("https://idp.example/md", "https://idp.example/other/md", None),
        ("https://idp.example/md", "https://idp.example:8443/md", None),  # the same host: the IdP's
        ("http://127.0.0.1:8080/md", "http://127.0.0.1:9090/md", None),  # configured as plain http to loopback
        ("http://127.0.0.1:8080/md", "https://127.0.0.1/md", None),
        ("https://idp.example/md", "http://127.0.0.1:6379/", "leaves https"),  # the review's blind SSRF
        ("https://127.0.0.2/md", "http://127.0.0.2/admin", "leaves https"),
        ("https://idp.example/md", "https://127.0.0.1/admin", "leaves the host"),
        ("https://idp.example/md", "https://169.254.169.254/latest/meta-data/", "leaves the host"),
        ("https://idp.example/md", "https://10.0.0.7/md", "leaves the host"),
        ("https://idp.example/md", "https://cdn.idp.example/md", "leaves the host"),
        ("http://127.0.0.1/md", "http://localhost/md", "leaves the host"),
        ("https://idp.example/md", "http://idp.example/md", "must be https (plain http only to a loopback address)"),
        ("https://idp.example/md", "https://user:pw@idp.example/md", "must not carry credentials"),
    ],
)
def test_redirects_stay_on_the_host_and_on_https(url: str, target: str, problem: str | None) -> None:
    assert metadata_refresh.redirect_problem(url, target) == problem


def test_an_https_url_cannot_redirect_the_broker_to_plain_http_on_its_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The review's blind SSRF: the IdP's https URL answered 302 to a loopback service of the broker's host.
    internal = MetadataServer()  # stands in for an admin console bound to 127.0.0.1
    internal.thread.start()
    idp = TlsRedirect(tmp_path, internal.url + "?confirm=yes")
    monkeypatch.setenv("SSL_CERT_FILE", str(idp.ca_file))
    try:
        with pytest.raises(MetadataFetchFailed, match=r"^redirected to a URL that is not allowed: leaves https$"):
            metadata_refresh.fetch_metadata(idp.url)
        assert idp.requests == 1
        assert internal.requests == 0
    finally:
        idp.close()
        internal.httpd.shutdown()
        internal.httpd.server_close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("url = http://idp.example/md\n", r"url must be https \(plain http only to a loopback address\)"),
        ("url = ftp://127.0.0.1/md\n", "url must be https"),
        ("url = https://user:pw@idp.example/md\n", "url must not carry credentials"),
        ("pin = x.pem\n", "has no `url = ...` line"),
        ("url = https://idp.example/md\nurl = https://idp.example/other\n", "line 2: url is given twice"),
        ("https://idp.example/md\n", "line 1: expected `url = URL` or `pin = PEM file`"),
        ("url = https://idp.example/md\npin = missing.pem\n", "pin: .*missing.pem cannot be read"),
    ],
)
def test_bad_url_files_are_refused_with_the_reason(rt: Runtime, text: str, message: str) -> None:
    path = write_url_file(rt, text)
    with pytest.raises(SetupError, match="^" + re.escape(f"{path}: ") + message):
        sync_metadata_dir(rt)


def test_a_pin_that_is_not_a_certificate_is_refused(rt: Runtime) -> None:
    (Path(rt.settings.metadata_dir) / "pin.pem").write_text("not a certificate")
    write_url_file(rt, "url = https://idp.example/md\npin = pin.pem\n")
    with pytest.raises(SetupError, match=r"pin: .*pin\.pem is not a PEM X\.509 certificate"):
        sync_metadata_dir(rt)


def test_an_xml_file_and_a_url_file_for_one_provider_are_refused(rt: Runtime) -> None:
    directory = Path(rt.settings.metadata_dir)
    (directory / "corp.xml").write_text(metadata(cert()[1]))
    write_url_file(rt, "url = https://idp.example/md\n")
    with pytest.raises(SetupError, match=r"corp\.url names a metadata URL for the same provider"):
        sync_metadata_dir(rt)


def test_a_valid_until_without_a_utc_time_at_registration_is_a_setup_error(rt: Runtime, server: MetadataServer) -> None:
    server.serve(at_the_calendars_edge(metadata(cert()[1])))
    write_url_file(rt, f"url = {server.url}\n")
    with pytest.raises(SetupError, match="unacceptable metadata: validUntil is out of range"):
        sync_metadata_dir(rt)  # was a StatementError traceback (OverflowError as it was stored)


def test_an_unreachable_url_at_registration_is_a_setup_error(rt: Runtime, server: MetadataServer) -> None:
    server.httpd.shutdown()
    server.httpd.server_close()
    write_url_file(rt, f"url = {server.url}\n")
    with pytest.raises(SetupError, match="unreachable"):
        sync_metadata_dir(rt)


def test_fetch_refuses_urls_the_file_would_refuse() -> None:
    with pytest.raises(MetadataFetchFailed, match="URL not allowed"):
        metadata_refresh.fetch_metadata("http://10.0.0.1/md")


def test_the_background_worker_runs_the_refresh(rt: Runtime, server: MetadataServer, clock: Clock) -> None:
    _key, old_cert = cert()
    server.serve(metadata(old_cert))
    register(rt, server)
    _key, new_cert = cert()
    server.serve(metadata(new_cert))
    worker = AuditWorker(rt)
    worker.refresh_metadata(clock.now)  # not due yet
    assert signing_certs(rt) == (old_cert,)
    clock.now = START + dt.timedelta(hours=1)
    worker.refresh_metadata(clock.now)
    assert signing_certs(rt) == (new_cert, old_cert)


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_fetch_ends_at_its_deadline_however_slowly_the_server_answers(where: str) -> None:
    # A byte every 0.1 s never trips the 10 s per-read timeout: the fetch had no end at all.
    dribbler = Dribbler(where)
    try:
        started = time.monotonic()
        with pytest.raises(MetadataFetchFailed, match=r"^too slow: no whole answer within 1 s$"):
            metadata_refresh.fetch_metadata(dribbler.url, deadline=dt.timedelta(seconds=1))
        assert time.monotonic() - started < 3
        assert dribbler.closed.wait(5)  # the fetch itself ended: its connection was cut, not left running
    finally:
        dribbler.close()
    assert metadata_refresh.FETCH_DEADLINE * 2 < metadata_refresh.CLAIM_LEASE  # no second claim mid-fetch


def test_a_slow_idp_does_not_hold_up_the_audit_digests(
    tmp_path: Path, keys_dir: Path, sqlite_url: str, base_url: str, server: MetadataServer
) -> None:
    # The review's stall: the fetch ran on the thread that writes digests, which then wrote none.
    settings = make_settings(tmp_path, keys_dir, sqlite_url, base_url, audit_digest_interval_seconds=1)
    rt = make_runtime(settings)  # the real clock: digests fall due as time passes
    dribbler = Dribbler("body")
    worker = AuditWorker(rt)
    try:
        server.serve(metadata(cert()[1]))
        register(rt, server)
        with rt.db.transaction() as tx:  # the IdP's URL now answers slowly, and a fetch is due
            provider_store.set_metadata_source(tx, ARN, url=dribbler.url, pin=None, next_fetch_at=rt.now())
        worker._tick = 0.1
        worker.start(seal_at_exit=False)
        assert dribbler.asked.wait(10)
        before = digest_count(rt)
        time.sleep(2.5)
        assert digest_count(rt) > before  # written while the fetch hangs
        assert not dribbler.closed.is_set()  # (it still does)
    finally:
        dribbler.close()
        worker.stop(final_digest=False)
        rt.db.dispose()


def digest_count(rt: Runtime) -> int:
    with rt.db.read() as tx:
        return len(tx.scalars(select(AuditDigest)).all())


def test_the_refresh_state_is_in_the_metrics(rt: Runtime, server: MetadataServer, clock: Clock) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from broker.web.app import create_app

    client = create_app(runtime=rt).test_client()  # scraped from loopback: allowed

    def gauges() -> dict[str, float]:
        scraped = client.get("/metrics")
        assert scraped.status_code == 200
        families = text_string_to_metric_families(scraped.text)
        return {f.name: s.value for f in families for s in f.samples if s.labels.get("provider") == ARN}

    assert gauges() == {}  # no provider from a URL yet: no series
    _key, cert_pem = cert()
    server.serve(metadata(cert_pem))
    register(rt, server)
    clock.now = START + dt.timedelta(minutes=30)
    assert gauges() == {
        "broker_saml_metadata_age_seconds": 1800.0,
        "broker_saml_metadata_refresh_failing": 0.0,
        "broker_saml_metadata_expired": 0.0,
    }
    server.status, server.body = 500, b"down"
    clock.now = START + dt.timedelta(hours=1)
    refresh_due(rt)
    assert gauges()["broker_saml_metadata_refresh_failing"] == 1.0
