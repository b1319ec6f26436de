"""The ``broker`` command."""

from __future__ import annotations

import logging
import sys

import click

from broker import __version__
from broker.cli import _runtime, waiting
from broker.cli.audit import audit
from broker.cli.credential_commands import credential_process, env_command, exec_command, whoami
from broker.cli.doctor import doctor
from broker.cli.errors import BrokerError
from broker.cli.keys import keys
from broker.cli.login import login, logout, roles
from broker.cli.serve import serve
from broker.cli.sessions import sessions
from broker.crypto.keys import ensure_keys, missing_key_files
from broker.errors import DatabaseUnavailable
from broker.logs import TEXT_FORMAT

__all__ = ["BrokerError", "cli", "main"]


@click.group()
@click.version_option(__version__, "--version", prog_name="broker", message="%(prog)s %(version)s")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="BROKER_CONFIG",
    help="TOML settings file (every key can also be set as BROKER_<KEY>).",
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """SAML identity federation broker with AWS IAM/STS-compatible APIs."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    for chatty in ("xmlschema", "saml2", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@cli.command()
@click.option(
    "--require-keys",
    is_flag=True,
    help="Refuse to generate missing keys (instances that share keys mount them; see docs/deployment.md).",
)
@click.pass_context
def init(ctx: click.Context, require_keys: bool) -> None:
    """Create keys, database schema and default account; keep whatever exists."""
    from broker.services.setup import SetupError, initialise, record_keys_created, setting_up

    settings = _runtime.settings(ctx)
    if require_keys and (missing := missing_key_files(settings.certs_dir)):
        raise BrokerError(
            f"missing key files in {settings.certs_dir}/: {', '.join(missing)} "
            "(mount the keys every instance shares, or run `broker init` once without --require-keys to create them)"
        )
    created = ensure_keys(settings.certs_dir, common_name=settings.sp_entity_id)
    runtime = _runtime.runtime(ctx)
    ctx.call_on_close(runtime.db.dispose)
    with setting_up(runtime):
        if settings.demo:
            from broker.demo.setup import prepare_demo

            prepare_demo(runtime)
        try:
            initialise(runtime)
        except SetupError as exc:
            raise BrokerError(str(exc)) from None
        record_keys_created(runtime, created)
        if settings.demo:
            from broker.demo.setup import seed_demo

            seed_demo(runtime)
    click.echo(f"keys: {', '.join(created) if created else 'all present'} in {settings.certs_dir}/")
    click.echo(f"database: {settings.database_url_shown} at the newest schema")


@cli.command("bootstrap-admin")
@click.option("--user-name", default="admin", show_default=True)
@click.pass_context
def bootstrap_admin(ctx: click.Context, user_name: str) -> None:
    """Print an administrator's access key as JSON (created on first use)."""
    from broker.iam.errors import AwsError
    from broker.services.setup import SetupError, upgrade_schema
    from broker.services.setup import bootstrap_admin as make_admin

    runtime = _runtime.runtime(ctx)
    ctx.call_on_close(runtime.db.dispose)
    upgrade_schema(runtime)
    try:
        credentials = make_admin(runtime, user_name)
    except AwsError as exc:
        raise BrokerError(exc.message) from None
    except SetupError as exc:
        raise BrokerError(str(exc)) from None
    click.echo(credentials.to_json())


# The person's side: sign in through the browser, then use the credentials.
for _command in (login, logout, roles, credential_process, exec_command, env_command, whoami):
    cli.add_command(_command)
cli.add_command(serve)
cli.add_command(audit)
cli.add_command(keys)
cli.add_command(doctor)
cli.add_command(sessions)


def _aborted(abort: click.exceptions.Abort) -> int:
    """Ctrl-C (anywhere, a prompt included) exits 130, as a shell reports SIGINT; the input ending at
    a prompt exits 1. Click turns both into Abort: outside a prompt ``from`` the interruption, and at
    a prompt while handling it (``raise Abort() from None`` keeps it as the context)."""
    at_prompt = abort.__cause__ is None and abort.__context__ is not None
    reason = abort.__context__ if at_prompt else abort.__cause__
    if at_prompt:
        click.echo(err=True)  # end the prompt's line, and the ^C or ^D the terminal echoed on it
    if isinstance(reason, KeyboardInterrupt):
        click.echo("broker: cancelled (Ctrl-C)", err=True)
        return waiting.INTERRUPTED
    if isinstance(reason, EOFError):
        click.echo("broker: aborted: the input ended before the question was answered", err=True)
        return 1
    click.echo("broker: aborted", err=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the command; its exit status is returned, never raised (``broker exec``'s is its child's)."""
    try:
        # Without standalone mode click returns ctx.exit(N)'s status instead of raising SystemExit.
        status = cli.main(args=argv, prog_name="broker", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort as exc:
        return _aborted(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except DatabaseUnavailable as exc:  # any command that opens the database
        click.echo(
            f"broker: {exc.message} (is the database running, and are the host, port, user and password "
            "in database_url right?)",
            err=True,
        )
        return 1
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
