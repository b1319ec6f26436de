"""``broker login``, ``broker logout``, ``broker roles``: the broker session of a person at a terminal."""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any

import click

from broker.cli import awsfiles, cache, oauth, paths, sso_session
from broker.cli.errors import BrokerError
from broker.cli.profiles import Profile, check_profile_name, get_profile, load_profiles, normalise_url, save_profile
from broker.cli.refresh import live_session, remember, utcnow


def _say(line: str) -> None:
    click.echo(line, err=True)


def _role_from_session(broker: oauth.BrokerHttp, session: cache.BrokerSession) -> str | None:
    """The role for a new profile when --role is not given: the only one, or the person's pick."""
    try:
        roles = oauth.session_info(broker, session.refresh_token).get("Roles") or []
    except oauth.TokenError:
        return None  # the session is gone: the browser will sort it out
    arns = [str(role.get("RoleArn")) for role in roles]
    if len(arns) == 1:
        return arns[0]
    if not arns:
        raise BrokerError(f"no role is available to {session.subject} at {broker.url}")
    if not sys.stdin.isatty():
        listed = ", ".join(arns)
        raise BrokerError(f"several roles are available ({listed}); choose one with --role")
    _say(f"Roles available to {session.subject}:")
    for number, arn in enumerate(arns, 1):
        _say(f"  {number}. {arn}")
    choice: int = click.prompt("Role", type=click.IntRange(1, len(arns)), err=True)
    return arns[choice - 1]


@click.command()
@click.option("--url", help="The broker's URL, e.g. https://sso.example.com (remembered in the profile).")
@click.option("--profile", "profile_name", required=True, help="Name to store the credentials under.")
@click.option("--role", "role_arn", help="Role ARN to assume (remembered); else chosen in the browser.")
@click.option("--duration", type=click.IntRange(900, 43200), help="Credential lifetime in seconds (900-43200).")
@click.option("--provider", help="Identity provider to sign in with when the broker has several.")
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL instead of opening a browser.")
@click.option("--device", is_flag=True, help="Sign in on another device with a code (SSH, containers, WSL).")
@click.option("--write-aws-credentials", is_flag=True, help="Also write the profile to ~/.aws/credentials.")
@click.option(
    "--sso-session",
    "sso_session_name",
    metavar="NAME",
    help="Sign in for stock AWS tools instead: write the SSO token cache and an sso_session profile to ~/.aws.",
)
@click.option("--region", default="us-east-1", show_default=True, help="Region named in the sso_session profile.")
@click.option(
    "--timeout", type=click.IntRange(1, 3600), default=300, show_default=True, help="Seconds to wait for the browser."
)
def login(
    url: str | None,
    profile_name: str,
    role_arn: str | None,
    duration: int | None,
    provider: str | None,
    no_browser: bool,
    device: bool,
    write_aws_credentials: bool,
    sso_session_name: str | None,
    region: str,
    timeout: int,
) -> None:
    """Sign in through the browser and store credentials for a profile.

    Within the broker session of an earlier sign-in, no browser opens: the broker issues the
    credentials for the profile's role directly. With --sso-session, the sign-in is the AWS SSO
    one instead, and the AWS CLI and SDKs refresh the token and the credentials on their own.
    """
    check_profile_name(profile_name)
    if sso_session_name is not None:
        _sso_login(url, profile_name, sso_session_name, region, role_arn, device, not no_browser, timeout)
        return
    existing = get_profile(profile_name)
    if url:
        url = normalise_url(url)
    elif existing is not None:
        url = existing.url
    else:
        raise BrokerError(f"profile {profile_name!r} is new: give the broker's address with --url")
    same_broker = existing is not None and existing.url == url
    profile = Profile(
        name=profile_name,
        url=url,
        role_arn=role_arn or (existing.role_arn if same_broker and existing else None),
        duration_seconds=duration or (existing.duration_seconds if same_broker and existing else None),
        provider=provider or (existing.provider if same_broker and existing else None),
        write_aws_credentials=write_aws_credentials or bool(existing and existing.write_aws_credentials),
    )
    broker = oauth.BrokerHttp(url)
    broker.check_reachable()

    body: dict[str, Any] | None = None
    session = live_session(url, utcnow())
    if session is not None:
        role = profile.role_arn or _role_from_session(broker, session)
        if role is not None:
            try:
                body = oauth.refresh(broker, session.refresh_token, role, profile.duration_seconds)
                _say(f"Using the broker session of {session.subject} (no browser needed).")
            except oauth.TokenError as exc:
                if exc.error == "invalid_scope":
                    raise BrokerError(f"role {role} is not permitted: {exc.description}") from None
                if exc.error != "invalid_grant":
                    raise BrokerError(f"the broker refused: {exc.description}") from None
                cache.delete_session(url)  # ended or revoked: sign in again below
    if body is None:
        if device:
            body = oauth.device_login(broker, role_arn=profile.role_arn, duration=profile.duration_seconds, say=_say)
        else:
            body = oauth.browser_login(
                broker,
                role_arn=profile.role_arn,
                duration=profile.duration_seconds,
                provider=profile.provider,
                open_browser=not no_browser,
                timeout=timeout,
                say=_say,
            )
    # The role actually granted (chosen in the browser, or given) is what later refreshes ask for.
    profile = profile.but(role_arn=str(body.get("RoleArn") or profile.role_arn or "") or None)
    credentials = remember(profile, body)
    save_profile(profile)
    click.echo(
        f"Profile {profile.name}: {credentials.assumed_role_arn or credentials.role_arn} "
        f"until {cache.iso(credentials.expiration)}."
    )
    if profile.write_aws_credentials:
        click.echo(f"Wrote [{profile.name}] to {paths.aws_credentials_file()}.")
    if not awsfiles.config_mentions_profile(paths.aws_config_file(), profile.name):
        command = "broker" if shutil.which("broker") else f"{sys.executable} -m broker.cli.main"
        _say(f"To use it from the AWS CLI and SDKs, add to {paths.aws_config_file()}:")
        _say("")
        for line in awsfiles.config_snippet(profile.name, url, command, region=credentials.region).splitlines():
            _say(f"  {line}")
        _say("")


