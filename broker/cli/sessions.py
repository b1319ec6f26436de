"""``broker sessions list|revoke``: the sign-ins people hold (browser, SSO and CLI sessions), and ending them."""

from __future__ import annotations

import json

import click

from broker.cli import _runtime
from broker.cli.errors import BrokerError

_PERSON = click.option("--person", help="The sign-in's subject (the IdP's NameID).")
_ROLE = click.option("--role", "role_arn", help="A role ARN the session reaches.")
_SESSION = click.option("--session", "session_id", help="A session id, as `broker sessions list` shows it.")
_KIND = click.option(
    "--kind",
    type=click.Choice(["sso", "cli", "web"]),
    help="Only SSO sessions (stock AWS tools), CLI sessions (`broker login`) or browser sign-ins.",
)


@click.group()
def sessions() -> None:
    """List and revoke the browser, SSO and CLI sessions people hold."""


@sessions.command("list")
@_PERSON
@_ROLE
@_SESSION
@_KIND
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.pass_context
def list_command(
    ctx: click.Context,
    person: str | None,
    role_arn: str | None,
    session_id: str | None,
    kind: str | None,
    as_json: bool,
) -> None:
    """The live sessions, optionally only a person's, a role's or one session."""
    from broker.services.sessions import Selection, list_sessions

    runtime = _runtime.runtime_with_trail(ctx)
    found = list_sessions(runtime, Selection(person, role_arn, session_id, kind))
    if as_json:
        click.echo(json.dumps({"Sessions": [held.as_json() for held in found]}, indent=2))
        return
    if not found:
        click.echo("no live sessions")
        return
    for held in found:
        shown = held.as_json()
        roles = ",".join(held.role_arns) or "-"
        click.echo(
            f"{held.kind}\t{held.session_id}\t{held.subject}\t{shown['CreatedAt']}\t{shown['ExpiresAt']}\t{roles}"
        )


@sessions.command("revoke")
@_PERSON
@_ROLE
@_SESSION
@_KIND
@click.option(
    "--older-than-now",
    is_flag=True,
    help="With --role: also deny every credential of the role issued until now "
    "(the inline policy AWSRevokeOlderSessions, as the AWS console's 'Revoke active sessions').",
)
@click.pass_context
def revoke_command(
    ctx: click.Context,
    person: str | None,
    role_arn: str | None,
    session_id: str | None,
    kind: str | None,
    older_than_now: bool,
) -> None:
    """Revoke sessions (refused at their next request on every instance); audited."""
    from broker.iam.arn import InvalidArn
    from broker.iam.errors import AwsError
    from broker.services.sessions import Selection, revoke_older_role_sessions, revoke_sessions

    selection = Selection(person, role_arn, session_id, kind)
    if selection.empty:
        raise BrokerError("name what to revoke: --person, --role or --session")
    if older_than_now and role_arn is None:
        raise BrokerError("--older-than-now needs --role ARN")
    runtime = _runtime.runtime_with_trail(ctx)
    if older_than_now:
        assert role_arn is not None
        try:
            cutoff = revoke_older_role_sessions(runtime, role_arn)
        except InvalidArn as exc:
            raise BrokerError(str(exc)) from None
        except AwsError as exc:
            raise BrokerError(f"{exc.code}: {exc.message}") from None
        stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{role_arn}: credentials issued before {stamp} are denied (inline policy AWSRevokeOlderSessions)")
    revoked = revoke_sessions(runtime, selection)
    for held in revoked:
        click.echo(f"revoked {held.kind} session {held.session_id} of {held.subject}")
    if not revoked:
        click.echo("no live session matched")
