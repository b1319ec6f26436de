"""Commands that use a profile's credentials: credential-process, exec, env, whoami."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager

import click

from broker.cli import shell
from broker.cli.errors import BrokerError
from broker.cli.oauth import BrokerHttp
from broker.cli.profiles import resolve_profile_name
from broker.cli.refresh import fresh_credentials, utcnow
from broker.cli.signing import sign_post

_profile_option = click.option(
    "--profile", "profile_name", help="Profile stored by `broker login` (may be left out when there is only one)."
)


def _profile(profile_name: str | None) -> str:
    return resolve_profile_name(profile_name, say=lambda line: click.echo(line, err=True))


@click.command("credential-process")
@_profile_option
def credential_process(profile_name: str | None) -> None:
    """Print credentials as the AWS SDKs' credential_process expects (Version 1 JSON).

    In ~/.aws/config:  credential_process = broker credential-process --profile NAME
    """
    credentials = fresh_credentials(_profile(profile_name))
    click.echo(json.dumps(credentials.credential_process_json()))


# Options end at the command's name: in `broker exec --profile dev aws s3 ls --profile prod`, the
# second --profile is the child's (without `--`, click would otherwise take it as broker's own).
@click.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_profile_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_command(ctx: click.Context, profile_name: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND with the profile's credentials in its environment, and the broker as the
    endpoint of the APIs it serves (IAM, STS, Organizations, CloudTrail; other services keep
    their usual endpoints).

    Exits with the command's exit status:  broker exec --profile dev -- aws sts get-caller-identity
    """
    credentials = fresh_credentials(_profile(profile_name))
    inherited = {name: value for name, value in os.environ.items() if name not in shell.SUPERSEDED}
    environment = {**inherited, **shell.environment(credentials)}
    if "AWS_REGION" not in environment and "AWS_DEFAULT_REGION" not in environment:
        environment["AWS_DEFAULT_REGION"] = credentials.region
    ctx.exit(_run_child(list(command), environment))


# Signals that ask a process to stop, passed on to the child so that it decides how to stop; a
# service manager, a CI runner's timeout or `kill` stopping broker stops the command too.
_FORWARDED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


def _run_child(command: list[str], environment: dict[str, str]) -> int:
    """Run the command and wait for it: its exit status, 128 + N when signal N ended it (as a shell
    reports it). Nothing runs after it, but broker stays its parent (not os.exec) so that the
    command's status and signals pass the same way on every platform and in tests."""
    try:
        child = subprocess.Popen(command, env=environment)  # noqa: S603  (the person's own command)
    except FileNotFoundError:
        raise BrokerError(f"command not found: {command[0]}") from None
    except PermissionError:
        raise BrokerError(f"command not executable: {command[0]}") from None
    except OSError as exc:
        hint = " (a script needs a #! line naming its interpreter)" if exc.errno == errno.ENOEXEC else ""
        raise BrokerError(f"cannot run {command[0]}: {exc.strerror}{hint}") from None
    with _signals_passed_to(child):
        code = child.wait()
    return 128 - code if code < 0 else code


@contextmanager
def _signals_passed_to(child: subprocess.Popen[bytes]) -> Iterator[None]:
    """While the child runs, Ctrl-C is its own: the terminal sends SIGINT to the whole foreground
    process group, the child included, and an interrupted broker would kill the child before it
    cleans up (subprocess.run sends SIGKILL 0.25 s later). SIGTERM, SIGHUP and SIGQUIT sent to broker
    alone are passed on to the child."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can be set in the main thread only
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, *_FORWARDED)}

    def pass_on(number: int, frame: object) -> None:
        child.send_signal(number)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in _FORWARDED:
        signal.signal(number, pass_on)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if handler is not None:  # None: set outside Python, and not ours to restore
                signal.signal(number, handler)


@click.command("env")
@_profile_option
@click.option("--format", "shell_format", type=click.Choice(shell.FORMATS), default="bash", show_default=True)
def env_command(profile_name: str | None, shell_format: str) -> None:
    """Print the profile's credentials as environment variables.

    bash/zsh:  eval "$(broker env --profile dev)"    fish:  broker env --profile dev --format fish | source
    PowerShell:  broker env --profile dev --format powershell | Invoke-Expression
    """
    credentials = fresh_credentials(_profile(profile_name))
    variables = shell.environment(credentials)
    # The AWS CLI refuses to run without a region: name the broker's, unless the shell has one.
    if "AWS_REGION" not in os.environ and "AWS_DEFAULT_REGION" not in os.environ:
        variables["AWS_DEFAULT_REGION"] = credentials.region
    # Unset whether or not this process sees them: the output may be sourced in another shell later.
    click.echo(shell.render(variables, shell_format, unset=shell.SUPERSEDED), nl=False)


@click.command()
@_profile_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def whoami(profile_name: str | None, as_json: bool) -> None:
    """Ask the broker who the profile's credentials are (STS GetCallerIdentity)."""
    credentials = fresh_credentials(_profile(profile_name))
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    url = credentials.url + "/"
    headers = sign_post(url, body, credentials, service="sts", now=utcnow())
    identity = _caller_identity(BrokerHttp(credentials.url), body, headers)
    if as_json:
        click.echo(json.dumps(identity, indent=2))
    else:
        for key in ("Arn", "UserId", "Account"):
            click.echo(f"{key + ':':9}{identity.get(key, '')}")


def _caller_identity(broker: BrokerHttp, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    status, raw = broker.raw("POST", "/", body, headers)
    if status != 200:
        raise BrokerError(f"GetCallerIdentity was refused (HTTP {status}): {_aws_error(raw)}")
    try:
        root = ET.fromstring(raw)  # noqa: S314  (the broker's answer over our own connection)
    except ET.ParseError:
        raise BrokerError("the broker's GetCallerIdentity answer is not XML") from None
    return {
        element.tag.rpartition("}")[2]: (element.text or "")
        for element in root.iter()
        if element.tag.rpartition("}")[2] in ("Arn", "UserId", "Account")
    }


def _aws_error(raw: bytes) -> str:
    try:
        root = ET.fromstring(raw)  # noqa: S314
    except ET.ParseError:
        return "HTTP error"
    found = {element.tag.rpartition("}")[2]: element.text or "" for element in root.iter()}
    return f"{found.get('Code', 'Error')}: {found.get('Message', '')}".strip()
