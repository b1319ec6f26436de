"""The production HTTP server behind `broker serve`: gunicorn's arbiter with threaded workers.

The arbiter (the process `broker serve` started) holds the listening socket and nothing else:
no runtime, no database engine, no thread. Each worker builds its own :class:`Runtime` after
the fork, serves the app on its threads, runs the audit worker (digests and purges; workers
coordinate through the database), and seals the trail when it stops. SIGTERM and SIGINT stop
gracefully: the arbiter stops accepting, workers finish the requests in flight, then exit 0;
a second SIGINT (or SIGQUIT) stops at once. SIGHUP restarts the workers gracefully (they read
the key files again); SIGTTIN/SIGTTOU add or remove one.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.sock import TCP6Socket, TCPSocket
from gunicorn.workers.gthread import TConn, ThreadWorker

from broker.services import metrics
from broker.services.audit.worker import AuditWorker
from broker.services.ratelimit.addresses import ClientConnections
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.web.app import create_app
from broker.web.request_reader import ReaderLimits, Refused, RequestReader

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

# Limits a slow or hostile client cannot push past (gunicorn enforces them before the app runs).
LIMITS: dict[str, int] = {
    # Request line (method, path, query): gunicorn's largest finite value. A presigned URL
    # carrying a session token with many session tags can exceed it: sign such calls in headers.
    "limit_request_line": 8190,
    "limit_request_fields": 100,
    # One header: a session token (X-Amz-Security-Token, Authorization: Bearer) with the most
    # session tags a sign-in may carry is about 40 KB.
    "limit_request_field_size": 64 * 1024,
    # A worker whose main loop stops answering the arbiter this long is restarted.
    "timeout": 30,
    # On SIGTERM, how long requests in flight may take before workers are killed.
    "graceful_timeout": 30,
    # Idle keep-alive connections close after this.
    "keepalive": 5,
    "backlog": 2048,
    # Open connections per worker, gathering or served (capped below the open-files limit). A
    # connection still sending its request costs a socket and its bytes, not a thread.
    "worker_connections": 4096,
}
# gunicorn makes its heartbeat files there with mkstemp and unlinks them at once.
SHARED_MEMORY = "/dev/shm"  # noqa: S108
# What waitress's clear_untrusted_proxy_headers removed: with no trusted proxy, nobody may set them.
FORWARDING_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_BY",
)


class ListenError(Exception):
    """The address cannot be listened on; the message is one line for the operator."""


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    workers: int
    threads: int


def listen(host: str, port: int, backlog: int = LIMITS["backlog"]) -> socket.socket:
    """A socket listening on ``host:port``, bound here so a busy port is one clear error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may find TIME_WAIT
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = {
            errno.EADDRINUSE: "the address is already in use (is another broker running?)",
            errno.EACCES: "permission denied (ports below 1024 need privileges)",
            errno.EADDRNOTAVAIL: "no interface of this machine has that address",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def without_forwarding_headers(app: WSGIApplication) -> WSGIApplication:
    """Drop X-Forwarded-* and Forwarded: without trusted proxies, the client wrote them."""

    def serve(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        for name in FORWARDING_HEADERS:
            environ.pop(name, None)
        return app(environ, start_response)

    return serve


class _Conn(TConn):  # type: ignore[misc]  # gunicorn ships no type information
    """A client connection: the request being gathered, and its client address's count."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any, release: Callable[[], None]) -> None:
        super().__init__(cfg, sock, client, server)
        self._release: Callable[[], None] | None = release
        self.reader: RequestReader | None = None
        self.deadline = 0.0
        self.ready = False  # gathered whole: the next enqueue hands it to a thread
        self.sent_continue = False  # "100 Continue" already went out for the request being gathered

    def close(self, graceful: bool = False) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()
        super().close(graceful)


class BrokerWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, gathering each request whole before a thread sees it.

    gunicorn's own worker hands a new connection to a thread at once, and a thread then reads
    the request as slowly as the client sends it: a few dozen slow clients hold every thread.
    Here the event loop reads each request, head and body, without blocking (see
    :mod:`broker.web.request_reader`), within ``client_header_timeout_seconds`` for the head and
    ``client_body_timeout_seconds`` more for the body; only a complete request reaches a thread.
    A slow or silent client costs a socket and its bytes, and is closed at its deadline (408 when
    it had sent something). Kept-alive connections gather their next request the same way. One
    client address (an IPv6 client's ``rate_limit_ipv6_prefix`` network) may hold at most
    ``max_connections_per_client`` connections per worker when the broker faces clients directly
    (no trusted proxy): past that, a 429 and a close.

    SIGINT (Ctrl-C reaches every process of the group) stops gracefully, like SIGTERM.
    """

    def init_signals(self) -> None:
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, Arbiter.SIGNALS)  # held since the fork: see _Arbiter

    def init_process(self) -> None:
        settings: Settings = self.app.settings
        self.header_timeout = float(settings.client_header_timeout_seconds)
        self.body_timeout = float(settings.client_body_timeout_seconds)
        per_client = settings.max_connections_per_client if settings.trusted_proxy_hops == 0 else 0
        self.connections = ClientConnections(per_client, settings.rate_limit_ipv6_prefix)
        self.reader_limits = ReaderLimits(
            max_request_line=LIMITS["limit_request_line"],
            max_head=MAX_REQUEST_HEAD,
            max_body=max(settings.max_request_bytes, settings.saml_max_response_bytes + 8192),
        )
        self.gathering: set[_Conn] = set()
        self.next_sweep = 0.0
        self.worker_connections: int = min(int(self.cfg.worker_connections), _raise_open_files_limit() - RESERVED_FILES)
        super().init_process()  # runs the worker's loop until it stops

    def accept(self, listener: Any) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                self.log.warning("cannot accept a connection: %s", exc.strerror)
                return
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        release = self.connections.open(client[0] if isinstance(client, tuple) else str(client))
        if release is None:
            sock.setblocking(False)
            _answer(sock, 429, "Too Many Requests", "too many connections from your address", retry_after=1)
            _close_quietly(sock)
            return
        self.nr_conns += 1
        self.enqueue_req(_Conn(self.cfg, sock, client, listener.getsockname(), release))

    def enqueue_req(self, conn: _Conn) -> None:
        """Hand a gathered request to a thread; gather any other first (every path comes here)."""
        if conn.ready:
            conn.ready = False
            super().enqueue_req(conn)
            return
        conn.reader = RequestReader(self.reader_limits)
        conn.deadline = time.monotonic() + self.header_timeout
        conn.sock.setblocking(False)
        # A kept-alive connection's parser may hold bytes of this request already (read ahead).
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if held and self._take(conn, held):
            return
        self.gathering.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: _Conn, sock: socket.socket) -> None:
        try:
            data = sock.recv(GATHER_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was whole
            self._drop(conn)
            return
        self._take(conn, data)

    def _take(self, conn: _Conn, data: bytes) -> bool:
        """Feed bytes to the connection's request; True once it left the gathering stage."""
        reader = conn.reader
        assert reader is not None
        had_head = reader.head_complete
        try:
            reader.feed(data)
        except Refused as refusal:
            self._refuse(conn, refusal.status, refusal.reason)
            return True
        if reader.complete:
            self._dispatch(conn)
            return True
        if reader.head_complete and not had_head:
            conn.deadline = time.monotonic() + self.body_timeout
        if reader.wants_continue and not conn.sent_continue:
            conn.sent_continue = True  # the client waits for it before it sends the body
            _send_quietly(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        return False

    def _dispatch(self, conn: _Conn) -> None:
        self._stop_gathering(conn)
        assert conn.reader is not None
        data, conn.reader = conn.reader.data, None
        conn.sock.setblocking(True)
        conn.init()  # the HTTP/1 parser, for a new connection (TLS ends at the proxy)
        conn.parser.unreader.unread(data)
        conn.data_ready = conn.ready = True
        self.enqueue_req(conn)

    def handle_request(self, req: Any, conn: _Conn) -> Any:
        if conn.sent_continue:  # sent while gathering: gunicorn must not send a second one
            req._expected_100_continue = False
            conn.sent_continue = False
        return super().handle_request(req, conn)

    def _refuse(self, conn: _Conn, status: int, reason: str) -> None:
        self._stop_gathering(conn)
        self.log.info("refused a request from %s: %s %s", _address(conn.client), status, reason)
        _answer(conn.sock, status, reason, reason.lower())
        self.nr_conns -= 1
        conn.close()

    def _drop(self, conn: _Conn) -> None:
        self._stop_gathering(conn)
        self.nr_conns -= 1
        conn.close()

    def _stop_gathering(self, conn: _Conn) -> None:
        if conn in self.gathering:
            self.gathering.discard(conn)
            self.poller.unregister(conn.sock)

    def murder_pending(self) -> None:
        """Gunicorn's sweep of idle connections, and of requests past their deadline."""
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_sweep and self.alive:
            return
        self.next_sweep = now + SWEEP_INTERVAL
        for conn in [conn for conn in self.gathering if conn.deadline <= now or not self.alive]:
            assert conn.reader is not None
            if conn.reader.data:
                if conn.deadline <= now:
                    self._refuse(conn, 408, "Request Timeout")
            else:  # nothing sent yet (or, stopping, nothing begun): close without a word
                self._drop(conn)


# Largest request head gathered: one header field at its limit, and room for the others.
MAX_REQUEST_HEAD = LIMITS["limit_request_field_size"] + 32 * 1024
GATHER_CHUNK = 64 * 1024
SWEEP_INTERVAL = 0.25
# Descriptors a worker keeps for itself (database pool, logs, key files, pipes) besides connections.
RESERVED_FILES = 128


def _raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return int(soft)


def _address(client: Any) -> str:
    return str(client[0]) if isinstance(client, tuple) else str(client)


def _answer(sock: socket.socket, status: int, reason: str, text: str, retry_after: int | None = None) -> None:
    """A short plain-text answer on a non-blocking socket, best effort, before closing it."""
    body = f"{text}\n".encode("ascii")
    head = [f"HTTP/1.1 {status} {reason}", "Server: broker", "Content-Type: text/plain; charset=utf-8"]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    _send_quietly(sock, "\r\n".join(head).encode("ascii") + body)


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the client is gone or not reading: nothing more is owed
        sock.send(data)


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class _Arbiter(Arbiter):  # type: ignore[misc]
    def spawn_worker(self) -> int:
        """Fork a worker with the control signals held until it has its own handlers.

        Between the fork and its ``init_signals`` a worker still has the arbiter's handlers,
        which queue a signal for a loop the worker never runs: a SIGTERM then would be lost
        and the stop would wait out ``graceful_timeout``. Held, it is delivered once the
        worker's handlers are in place.
        """
        held = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        try:
            return int(super().spawn_worker())
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def handle_int(self) -> None:
        """SIGINT stops gracefully, like SIGTERM; a second one during the stop is quick."""
        raise StopIteration

    def handle_usr2(self) -> None:
        # Re-executing would start a second `broker serve` that binds the port afresh.
        self.log.warning("SIGUSR2 (binary upgrade) is not supported by broker serve; ignored")


class BrokerServer(BaseApplication):  # type: ignore[misc]
    """The broker as a gunicorn application, configured from code (no gunicorn config file or
    GUNICORN_CMD_ARGS: BaseApplication reads neither)."""

    def __init__(self, settings: Settings, options: ServerOptions) -> None:
        self.settings = settings
        self.options = options
        # Per worker, set after the fork.
        self._runtime: Runtime | None = None
        self._audit: AuditWorker | None = None
        super().__init__(prog="broker serve")

    def load_config(self) -> None:
        host, port = self.options.host, self.options.port
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        values: dict[str, Any] = {
            **LIMITS,
            "bind": [bind],
            "workers": self.options.workers,
            "threads": self.options.threads,
            "worker_class": BrokerWorker,
            "preload_app": False,  # load() runs in each worker, after the fork
            "proc_name": "broker",
            "loglevel": self.settings.log_level.lower(),
            # gunicorn trusts no peer for scheme or forwarding headers; the app's ProxyFix alone
            # reads X-Forwarded-* when trusted_proxy_hops > 0.
            "forwarded_allow_ips": "",
            "secure_scheme_headers": {},
            "forwarder_headers": "",
            "proxy_protocol": False,
            # No runtime control socket: managing the server is signals and settings.
            "control_socket_disable": True,
            # Workers' heartbeat files: in memory where possible (a container's /tmp may be a
            # slow overlay filesystem, and a stalled heartbeat gets a worker killed).
            "worker_tmp_dir": SHARED_MEMORY if os.access(SHARED_MEMORY, os.W_OK) else None,
            "pre_fork": self._pre_fork,
            "worker_exit": self._worker_exit,
            "child_exit": self._child_exit,
        }
        for name, value in values.items():
            self.cfg.set(name, value)

    def load(self) -> WSGIApplication:
        """In a worker: its own runtime, app and audit worker."""
        gunicorn_wsgi.SERVER = "broker"  # the Server header names the service, not its WSGI server
        self._runtime = runtime = Runtime.from_settings(self.settings)
        self._audit = AuditWorker(runtime).start(seal_at_exit=False)  # sealed in _worker_exit
        runtime.wal_checkpointer.start()  # SQLite's checkpoints, off the request path
        app: WSGIApplication = create_app(runtime=runtime)
        if runtime.settings.trusted_proxy_hops == 0:
            app = without_forwarding_headers(app)
        return app

    def _pre_fork(self, arbiter: Any, worker: Any) -> None:
        others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        if others:  # a thread does not survive a fork, and a lock it held stays held in the child
            arbiter.log.warning("threads running in the arbiter before a fork: %s", ", ".join(others))

    def _child_exit(self, arbiter: Any, worker: Any) -> None:
        """In the arbiter, once a worker exited (or was killed): its gauges leave the metrics."""
        metrics.forget_worker(worker.pid)

    def _worker_exit(self, arbiter: Any, worker: Any) -> None:
        """In the worker, as it stops: final digest over what it wrote, close the pool, exit.

        Called while the worker's SystemExit propagates. The worker then leaves with
        ``os._exit``, as multiprocessing's children do: unwinding further would run the atexit
        handlers it inherited from the arbiter and tear down a heap it is about to drop anyway
        (over a second of CPU per worker for this application).
        """
        try:
            if self._runtime is not None and "audit_writer" in self._runtime.__dict__:
                self._runtime.audit_writer.close()  # the last batch first, so the digest covers it
            if self._audit is not None:
                self._audit.stop(final_digest=True)
            if self._runtime is not None:
                self._runtime.wal_checkpointer.stop()
                self._runtime.db.dispose()
        finally:
            stopping = sys.exc_info()[1]
            status = _exit_status(stopping) if isinstance(stopping, SystemExit) else int(stopping is not None)
            logging.shutdown()  # flush every handler
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)

    def serve(self, listener: socket.socket) -> None:
        """Run the arbiter on ``listener`` until it stops (it exits through SystemExit)."""
        arbiter = _Arbiter(self)
        kind = TCP6Socket if listener.family == socket.AF_INET6 else TCPSocket
        address = listener.getsockname()[:2]
        arbiter.LISTENERS = [kind(address, self.cfg, arbiter.log, fd=listener.detach())]
        arbiter.run()


def run(settings: Settings, options: ServerOptions, listener: socket.socket) -> int:
    """Serve until stopped; the arbiter's exit status (0 after a graceful stop).

    Only the arbiter returns: a worker ends in ``_worker_exit`` (and, should a SystemExit ever
    get past it, that propagates, so nothing the caller runs after this executes in a worker).
    """
    arbiter_pid = os.getpid()
    try:
        # Set up before the first fork: every worker counts in files a scrape adds up.
        with metrics.share_between_workers():
            BrokerServer(settings, options).serve(listener)
    except SystemExit as stop:
        if os.getpid() != arbiter_pid:
            raise
        return _exit_status(stop)
    return 0


def _exit_status(stop: SystemExit) -> int:
    return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
