"""What `broker doctor` checks: one finding per check, each with what to do about it.

Unlike ``/readyz`` (which a stranger may read, so it names no address or file), these findings
are for the operator at the broker's own terminal: they name files, URLs and dates.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509

from broker.crypto.keys import SP_ENCRYPTION, SP_SIGNING, missing_key_files
from broker.errors import DatabaseUnavailable
from broker.saml.errors import SamlError
from broker.saml.metadata import parse_idp_metadata
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.store import federation as federation_store

Status = Literal["ok", "warn", "fail"]

# A certificate this close to its end fails the check: sign-ins stop when it ends.
CERT_FAILS_WITHIN = dt.timedelta(days=7)
CERT_WARNS_WITHIN = dt.timedelta(days=30)
# Clocks further apart than this get a warning; past saml_clock_skew_seconds, a failure.
CLOCK_WARNS_OVER = dt.timedelta(seconds=5)
BASE_URL_TIMEOUT_SECONDS = 5.0
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


def configuration(settings: Settings, config_file: str | None) -> Iterator[Finding]:
    source = config_file or "defaults and BROKER_* variables"
    yield Finding("configuration", "ok", f"loaded from {source}; base_url {settings.base_url}")
    host = settings.base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if settings.base_url.startswith("http://") and host not in _LOOPBACK_HOSTS:
        yield Finding(
            "tls",
            "warn",
            f"base_url {settings.base_url} is plain HTTP: session cookies and credentials cross the network in clear",
            "serve the broker behind a reverse proxy that terminates TLS and set BROKER_BASE_URL=https://... "
            "(docs/deployment.md)",
        )
    if settings.demo and host not in _LOOPBACK_HOSTS:
        yield Finding(
            "demo",
            "fail",
            "demo mode is on: anyone can sign in with the demo IdP's published passwords",
            "set demo = false (BROKER_DEMO=false)",
        )


def key_files(settings: Settings) -> Iterator[Finding]:
    directory = Path(settings.certs_dir)
    missing = missing_key_files(directory)
    if missing:
        yield Finding(
            "keys",
            "fail",
            f"missing in {directory}/: {', '.join(missing)}",
            "run `broker init` (or mount the key files every instance shares)",
        )
        return
    loose = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix not in (".crt", ".md") and path.stat().st_mode & 0o077:
            loose.append(path)
    directory_mode = stat.S_IMODE(directory.stat().st_mode)
    if directory_mode & 0o022:
        yield Finding(
            "key permissions",
            "fail",
            f"{directory}/ is writable by others (mode {directory_mode:04o}): they could replace the keys",
            f"chmod 700 {directory}",
        )
    if loose:
        modes = ", ".join(f"{p.name} ({stat.S_IMODE(p.stat().st_mode):04o})" for p in loose)
        yield Finding(
            "key permissions",
            "fail",
            f"private key files readable by others: {modes}",
            f"chmod 600 {' '.join(str(p) for p in loose)}",
        )
    elif not directory_mode & 0o022:
        yield Finding("key permissions", "ok", f"private key files in {directory}/ are owner-only")
    for stem in (SP_SIGNING, SP_ENCRYPTION):
        cert_path = directory / f"{stem}.crt"
        yield certificate_expiry(
            f"SP certificate {stem}", cert_path.read_bytes(), "run `broker keys rotate --sp-certificate`", now()
        )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def certificate_expiry(check: str, pem: bytes, fix: str, moment: dt.datetime) -> Finding:
    try:
        ends = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    except ValueError:
        return Finding(check, "fail", "the certificate cannot be read", fix)
    left = ends - moment
    stamp = ends.strftime("%Y-%m-%d %H:%M UTC")
    if left <= dt.timedelta(0):
        return Finding(check, "fail", f"expired {stamp}", fix)
    if left <= CERT_FAILS_WITHIN:
        return Finding(check, "fail", f"expires {stamp}, in {_days(left)}", fix)
    if left <= CERT_WARNS_WITHIN:
        return Finding(check, "warn", f"expires {stamp}, in {_days(left)}", fix)
    return Finding(check, "ok", f"valid until {stamp}")


def _days(left: dt.timedelta) -> str:
    days = left.days
    return f"{days} days" if days != 1 else "1 day" if days else "less than a day"


def database(runtime: Runtime) -> Finding:
    url = runtime.settings.database_url
    shown = url.split("@", 1)[-1] if "@" in url else url  # never the password
    try:
        current, head = runtime.db.schema_revisions()
    except DatabaseUnavailable as exc:
        return Finding(
            "database",
            "fail",
            f"cannot reach {shown}: {exc.message}",
            "start the database, and check host, port, user and password in database_url (BROKER_DATABASE_URL)",
        )
    if current is None:
        return Finding("database", "fail", f"{shown} has no broker schema", "run `broker init`")
    if current < head:
        return Finding(
            "database",
            "fail",
            f"{shown} is at schema {current}, this broker needs {head}",
            "run `broker init` to apply the migrations (back up the database first)",
        )
    if current > head:
        return Finding(
            "database",
            "warn",
            f"{shown} is at schema {current}, newer than this broker's {head}",
            "upgrade this broker to the version that migrated the database",
        )
    return Finding("database", "ok", f"{shown} reachable, schema {current} (newest)")


def database_clock(runtime: Runtime) -> dt.datetime:
    """The database server's clock (for PostgreSQL, the other machine's; for SQLite, this one's)."""
    return runtime.db.server_time()


