"""IdP metadata fetched from a URL on a schedule, with the IdP's signing-key rollover.

A provider gets a URL from a sidecar file ``metadata/NAME.url`` (read by `broker init` and at
start-up)::

    url = https://idp.example.org/metadata
    pin = idp-metadata-signer.pem   # optional; relative to the metadata directory

Every broker process runs :func:`refresh_due` from its background worker. Which process fetches
a provider is decided in the database: a conditional UPDATE moves the provider's
``next_fetch_at`` forward and only the process whose UPDATE matched fetches, so each provider is
fetched once per due time across every instance and worker. The fetch itself runs outside any
transaction.

A fetched document is accepted only if it parses with the hardened parser, names the entity ID
the provider already has, has not expired, and (with a pin) carries an enveloped signature that
verifies with the pinned certificate. A failed fetch keeps the last good metadata, records the
error (shown by ``/readyz``) and is retried with a doubling delay. When a new document drops a
signing certificate, the dropped one is kept in the provider's options (``rollover_certs``) and
still verifies responses for ``saml_metadata_rollover_grace_seconds`` (the ACS checks the end at
each validation); metadata an administrator sets, or a new URL or pin, ends the grace period.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from broker.errors import BrokerError
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.saml.errors import MetadataError
from broker.saml.metadata import IdpMetadata, parse_idp_metadata, verify_metadata_signature
from broker.services.audit.operator import record_operator_event
from broker.services.iam import providers as iam_providers
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store.iam import providers as store
from broker.store.iam.providers import MetadataSource

log = logging.getLogger("broker.metadata")

# Each socket operation (connect, a TLS step, a read) of a fetch.
FETCH_TIMEOUT_SECONDS = 10
# The whole fetch (name lookup, connect, TLS, redirects, headers, body): a server that answers a
# byte at a time stays under the per-operation timeout forever. Well under CLAIM_LEASE, so no
# other process claims a fetch while it is still running.
FETCH_DEADLINE = dt.timedelta(seconds=30)
MAX_METADATA_BYTES = 1024 * 1024
# Never fetch more often than this, whatever cacheDuration or validUntil say.
MIN_INTERVAL = dt.timedelta(seconds=60)
# The first retry after a failure; each further failure doubles it, up to the refresh interval.
FIRST_RETRY = dt.timedelta(seconds=60)
# How long a claimed fetch is held: if the process dies mid-fetch, another retries after this.
CLAIM_LEASE = dt.timedelta(seconds=120)
ROLLOVER_CERTS = iam_providers.ROLLOVER_CERTS
# How often each process asks the database whether a fetch is due.
POLL_INTERVAL = dt.timedelta(seconds=30)
_EVENT_SOURCE = "broker.metadata"
_LOOPBACK_NAMES = frozenset({"localhost"})


class MetadataSourceError(BrokerError):
    """A metadata URL file, or the metadata fetched from its URL, cannot be used; the message says why."""

    code = "InvalidMetadataSource"
    status = 400


class MetadataFetchFailed(MetadataSourceError):
    """Fetching or accepting metadata from a URL failed. ``reason`` is a fixed phrase."""

    code = "MetadataFetchFailed"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class MetadataLocation:
    """Where a provider's metadata comes from: its URL and the PEM certificate pinned for its signature."""

    url: str
    pin_pem: str | None = None


