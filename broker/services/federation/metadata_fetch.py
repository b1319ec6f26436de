"""Fetching IdP metadata from a URL: which URLs and redirects may be followed, and a fetch
bounded in size and in time.

Only https, or plain http to a loopback address, is fetched; a redirect only to the same host,
and from https only to https. Each socket operation has a timeout, and the fetch as a whole a
deadline, after which its sockets are shut: a server answering a byte at a time stays within the
per-operation timeout forever. What is done with a fetched document is
:mod:`broker.services.federation.metadata_refresh`'s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import urllib.error
import urllib.request
from typing import IO, Any
from urllib.parse import urlsplit

from broker.errors import BrokerError

# Each socket operation (connect, a TLS step, a read) of a fetch.
FETCH_TIMEOUT_SECONDS = 10
# The whole fetch (name lookup, connect, TLS, redirects, headers, body): a server that answers a
# byte at a time stays under the per-operation timeout forever. Well under CLAIM_LEASE, so no
# other process claims a fetch while it is still running.
FETCH_DEADLINE = dt.timedelta(seconds=30)
MAX_METADATA_BYTES = 1024 * 1024

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
