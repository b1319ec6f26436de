"""``broker serve``: check what the workers will need, take the port, then run the server."""

from __future__ import annotations

import click

from broker.cli import _runtime
from broker.cli.errors import BrokerError


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default from settings).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port to listen on (default from settings).")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes, each with its own threads and database pool (default from settings: 1).",
)
@click.option(
    "--threads", default=None, type=click.IntRange(1, 256), help="Threads per worker (default from settings: 8)."
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Run the broker (WSGI server: gunicorn, threaded worker processes)."""
    from broker.services.setup import SetupError, prepare_to_serve
    from broker.web import server

    if host is not None and not host.strip():
        raise BrokerError("--host is empty: give the interface to listen on (127.0.0.1, 0.0.0.0, ::) or leave it out")
    settings = _runtime.settings(ctx)
    # Checked here, once, so a missing key or a bad metadata file is one line before anything
    # forks; each worker then builds its own runtime, and this one's engine is closed.
    runtime = _runtime.runtime(ctx)
    try:
        prepare_to_serve(runtime)
    except SetupError as exc:
        raise BrokerError(str(exc)) from None
    finally:
        runtime.db.dispose()
    del runtime
    options = server.ServerOptions(
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        workers=settings.workers if workers is None else workers,
        threads=settings.threads if threads is None else threads,
    )
    try:
        listener = server.listen(options.host, options.port)
    except server.ListenError as exc:
        raise BrokerError(str(exc)) from None
    click.echo(f"broker listening on http://{options.host}:{options.port} (public URL {settings.base_url})", err=True)
    if settings.demo:
        click.echo(
            f"DEMO MODE: open {settings.base_url}/ and sign in through 'demo' as alice / alice-demo "
            "(bob / bob-demo, carol / carol-demo). Never expose demo mode.",
            err=True,
        )
    status = server.run(settings, options, listener)
    if status != 0:
        raise BrokerError(f"the server stopped with status {status}; the lines above say why")