def clock_skew(runtime: Runtime, server_clock: Callable[[Runtime], dt.datetime] = database_clock) -> Finding:
    try:
        theirs = server_clock(runtime)
    except DatabaseUnavailable:
        return Finding("clock", "fail", "cannot read the database server's clock", "see the database check")
    ours = runtime.now()
    skew = ours - theirs
    seconds = abs(skew.total_seconds())
    which = "ahead of" if skew > dt.timedelta(0) else "behind"
    allowed = runtime.settings.saml_clock_skew_seconds
    fix = "synchronise both machines' clocks with NTP (chrony or systemd-timesyncd)"
    if seconds > allowed:
        detail = (
            f"this host is {seconds:.0f} s {which} the database server: more than saml_clock_skew_seconds "
            f"({allowed}), so assertions and sessions expire at the wrong time"
        )
        return Finding("clock", "fail", detail, fix)
    if skew.__abs__() > CLOCK_WARNS_OVER:
        return Finding("clock", "warn", f"this host is {seconds:.0f} s {which} the database server", fix)
    return Finding("clock", "ok", f"within {CLOCK_WARNS_OVER.seconds} s of the database server's clock")


def identity_providers(runtime: Runtime) -> Iterator[Finding]:
    with runtime.db.read() as tx:
        providers = federation_store.list_providers(tx)
    if not providers:
        yield Finding(
            "identity providers",
            "warn",
            "none registered: nobody can sign in",
            f"put IdP metadata in {runtime.settings.metadata_dir}/NAME.xml and run `broker init`, "
            "or call CreateSAMLProvider (docs/identity-providers.md)",
        )
        return
    moment = runtime.now()
    for provider in providers:
        check = f"IdP {provider.name}"
        fix = (
            f"ask the IdP's administrator for current metadata, then update {provider.arn} "
            "(UpdateSAMLProvider, or replace the metadata file or URL)"
        )
        try:
            metadata = parse_idp_metadata(provider.metadata_xml)
        except SamlError as exc:
            yield Finding(check, "fail", f"its metadata is unusable: {exc.detail}", fix)
            continue
        valid_until = provider.valid_until or metadata.valid_until
        if valid_until is not None and valid_until <= moment:
            yield Finding(check, "fail", f"its metadata expired {valid_until:%Y-%m-%d %H:%M UTC}", fix)
            continue
        findings = [certificate_expiry(check, pem, fix, moment) for pem in metadata.signing_certs]
        # One usable certificate keeps sign-ins working; report the best, or the first problem.
        best = max(findings, key=lambda f: ("fail", "warn", "ok").index(f.status))
        detail = (
            best.detail
            if best.status != "ok"
            else f"metadata of {metadata.entity_id}, signing certificate {best.detail}"
        )
        yield Finding(check, best.status, detail, best.fix)


def base_url_answers(settings: Settings, timeout: float = BASE_URL_TIMEOUT_SECONDS) -> Finding:
    url = settings.base_url.rstrip("/") + "/healthz"
    fix = (
        "start `broker serve`, or fix base_url (BROKER_BASE_URL) or the reverse proxy in front of the broker "
        "so that this URL reaches it"
    )
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310  (the operator's own URL)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read(65536))
    except urllib.error.HTTPError as exc:
        return Finding("base URL", "fail", f"{url} answered HTTP {exc.code}", fix)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Finding("base URL", "fail", f"nothing answers at {url} ({reason})", fix)
    if not isinstance(body, dict) or body.get("baseUrl") != settings.base_url:
        return Finding(
            "base URL",
            "fail",
            f"{url} answers, but not as this broker (its base URL is {body.get('baseUrl')!r})"
            if isinstance(body, dict)
            else f"{url} answers, but not as a broker",
            fix,
        )
    return Finding("base URL", "ok", f"{url} answers")
