"""``broker login``, ``broker logout``, ``broker roles``: the broker session of a person at a terminal."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

from broker.cli import awsfiles, cache, oauth, paths, sso_session, waiting
from broker.cli.errors import BrokerError
from broker.cli.profiles import (
    Profile,
    check_profile_name,
    get_profile,
    load_profiles,
    normalise_url,
    require_profile,
    resolve_profile_name,
    save_profile,
)
from broker.cli.refresh import live_session, remember, utcnow
from broker.cli.role_choice import ROLE_PROMPT, RoleChoice, ask_role


def _say(line: str) -> None:
    click.echo(line, err=True)


def _interactive() -> bool:
    """Whether a person can answer a prompt (tests replace this)."""
    return sys.stdin.isatty()


def _role_from_session(broker: oauth.BrokerHttp, session: cache.BrokerSession) -> str | None:
    """The role for a new profile when --role is not given: the only one, or the person's pick."""
    try:
        roles = oauth.session_info(broker, session.refresh_token).get("Roles") or []
    except oauth.TokenError:
        return None  # the session is gone: the browser will sort it out
    choices = [_role_choice(r) for r in roles]
    if len(choices) == 1:
        return choices[0].arn
    if not choices:
        raise BrokerError(f"no role is available to {session.subject} at {broker.url}")
    if not _interactive():
        listed = ", ".join(choice.arn for choice in choices)
        raise BrokerError(f"several roles are available ({listed}); choose one with --role")
    _say(f"Roles available to {session.subject}:")
    picked = ask_role(choices, lambda: str(click.prompt(ROLE_PROMPT, err=True)), _say)
    return picked.arn


def _role_choice(role: dict[str, Any]) -> RoleChoice:
    """A role of the broker session's ``Roles``, as the prompt and the roles table name it."""
    return RoleChoice(
        str(role.get("RoleArn")),
        str(role.get("AccountId") or ""),
        account_alias=str(role.get("AccountAlias") or "") or None,
        account_name=str(role.get("AccountName") or "") or None,
        description=str(role.get("Description") or ""),
    )


@click.command()
@click.option("--url", help="The broker's URL, e.g. https://sso.example.com (remembered in the profile).")
@click.option(
    "--profile",
    "profile_name",
    help="Name to store the credentials under (may be left out to sign in again to the only profile).",
)
@click.option("--role", "role_arn", help="Role ARN to assume (remembered); else chosen in the browser.")
@click.option("--duration", type=click.IntRange(900, 43200), help="Credential lifetime in seconds (900-43200).")
@click.option("--provider", help="Identity provider to sign in with when the broker has several.")
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL instead of opening a browser.")
@click.option("--device", is_flag=True, help="Sign in on another device with a code (SSH, containers, WSL).")
@click.option("--yes", "-y", is_flag=True, help="Ask nothing: with --device, sign in anew even within a session.")
@click.option("--write-aws-credentials", is_flag=True, help="Also write the profile to ~/.aws/credentials.")
@click.option(
    "--write-config",
    is_flag=True,
    help="Write the profile's section to ~/.aws/config (the diff is shown; the old file is kept as config.bak).",
)
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
    profile_name: str | None,
    role_arn: str | None,
    duration: int | None,
    provider: str | None,
    no_browser: bool,
    device: bool,
    yes: bool,
    write_aws_credentials: bool,
    write_config: bool,
    sso_session_name: str | None,
    region: str,
    timeout: int,
) -> None:
    """Sign in through the browser and store credentials for a profile.

    Within the broker session of an earlier sign-in, no browser opens: the broker issues the
    credentials for the profile's role directly. With --sso-session, the sign-in is the AWS SSO
    one instead, and the AWS CLI and SDKs refresh the token and the credentials on their own.
    """
    if sso_session_name is not None:
        if profile_name is None:
            raise BrokerError("--sso-session needs --profile NAME for the profile it writes to ~/.aws/config")
        check_profile_name(profile_name)
        _sso_login(url, profile_name, sso_session_name, region, role_arn, device, not no_browser, timeout)
        return
    profile_name = _login_profile_name(profile_name, url)
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
    if profile.write_aws_credentials:
        awsfiles.check_credentials_profile(paths.aws_credentials_file(), profile.name)  # before, not after, sign-in
    broker = oauth.BrokerHttp(url)
    broker.check_reachable()

    body: dict[str, Any] | None = None
    session = live_session(url, utcnow())
    if session is not None and device and not _reuse_session_for_device(session, yes):
        session = None  # the person asked for a new sign-in with a code; the old session is replaced below
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
        replaced = cache.read_session(url)
        progress = waiting.Progress(sys.stderr)
        with waiting.ctrl_c_ends("sign-in"):
            if device:
                body = oauth.device_login(
                    broker, role_arn=profile.role_arn, duration=profile.duration_seconds, say=_say, progress=progress
                )
            else:
                body = oauth.browser_login(
                    broker,
                    role_arn=profile.role_arn,
                    duration=profile.duration_seconds,
                    provider=profile.provider,
                    open_browser=not no_browser,
                    timeout=timeout,
                    say=_say,
                    progress=progress,
                )
        if replaced is not None and body.get("refresh_token") and body.get("refresh_token") != replaced.refresh_token:
            _end_quietly(broker, replaced)  # the new sign-in takes its place: leave no orphan session at the broker
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
    _offer_aws_config(profile.name, url, credentials.region, write_config, yes)


