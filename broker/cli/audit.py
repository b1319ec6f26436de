"""``broker audit``: verify the trail, export it for a SIEM, follow it, seal it, purge it."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from broker.cli.errors import BrokerError

if TYPE_CHECKING:
    from broker.services.runtime import Runtime

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _fail(message: str) -> click.ClickException:
    return BrokerError(message)


def _runtime(ctx: click.Context) -> Runtime:
    from broker.cli.main import _runtime as make_runtime

    runtime: Runtime = make_runtime(ctx)
    ctx.call_on_close(runtime.db.dispose)
    try:
        ready = inspect(runtime.db.engine).has_table("audit_chain_head")
    except SQLAlchemyError as exc:
        raise _fail(f"cannot open the database: {exc.__class__.__name__}") from None
    if not ready:
        raise _fail("the database has no audit trail yet: run `broker init` (it creates or upgrades the schema)")
    return runtime


def parse_time(option: str, text: str | None, now: dt.datetime) -> dt.datetime | None:
    """ISO 8601 (UTC unless it says otherwise) or an age such as ``30m``, ``12h``, ``7d``."""
    if text is None:
        return None
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - dt.timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"{option}: expected an ISO 8601 time or an age like 30m, 12h, 7d; got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _record_cli_event(runtime: Runtime, name: str, parameters: dict[str, Any], read_only: bool) -> None:
    from broker.services.audit import record_event
    from broker.services.setup import CLI_ACTOR

    with runtime.db.transaction() as session:
        record_event(
            session,
            event_name=name,
            event_source="broker.audit",
            actor=CLI_ACTOR,
            now=runtime.now(),
            region=runtime.settings.region,
            source_ip=None,
            user_agent="broker-cli",
            request_id=str(uuid.uuid4()),
            request_parameters=parameters,
            read_only=read_only,
            event_type="AwsServiceEvent",
            recipient_account_id=runtime.settings.default_account_id,
            additional={"osUser": _os_user()},
        )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@click.group()
def audit() -> None:
    """The audit trail: verify, export, tail, digest, purge."""


@audit.command()
@click.option("--from", "start", metavar="TIME", help="Check from the digest before this time (ISO 8601 or 7d).")
@click.option("--to", "end", metavar="TIME", help="Check up to the digest after this time.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def verify(ctx: click.Context, start: str | None, end: str | None, as_json: bool) -> None:
    """Check the hash chain and signed digests; name every event modified, deleted, inserted or reordered."""
    from broker.services.audit.reading import Reader
    from broker.services.audit.verify import verify_trail

    runtime = _runtime(ctx)
    now = runtime.now()
    start_time, end_time = parse_time("--from", start, now), parse_time("--to", end, now)
    if start_time and end_time and start_time > end_time:
        raise _fail("--from must not be later than --to")
    with Reader(runtime.db) as reader, reader.snapshot() as session:
        report = verify_trail(
            session,
            runtime.keys.audit_keys,
            start=start_time,
            end=end_time,
            now=now,
            interval_seconds=runtime.settings.audit_digest_interval_seconds,
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        span = f" (#{report.first_index}..#{report.last_index})" if report.first_index is not None else ""
        click.echo(f"checked {report.events_checked} events{span} and {report.digests_checked} digests")
        for finding in report.findings:
            click.echo(finding.line())
        for warning in report.warnings:
            click.echo(f"warning: {warning}")
        if report.ok:
            click.echo("audit trail verified: no event modified, deleted, inserted or reordered")
    if not report.ok:
        raise _fail(f"audit trail verification failed: {len(report.findings)} problem(s)")


@audit.command()
@click.option("--since", metavar="TIME", help="Export the digests that end at or after this time (default: all).")
@click.option(
    "--dir", "--output-dir", "output_dir", required=True, type=click.Path(file_okay=False), help="Target directory."
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["cloudtrail", "jsonl"]),
    default="cloudtrail",
    show_default=True,
    help='cloudtrail: {"Records": [...]} per file; jsonl: one record per line. Both gzip.',
)
@click.option("--seal/--no-seal", default=True, show_default=True, help="First digest the events not yet digested.")
@click.pass_context
def export(ctx: click.Context, since: str | None, output_dir: str, export_format: str, seal: bool) -> None:
    """Write CloudTrail-style gzip log files and signed digest files to a directory."""
    from broker.services.audit.export import export_trail
    from broker.services.audit.reading import Reader
    from broker.services.audit.worker import seal as write_digest

    runtime = _runtime(ctx)
    since_time = parse_time("--since", since, runtime.now())
    if seal:
        write_digest(runtime, only_if_pending=True)
    directory = Path(output_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with Reader(runtime.db) as reader, reader.snapshot() as session:
            result = export_trail(session, directory, since=since_time, export_format=export_format)  # type: ignore[arg-type]
    except OSError as exc:
        raise _fail(f"{output_dir}: cannot write: {exc.strerror}") from None
    _record_cli_event(
        runtime,
        "ExportAuditEvents",
        {"since": since_time.isoformat() if since_time else None, "format": export_format, "events": result.events},
        read_only=True,
    )
    click.echo(
        f"exported {result.events} events in {len(result.log_files)} log files "
        f"and {len(result.digest_files)} digest files to {directory}/"
    )


@audit.command("verify-export")
@click.argument("directory", type=click.Path(file_okay=False, exists=True))
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False, exists=True), help="audit-keys.json to trust.")
@click.pass_context
def verify_export_command(ctx: click.Context, directory: str, keys_file: str | None) -> None:
    """Check exported files with the public audit keys only."""
    from broker.services.audit.export import verify_export

    if keys_file:
        try:
            jwks = json.loads(Path(keys_file).read_text())
        except (OSError, ValueError):
            raise _fail(f"{keys_file}: not a JSON key set") from None
    else:
        jwks = _runtime(ctx).keys.audit_keys.jwks()
    check = verify_export(Path(directory), jwks)
    for problem in check.problems:
        click.echo(f"PROBLEM: {problem}")
    click.echo(f"checked {check.digests} digest files and {check.events} events")
    if not check.ok:
        raise _fail(f"exported trail verification failed: {len(check.problems)} problem(s)")


def _line(record: dict[str, Any]) -> str:
    identity = record.get("userIdentity") or {}
    who = identity.get("userName") or identity.get("arn") or identity.get("type", "?")
    error = f" {record['errorCode']}" if record.get("errorCode") else ""
    return f"{record.get('eventTime')} {record.get('eventSource')} {record.get('eventName')} {who}{error}"


@audit.command()
@click.option("-n", "--lines", "backlog", default=10, show_default=True, help="Print this many recent events first.")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep printing new events.")
@click.option("--max-events", type=click.IntRange(min=1), help="Stop after printing this many events.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(min=0.05), help="Seconds between polls.")
@click.option("--format", "output", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.pass_context
def tail(
    ctx: click.Context,
    backlog: int,
    follow: bool,
    max_events: int | None,
    timeout: float | None,
    poll: float,
    output: str,
) -> None:
    """Print recent events, then new ones as they commit (one JSON record per line)."""
    from broker.services.audit.reading import Reader
    from broker.store.models import AuditEvent

    runtime = _runtime(ctx)
    deadline = time.monotonic() + timeout if timeout is not None else None
    printed = 0

    def show(record: dict[str, Any]) -> bool:
        nonlocal printed
        click.echo(json.dumps(record, separators=(",", ":")) if output == "json" else _line(record))
        printed += 1
        return max_events is not None and printed >= max_events

    # Positions are assigned under the chain lock and committed in order, so following the
    # position never skips an event that commits later.
    with Reader(runtime.db) as reader:
        with reader.snapshot() as session:
            cursor = session.scalar(select(func.max(AuditEvent.chain_index))) or 0
            recent = list(
                session.execute(
                    select(AuditEvent.chain_index, AuditEvent.record)
                    .order_by(AuditEvent.chain_index.desc())
                    .limit(max(backlog, 0))
                )
            )
        for _index, record in reversed(recent):
            if show(record):
                return
        while follow and (deadline is None or time.monotonic() < deadline):
            with reader.snapshot() as session:
                fresh = list(
                    session.execute(
                        select(AuditEvent.chain_index, AuditEvent.record)
                        .where(AuditEvent.chain_index > cursor)
                        .order_by(AuditEvent.chain_index)
                        .limit(500)
                    )
                )
            for index, record in fresh:
                cursor = index
                if show(record):
                    return
            if not fresh:
                time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))


@audit.command()
@click.pass_context
def digest(ctx: click.Context) -> None:
    """Write a signed digest over the events since the last one, now."""
    from broker.services.audit.worker import seal

    written = seal(_runtime(ctx))
    assert written is not None
    click.echo(
        f"digest #{written.digest_index}: events #{written.first_index}..#{written.last_index} "
        f"({max(0, written.last_index - written.first_index + 1)} events)"
    )


@audit.command()
@click.option("--retention-days", type=click.IntRange(min=1), help="Override audit_retention_days for this run.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_context
def purge(ctx: click.Context, retention_days: int | None, dry_run: bool) -> None:
    """Delete events older than the retention period, a whole digest at a time."""
    from broker.services.audit.worker import purge as run_purge

    runtime = _runtime(ctx)
    days = retention_days or runtime.settings.audit_retention_days
    if not days:
        raise _fail("audit_retention_days is 0 (keep forever); pass --retention-days to purge anyway")
    result = run_purge(runtime, dry_run=dry_run, retention_days=days)
    verb = "would delete" if dry_run else "deleted"
    if result.anchor_digest_index is None:
        click.echo(f"nothing to purge: no digest ended before {result.cutoff:%Y-%m-%dT%H:%M:%SZ}")
        return
    click.echo(
        f"{verb} {result.events_deleted} events and {result.digests_deleted} digests older than "
        f"{result.cutoff:%Y-%m-%dT%H:%M:%SZ}; digest #{result.anchor_digest_index} stays as the trail's anchor"
    )
