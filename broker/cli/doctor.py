"""`broker doctor`: is this installation ready to serve sign-ins? One line per check, with the fix."""

from __future__ import annotations

from collections.abc import Iterable

import click

from broker.cli import _runtime
from broker.cli.errors import BrokerError

_MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@click.command()
@click.option("--no-base-url", is_flag=True, help="Skip asking the base URL (run before `broker serve` starts).")
@click.pass_context
def doctor(ctx: click.Context, no_base_url: bool) -> None:
    """Check configuration, database, keys, identity providers, clock and base URL.

    Exits 1 when a check fails (warnings alone exit 0), so it fits a deployment pipeline.
    """
    from broker.services import diagnostics

    failed = False

    def report(findings: Iterable[diagnostics.Finding]) -> None:
        nonlocal failed
        for finding in findings:
            failed = failed or finding.status == "fail"
            line = f"{_MARKS[finding.status]} {finding.check}: {finding.detail}"
            click.echo(line + (f" -> {finding.fix}" if finding.fix and finding.status != "ok" else ""))

    try:
        settings = _runtime.settings(ctx)
    except BrokerError as exc:
        report([diagnostics.Finding("configuration", "fail", exc.format_message(), "fix the settings named above")])
        ctx.exit(1)
    report(diagnostics.configuration(settings, ctx.obj.get("config")))
    keys = list(diagnostics.key_files(settings))
    report(keys)
    try:
        runtime = _runtime.runtime(ctx)
    except BrokerError as exc:
        if not any(f.status == "fail" for f in keys):
            report([diagnostics.Finding("keys", "fail", exc.format_message(), "run `broker init`")])
        failed = True
        runtime = None
    if runtime is not None:
        ctx.call_on_close(runtime.db.dispose)
        database = diagnostics.database(runtime)
        report([database])
        if database.status != "fail":
            report([diagnostics.clock_skew(runtime)])
            report(diagnostics.identity_providers(runtime))
    if not no_base_url:
        report([diagnostics.base_url_answers(settings)])
    if failed:
        ctx.exit(1)