def _login_profile_name(profile_name: str | None, url: str | None) -> str:
    """--profile, or the only profile when it is left out (and --url, if given, is that profile's broker)."""
    if profile_name is not None:
        return check_profile_name(profile_name)
    profiles = load_profiles()
    if len(profiles) == 1:
        only = next(iter(profiles.values()))
        if url is None or normalise_url(url) == only.url:
            return resolve_profile_name(None, say=_say)
        raise BrokerError(f"the only profile, {only.name}, is for {only.url}; name a new one with --profile NAME")
    if not profiles:
        raise BrokerError("name the profile to create with --profile NAME (and give the broker's --url)")
    return resolve_profile_name(None, say=_say)


def _reuse_session_for_device(session: cache.BrokerSession, yes: bool) -> bool:
    """--device within a live session: reuse it if the person says so; --yes or no terminal signs in anew."""
    if yes or not _interactive():
        _say(f"Signing in anew with a code, as --device asks (replacing the broker session of {session.subject}).")
        return False
    return bool(
        click.confirm(
            f"A broker session of {session.subject} is live until {cache.iso(session.expires_at)}. Use it instead of "
            "signing in with a code?",
            default=True,
            err=True,
        )
    )


def _end_quietly(broker: oauth.BrokerHttp, session: cache.BrokerSession) -> None:
    # On failure it ends on its own at its expiry; nothing refers to it any more.
    with contextlib.suppress(BrokerError):
        oauth.revoke(broker, session.refresh_token)


def _offer_aws_config(profile_name: str, url: str, region: str, write: bool, yes: bool) -> None:
    """Show the ~/.aws/config section, and write it when asked (--write-config, or yes at the prompt)."""
    config = paths.aws_config_file()
    if awsfiles.config_mentions_profile(config, profile_name) and not write:
        return
    current, updated = awsfiles.config_with_profile(config, profile_name, url, region=region)
    if current == updated:
        return
    if not write and not (_interactive() and not yes):
        _say(f"To use it from the AWS CLI and SDKs, add to {config} (or run `broker login --write-config`):")
        _say("")
        for line in awsfiles.config_snippet(profile_name, url, region=region).splitlines():
            _say(f"  {line}" if line else "")
        _say("")
        return
    _say(f"Changes to {config}:")
    for line in awsfiles.config_diff(config, current, updated):
        _say(line)
    if not write and not click.confirm(f"Write them to {config}?", default=True, err=True):
        return
    backup = awsfiles.write_config(config, current, updated)
    _say(f"Wrote {config}" + (f" (the previous file is {backup})." if backup else "."))


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
@click.option("--profile", "profile_name", help="The profile to sign out (may be left out when there is only one).")
@click.option("--all", "everything", is_flag=True, help="Sign out of every profile and end every broker session.")
def logout(profile_name: str | None, everything: bool) -> None:
    """Forget a profile's credentials; end its broker session when no other profile uses it.

    The broker session is shared by every profile on one broker URL: `--all` ends them all.
    """
    if everything:
        if profile_name is not None:
            raise BrokerError("give --profile NAME or --all, not both")
        _logout_all()
        return
    profile = require_profile(resolve_profile_name(profile_name, say=_say))
    _forget_credentials(profile)
    # Profiles signed out before (no credentials left) no longer count as using the session.
    others = sorted(
        name
        for name, p in load_profiles().items()
        if p.url == profile.url and name != profile.name and cache.credentials_path(name).exists()
    )
    click.echo(f"Removed the credentials of profile {profile.name}.")
    if others:
        click.echo(
            f"The broker session at {profile.url} stays signed in: profiles {', '.join(others)} still use it "
            "(`broker logout --all` ends it)."
        )
        return
    if _end_session(profile.url):
        click.echo(f"Signed out of {profile.url}.")


def _logout_all() -> None:
    profiles = load_profiles()
    for profile in profiles.values():
        _forget_credentials(profile)
    ended = [url for url in sorted({p.url for p in profiles.values()}) if _end_session(url)]
    names = ", ".join(sorted(profiles)) or "none"
    click.echo(f"Removed the credentials of every profile ({names}).")
    for url in ended:
        click.echo(f"Signed out of {url}.")


def _forget_credentials(profile: Profile) -> None:
    cache.delete_credentials(profile.name)
    if profile.write_aws_credentials:
        shared = paths.aws_credentials_file()
        if awsfiles.remove_credentials_profile(shared, profile.name) == "kept":
            _say(
                f"broker: left [{profile.name}] in {shared} as it is: it holds long-lived keys the broker did not write"
            )


def _end_session(url: str) -> bool:
    """Revoke the broker session of ``url`` at the broker and drop the local copy; whether there was one."""
    session = cache.read_session(url)
    if session is None:
        return False
    try:
        oauth.revoke(oauth.BrokerHttp(url), session.refresh_token)
    except BrokerError as exc:
        _say(
            f"broker: could not sign out at the broker ({exc.format_message()}); the local copy is removed "
            f"and the session ends on its own at {cache.iso(session.expires_at)}"
        )
    cache.delete_session(url)
    return True


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
            _role_choice(r).account,
            f"{int(r.get('MaxSessionDuration') or 0) // 60} min",
            str(r.get("Description") or ""),
        )
        for r in listed
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