def _sso_login(
    url: str | None,
    profile_name: str,
    session_name: str,
    region: str,
    role_arn: str | None,
    device: bool,
    open_browser: bool,
    timeout: int,
) -> None:
    if not url:
        raise BrokerError("--sso-session needs the broker's address with --url")
    broker = oauth.BrokerHttp(normalise_url(url))
    broker.check_reachable()
    written = sso_session.sso_login(
        broker,
        session_name=session_name,
        profile=profile_name,
        region=region,
        role_arn=role_arn,
        device=device,
        open_browser=open_browser,
        timeout=timeout,
        say=_say,
    )
    click.echo(f"Profile {profile_name}: sso_session {session_name} in {paths.aws_config_file()}; token in {written}.")
    _say(f"Stock AWS tools refresh it on their own, e.g. `aws sts get-caller-identity --profile {profile_name}`.")


@click.command()
@click.option("--profile", "profile_name", required=True)
def logout(profile_name: str) -> None:
    """Drop a profile's cached credentials and sign its broker session out.

    Other profiles on the same broker keep their cached credentials until they expire, but can
    no longer refresh them.
    """
    check_profile_name(profile_name)
    profile = get_profile(profile_name)
    if profile is None:
        raise BrokerError(f"no profile {profile_name!r} here")
    session = cache.read_session(profile.url)
    if session is not None:
        try:
            oauth.revoke(oauth.BrokerHttp(profile.url), session.refresh_token)
        except BrokerError as exc:
            _say(
                f"broker: could not sign out at the broker ({exc.format_message()}); the local copy is removed "
                f"and the session ends on its own at {cache.iso(session.expires_at)}"
            )
        cache.delete_session(profile.url)
    cache.delete_credentials(profile.name)
    if profile.write_aws_credentials:
        awsfiles.remove_credentials_profile(paths.aws_credentials_file(), profile.name)
    others = sorted(name for name, p in load_profiles().items() if p.url == profile.url and name != profile.name)
    click.echo(f"Signed out of {profile.url}; removed the credentials of profile {profile.name}.")
    if others:
        click.echo(
            f"Profiles {', '.join(others)} keep their credentials until they expire; `broker login` renews them."
        )


@click.command()
@click.option("--url", help="The broker's URL.")
@click.option("--profile", "profile_name", help="Use the broker of this profile.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def roles(url: str | None, profile_name: str | None, as_json: bool) -> None:
    """List the roles you may assume, from your current broker session."""
    if url:
        url = normalise_url(url)
    elif profile_name:
        found = get_profile(check_profile_name(profile_name))
        if found is None:
            raise BrokerError(f"no profile {profile_name!r} here")
        url = found.url
    else:
        raise BrokerError("give --url (or --profile)")
    session = live_session(url, utcnow())
    if session is None:
        raise BrokerError(f"no broker session for {url}; run `broker login --url {url} --profile NAME` first")
    try:
        info = oauth.session_info(oauth.BrokerHttp(url), session.refresh_token)
    except oauth.TokenError as exc:
        if exc.error == "invalid_grant":
            cache.delete_session(url)
        raise BrokerError(f"the broker session has ended ({exc.description}); run `broker login` again") from None
    listed = info.get("Roles") or []
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info.get('Subject')} via {info.get('ProviderArn')}, session until {info.get('Expiration')}")
    rows = [("ROLE ARN", "ACCOUNT", "MAX DURATION", "DESCRIPTION")]
    rows += [
        (
            str(r.get("RoleArn")),
            str(r.get("AccountAlias") or r.get("AccountId")),
            f"{int(r.get('MaxSessionDuration') or 0) // 60} min",
            str(r.get("Description") or ""),
        )
        for r in listed
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
