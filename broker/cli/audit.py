"""``broker audit``: verify the trail, export it for a SIEM, follow it, seal it, purge it."""

from __future__ import annotations

import datetime as dt
import json
import re
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from broker.cli import _runtime
from broker.cli.errors import BrokerError

if TYPE_CHECKING:
    from broker.services.audit.export import ExportFormat

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# broker.services.audit.export.FORMATS, spelled out so the person's commands never load the server.
_EXPORT_FORMATS = ("cloudtrail", "jsonl")


def _fail(message: str) -> click.ClickException:
    return BrokerError(message)


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
    from broker.services.audit import trail

    runtime = _runtime.runtime_with_trail(ctx)
    now = runtime.now()
    start_time, end_time = parse_time("--from", start, now), parse_time("--to", end, now)
    if start_time and end_time and start_time > end_time:
        raise _fail("--from must not be later than --to")
    report = trail.verify(runtime, start=start_time, end=end_time, now=now)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        span = f" (#{report.first_index}..#{report.last_index})" if report.first_index is not None else ""
        click.echo(f"checked {report.events_checked} events{span} and {report.digests_checked} digests")
        if report.origin:
            click.echo(report.origin)
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
    type=click.Choice(_EXPORT_FORMATS),
    default="cloudtrail",
    show_default=True,
    help='cloudtrail: {"Records": [...]} per file; jsonl: one record per line. Both gzip.',
)
@click.option("--seal/--no-seal", default=True, show_default=True, help="First digest the events not yet digested.")
@click.pass_context
def export(ctx: click.Context, since: str | None, output_dir: str, export_format: ExportFormat, seal: bool) -> None:
    """Write CloudTrail-style gzip log files and signed digest files to a directory."""
    from broker.services.audit import trail
    from broker.services.audit.digests import AuditTrailNotBegun
    from broker.services.audit.worker import seal as write_digest

    runtime = _runtime.runtime_with_trail(ctx)
    since_time = parse_time("--since", since, runtime.now())
    if seal:
        try:
            write_digest(runtime, only_if_pending=True)
        except AuditTrailNotBegun as exc:
            raise _fail(exc.message) from None
    directory = Path(output_dir)
    try:
        result = trail.export(runtime, directory, since=since_time, export_format=export_format)
    except OSError as exc:
        raise _fail(f"{output_dir}: cannot write: {exc.strerror}") from None
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
        jwks = _runtime.runtime_with_trail(ctx).keys.audit_keys.jwks()
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
    from broker.services.audit import trail

    runtime = _runtime.runtime_with_trail(ctx)
    records = trail.follow(runtime, backlog=backlog, keep_following=follow, timeout=timeout, poll=poll)
    with closing(records):
        for printed, record in enumerate(records, start=1):
            click.echo(json.dumps(record, separators=(",", ":")) if output == "json" else _line(record))
            if max_events is not None and printed >= max_events:
                return


@audit.command()
@click.pass_context
def digest(ctx: click.Context) -> None:
    """Write a signed digest over the events since the last one, now."""
    from broker.services.audit.digests import AuditTrailNotBegun
    from broker.services.audit.worker import seal

    try:
        written = seal(_runtime.runtime_with_trail(ctx))
    except AuditTrailNotBegun as exc:
        raise _fail(exc.message) from None
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

    runtime = _runtime.runtime_with_trail(ctx)
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