# -- where: the URL file ----------------------------------------------------------------------


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be fetched (https required; plain http only to a loopback address), or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        return "is not a URL"
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(host):
        return None
    return "must be https (plain http only to a loopback address)"


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_url_file(path: Path) -> MetadataLocation:
    """Parse ``NAME.url``: ``url = ...`` and an optional ``pin = PEM file``; ``#`` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise MetadataSourceError(f"cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("url", "pin") or not value:
            raise MetadataSourceError(f"line {number}: expected `url = URL` or `pin = PEM file`")
        if key in values:
            raise MetadataSourceError(f"line {number}: {key} is given twice")
        values[key] = value
    url = values.get("url")
    if url is None:
        raise MetadataSourceError("has no `url = ...` line")
    problem = url_problem(url)
    if problem is not None:
        raise MetadataSourceError(f"url {problem}")
    pin = values.get("pin")
    return MetadataLocation(url, _read_pin(path.parent / pin) if pin else None)


def _read_pin(path: Path) -> str:
    from cryptography import x509

    try:
        pem = path.read_bytes()
        x509.load_pem_x509_certificate(pem)
    except OSError as exc:
        raise MetadataSourceError(f"pin: {path} cannot be read ({exc.__class__.__name__})") from None
    except ValueError:
        raise MetadataSourceError(f"pin: {path} is not a PEM X.509 certificate") from None
    return pem.decode("ascii")


# -- fetch and accept -------------------------------------------------------------------------


def redirect_problem(url: str, target: str) -> str | None:
    """Why a fetch of ``url`` may not follow a redirect to ``target``, or None.

    Only to the same host, and from https only to https: whoever answers for the IdP's URL must
    not make the broker send requests elsewhere (plain http to the broker's own loopback, a
    private or link-local address: a blind SSRF). Plain http stays possible only where the
    configured URL was already plain http, which :func:`url_problem` allows only to loopback.
    """
    problem = url_problem(target)
    if problem is not None:
        return problem
    origin, destination = urlsplit(url), urlsplit(target)
    if origin.scheme == "https" and destination.scheme != "https":
        return "leaves https"
    if destination.hostname != origin.hostname:
        return "leaves the host"
    return None


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only where :func:`redirect_problem` allows, judged against the URL
    first asked for (each hop, so a chain cannot wander off step by step)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        problem = redirect_problem(self.url, newurl)
        if problem is not None:
            fp.close()
            raise MetadataFetchFailed("redirected to a URL that is not allowed", problem)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Watch:
    """The sockets one fetch opened, so that another thread can cut the fetch off at its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._abandoned = False

    def opened(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._abandoned:
                self._sockets.append(sock)
                return
        _shut(sock)  # opened after the deadline (a slow name lookup): cut off at once

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Make the fetch's blocked reads and writes on ``sock`` fail now (from any thread)."""
    # OSError: closed already, or handed over to TLS (the TLS socket is watched itself).
    with contextlib.suppress(OSError):
        # socket.socket's own: SSLSocket.shutdown drops its TLS state under the thread reading it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedTls(ssl.SSLSocket):
    """A TLS socket that reports itself to its context's watch before its handshake."""

    def do_handshake(self, block: bool = False) -> None:
        watch = getattr(self.context, "watch", None)
        if isinstance(watch, _Watch):
            watch.opened(self)
        super().do_handshake(block)


class _WatchedTlsContext(ssl.SSLContext):
    sslsocket_class = _WatchedTls
    watch: _Watch | None = None


def _watched_connection(
    connection_class: type[http.client.HTTPConnection], watch: _Watch, host: str, **kwargs: Any
) -> http.client.HTTPConnection:
    """An HTTP(S) connection whose TCP socket is watched as soon as it is connected."""
    connection = connection_class(host, **kwargs)
    create = connection._create_connection  # type: ignore[attr-defined]

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        sock: socket.socket = create(address, *args, **kwargs)
        watch.opened(sock)
        return sock

    connection._create_connection = create_connection  # type: ignore[attr-defined]
    return connection


class _WatchedHttp(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.watch = watch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connect = functools.partial(_watched_connection, http.client.HTTPConnection, self.watch)
        return self.do_open(connect, req)


class _WatchedHttps(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch) -> None:
        context = _WatchedTlsContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and host name
        context.load_default_certs()
        context.watch = watch
        super().__init__(context=context)
        self.watch, self.context = watch, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connect = functools.partial(_watched_connection, http.client.HTTPSConnection, self.watch)
        return self.do_open(connect, req, context=self.context)


def fetch_metadata(url: str, deadline: dt.timedelta = FETCH_DEADLINE) -> str:
    """The document at ``url`` (at most 1 MiB, within 10 s per read and ``deadline`` in all);
    raises :class:`MetadataFetchFailed`.

    The fetch runs on a thread of its own; at the deadline its sockets are shut, which ends it,
    and the caller goes on without waiting for it (a name lookup cannot be cut short).
    """
    problem = url_problem(url)
    if problem is not None:
        raise MetadataFetchFailed("URL not allowed", problem)
    watch = _Watch()
    outcome: list[str | BaseException] = []

    def fetch() -> None:
        try:
            outcome.append(_fetch(url, watch))
        except BaseException as exc:  # handed to the caller, raised there
            outcome.append(exc)

    fetcher = threading.Thread(target=fetch, name="broker-metadata-fetch", daemon=True)
    fetcher.start()
    fetcher.join(deadline.total_seconds())
    if not outcome:
        watch.abandon()
        raise MetadataFetchFailed("too slow", f"no whole answer within {deadline.total_seconds():g} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _fetch(url: str, watch: _Watch) -> str:
    opener = urllib.request.build_opener(_CheckedRedirects(url), _WatchedHttp(watch), _WatchedHttps(watch))
    # url_problem above admits https, and http to loopback only.
    request = urllib.request.Request(url, headers={"Accept": "application/samlmetadata+xml, application/xml"})  # noqa: S310
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(MAX_METADATA_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MetadataFetchFailed("HTTP error", f"status {exc.code}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise MetadataFetchFailed("unreachable", exc.__class__.__name__) from None
    if len(body) > MAX_METADATA_BYTES:
        raise MetadataFetchFailed("too large", "more than 1 MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataFetchFailed("not UTF-8") from None


def accept_metadata(xml: str, *, pin_pem: str | None, entity_id: str | None, now: dt.datetime) -> IdpMetadata:
    """The fetched document's metadata, if the broker may take it in place of what it has."""
    try:
        metadata = parse_idp_metadata(xml)
    except MetadataError as exc:
        raise MetadataFetchFailed("unacceptable metadata", exc.message) from None
    if pin_pem is not None:
        try:
            verify_metadata_signature(xml, (pin_pem.encode(),))
        except MetadataError as exc:
            raise MetadataFetchFailed("signature not verified", exc.message) from None
    if entity_id is not None and metadata.entity_id != entity_id:
        raise MetadataFetchFailed("entity ID changed", f"the document names {metadata.entity_id!r}")
    if metadata.valid_until is not None and metadata.valid_until <= now:
        raise MetadataFetchFailed("expired", "its validUntil has passed")
    return metadata


def refresh_interval(runtime: Runtime, metadata: IdpMetadata, now: dt.datetime) -> dt.timedelta:
    """Until the next fetch: the refresh setting, the cacheDuration, or half the time left before
    validUntil, whichever is shortest (never under a minute)."""
    candidates = [dt.timedelta(seconds=runtime.settings.saml_metadata_refresh_seconds)]
    if metadata.cache_duration is not None:
        candidates.append(metadata.cache_duration)
    if metadata.valid_until is not None:
        candidates.append((metadata.valid_until - now) / 2)
    shortest: dt.timedelta = min(candidates)
    return max(MIN_INTERVAL, shortest)


def retry_delay(runtime: Runtime, failures: int) -> dt.timedelta:
    cap = dt.timedelta(seconds=runtime.settings.saml_metadata_refresh_seconds)
    return min(cap, FIRST_RETRY * (1 << min(failures - 1, 20)))


# -- rollover ---------------------------------------------------------------------------------


def rollover_certs(options: dict[str, Any]) -> tuple[tuple[bytes, dt.datetime], ...]:
    """The signing certificates previous documents had, each with the end of its grace period
    (the ACS checks it at each validation). An entry without a readable end is not trusted."""
    found = []
    for entry in options.get(ROLLOVER_CERTS) or []:
        try:
            pem, until = entry["pem"].encode(), dt.datetime.fromisoformat(entry["until"])
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        if until.tzinfo is not None:
            found.append((pem, until))
    return tuple(found)


def _unexpired(options: dict[str, Any], now: dt.datetime) -> list[dict[str, str]]:
    return [{"pem": pem.decode(), "until": until.isoformat()} for pem, until in rollover_certs(options) if now < until]


def _options_after(
    runtime: Runtime, source: MetadataSource, new: IdpMetadata, now: dt.datetime
) -> tuple[dict[str, Any], int]:
    """The provider's options with the certificates the new document dropped kept for the grace
    period (and those whose grace ended removed), and how many were dropped."""
    try:
        old_certs = parse_idp_metadata(source.metadata_xml).signing_certs
    except MetadataError:
        old_certs = ()
    kept = [e for e in _unexpired(source.options, now) if e["pem"].encode() not in new.signing_certs]
    grace = dt.timedelta(seconds=runtime.settings.saml_metadata_rollover_grace_seconds)
    dropped = [cert for cert in old_certs if cert not in new.signing_certs]
    if grace:
        until = (now + grace).isoformat()
        known = {e["pem"] for e in kept}
        kept += [{"pem": cert.decode(), "until": until} for cert in dropped if cert.decode() not in known]
    options = {key: value for key, value in source.options.items() if key != ROLLOVER_CERTS}
    if kept:
        options[ROLLOVER_CERTS] = kept
    return options, len(dropped)


def _prune_rollover(tx: Tx, source: MetadataSource, now: dt.datetime) -> bool:
    """Drop the rollover certificates whose grace period ended; True if any was."""
    entries = source.options.get(ROLLOVER_CERTS)
    if not entries:
        return False
    kept = _unexpired(source.options, now)
    if len(kept) == len(entries):
        return False
    options = {key: value for key, value in source.options.items() if key != ROLLOVER_CERTS}
    if kept:
        options[ROLLOVER_CERTS] = kept
    store.set_saml_options(tx, source.arn, options)
    return True


# -- the chore --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshOutcome:
    arn: str
    changed: bool
    error: str | None
    next_fetch_at: dt.datetime


def refresh_due(runtime: Runtime) -> list[RefreshOutcome]:
    """Fetch every provider whose refresh is due and that this process claims first; end the
    grace period of rolled-over certificates. Never raises for one provider's failure."""
    now = runtime.now()
    with runtime.db.read() as tx:  # the usual pass writes nothing: no write lock taken
        sources = store.metadata_sources(tx)
        due = store.due_metadata_fetches(tx, now)
    if any(_unexpired(source.options, now) != (source.options.get(ROLLOVER_CERTS) or []) for source in sources):
        with runtime.db.transaction() as tx:
            for source in store.metadata_sources(tx):
                _prune_rollover(tx, source, now)
    outcomes = []
    for arn in due:
        try:
            outcome = refresh_provider(runtime, arn)
        except Exception:  # one provider's trouble must not stop the others (nor the worker)
            log.exception("metadata refresh of %s failed", arn)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def refresh_provider(runtime: Runtime, arn: str) -> RefreshOutcome | None:
    """Claim and run one due fetch; None if another process claimed it (or it is not due)."""
    now = runtime.now()
    with runtime.db.transaction() as tx:
        if not store.claim_metadata_fetch(tx, arn, now, now + CLAIM_LEASE):
            return None
        source = store.metadata_source(tx, arn)
    if source is None:
        return None
    try:
        xml = fetch_metadata(source.metadata_url)
        metadata = accept_metadata(xml, pin_pem=source.metadata_pin, entity_id=source.entity_id, now=now)
        return _record_success(runtime, source, xml, metadata, now)
    except MetadataFetchFailed as exc:
        return _record_failure(runtime, source, exc, now)
    except Exception as exc:  # a fault of ours: still on record, audited and backed off, not retried silently
        log.exception("metadata refresh of %s failed unexpectedly", source.arn)
        return _record_failure(runtime, source, MetadataFetchFailed("internal error", exc.__class__.__name__), now)


def _record_success(
    runtime: Runtime, source: MetadataSource, xml: str, metadata: IdpMetadata, now: dt.datetime
) -> RefreshOutcome:
    next_fetch_at = now + refresh_interval(runtime, metadata, now)
    with runtime.db.transaction() as tx:
        # As it is now, not as claimed: an administrator may have replaced the metadata (and so
        # ended the rollover) while this fetch ran.
        source = store.metadata_source(tx, source.arn) or source
        changed = xml != source.metadata_xml
        if changed:
            options, retired = _options_after(runtime, source, metadata, now)
            # Through the IAM service: the same write an UpdateSAMLProvider makes (bumps the caches
            # and ends the rollover)...
            iam_providers.update_saml_provider_metadata(tx, source.arn, xml)
            # ... then this refresh's own rollover.
            store.set_saml_options(tx, source.arn, options)
            record_operator_event(
                runtime,
                tx,
                "MetadataRefreshed",
                {
                    "providerArn": source.arn,
                    "reason": "metadata changed",
                    "signingCertificates": len(metadata.signing_certs),
                    "retiredCertificates": retired,
                },
                event_source=_EVENT_SOURCE,
                request_id="metadata-refresh",
            )
        store.record_metadata_fetched(tx, source.arn, fetched_at=now, next_fetch_at=next_fetch_at)
    if changed:
        log.info("metadata of %s refreshed from its URL", source.arn)
    return RefreshOutcome(source.arn, changed, None, next_fetch_at)


def _record_failure(
    runtime: Runtime, source: MetadataSource, failure: MetadataFetchFailed, now: dt.datetime
) -> RefreshOutcome:
    failures = source.fetch_failures + 1
    next_fetch_at = now + retry_delay(runtime, failures)
    with runtime.db.transaction() as tx:
        store.record_metadata_fetch_failed(
            tx, source.arn, error=failure.message, failures=failures, next_fetch_at=next_fetch_at
        )
        record_operator_event(
            runtime,
            tx,
            "MetadataRefreshFailed",
            {"providerArn": source.arn, "reason": failure.reason, "failures": failures},
            event_source=_EVENT_SOURCE,
            request_id="metadata-refresh",
        )
    log.warning("metadata refresh of %s failed (%s); keeping the last good metadata", source.arn, failure.message)
    return RefreshOutcome(source.arn, False, failure.message, next_fetch_at)


# -- set-up: metadata/NAME.url ----------------------------------------------------------------


def sync_url_file(runtime: Runtime, account_id: str, path: Path) -> bool:
    """Register the provider ``path`` (``NAME.url``) names, fetching its metadata now, or bring its
    URL and pin up to date (fetched at the next refresh); True if anything changed."""
    name = path.stem
    location = read_url_file(path)
    now = runtime.now()
    with runtime.db.read() as tx:
        existing = store.saml_provider_named(tx, account_id, name_key(name))
        source = store.metadata_source(tx, existing.arn) if existing is not None else None
    if existing is None:
        xml = fetch_metadata(location.url)
        metadata = accept_metadata(xml, pin_pem=location.pin_pem, entity_id=None, now=now)
        with runtime.db.transaction() as tx:
            try:
                provider = iam_providers.create_saml_provider(
                    tx, account_id, name, xml, None, now, source=f"file:{path.name}"
                )
            except AwsError as exc:
                raise MetadataSourceError(exc.message) from None
            store.set_metadata_source(tx, provider.arn, url=location.url, pin=location.pin_pem, next_fetch_at=now)
            store.record_metadata_fetched(
                tx, provider.arn, fetched_at=now, next_fetch_at=now + refresh_interval(runtime, metadata, now)
            )
            _record_setup_change(runtime, tx, "CreateSAMLProvider", name, path)
        return True
    if source is None or (source.metadata_url, source.metadata_pin) != (location.url, location.pin_pem):
        with runtime.db.transaction() as tx:
            store.set_metadata_source(tx, existing.arn, url=location.url, pin=location.pin_pem, next_fetch_at=now)
            # A new source is the administrator's choice of what to trust: no key from the old one's rollover.
            iam_providers.end_key_rollover(tx, existing.arn)
            _record_setup_change(runtime, tx, "UpdateSAMLProvider", name, path)
        return True
    return False


def _record_setup_change(runtime: Runtime, tx: Tx, event: str, name: str, path: Path) -> None:
    # The URL is not recorded: it may carry an access token in its query.
    record_operator_event(
        runtime, tx, event, {"name": name, "source": path.name}, event_source="broker.cli", request_id="cli"
    )


# -- status (for /readyz and /metrics) --------------------------------------------------------


@dataclass(frozen=True)
class MetadataStatus:
    """One URL-fetched provider's refresh state."""

    name: str
    arn: str
    last_fetch_at: dt.datetime | None
    failing: bool
    expired: bool


def metadata_status(runtime: Runtime) -> list[MetadataStatus]:
    now = runtime.now()
    with runtime.db.read() as tx:
        sources = store.metadata_states(tx)  # without the documents: /readyz and /metrics call this
    return [
        MetadataStatus(
            name=source.name,
            arn=source.arn,
            last_fetch_at=source.last_fetch_at,
            failing=source.last_fetch_error is not None,
            expired=source.valid_until is not None and source.valid_until <= now,
        )
        for source in sources
    ]
