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

import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.sock import TCP6Socket, TCPSocket
from gunicorn.workers.gthread import ThreadWorker

from broker.services.audit.worker import AuditWorker
from broker.services.runtime import Runtime
from broker.settings import Settings
from broker.web.app import create_app

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
    # Idle keep-alive connections close after this (and silent new ones, after 5 s more).
    "keepalive": 5,
    "backlog": 2048,
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


class GracefulThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type information
    """gunicorn's threaded worker; SIGINT (Ctrl-C reaches every process of the group) is graceful."""

    def init_signals(self) -> None:
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, Arbiter.SIGNALS)  # held since the fork: see _Arbiter


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
            "worker_class": GracefulThreadWorker,
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
        }
        for name, value in values.items():
            self.cfg.set(name, value)

    def load(self) -> WSGIApplication:
        """In a worker: its own runtime, app and audit worker."""
        gunicorn_wsgi.SERVER = "broker"  # the Server header names the service, not its WSGI server
        self._runtime = runtime = Runtime.from_settings(self.settings)
        self._audit = AuditWorker(runtime).start(seal_at_exit=False)  # sealed in _worker_exit
        app: WSGIApplication = create_app(runtime=runtime)
        if runtime.settings.trusted_proxy_hops == 0:
            app = without_forwarding_headers(app)
        return app

    def _pre_fork(self, arbiter: Any, worker: Any) -> None:
        others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        if others:  # a thread does not survive a fork, and a lock it held stays held in the child
            arbiter.log.warning("threads running in the arbiter before a fork: %s", ", ".join(others))

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
        BrokerServer(settings, options).serve(listener)
    except SystemExit as stop:
        if os.getpid() != arbiter_pid:
            raise
        return _exit_status(stop)
    return 0


def _exit_status(stop: SystemExit) -> int:
    return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
