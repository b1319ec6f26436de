"""``broker login --sso-session NAME``: sign in through the broker's SSO-OIDC API and leave what
``aws sso login`` leaves, so every stock AWS tool (CLI v1 and v2, boto3, the other SDKs) refreshes
on its own from then on, with no broker code involved.

- the token cache ``~/.aws/sso/cache/<sha1 of NAME>.json`` (mode 0600) with the fields the AWS CLI
  writes: startUrl, region, accessToken, expiresAt (UTC, ``Z``), clientId, clientSecret,
  registrationExpiresAt, refreshToken;
- in ``~/.aws/config``: ``[sso-session NAME]``, ``[profile PROFILE]`` with ``sso_session``,
  ``sso_account_id``, ``sso_role_name`` and a region, and ``[services NAME]`` pointing sso-oidc,
  sso and sts at the broker. Other sections and comments stay byte for byte.

The client registration is kept in the cache and reused until it expires, as the AWS CLI does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from broker.cli import awsfiles, paths
from broker.cli.awsfiles import _atomic_write, config_section, replace_section, replace_section_keys
from broker.cli.errors import BrokerError
from broker.cli.loopback import CALLBACK_PATH, LoopbackServer, wait_for_browser
from broker.cli.oauth import BrokerHttp, code_challenge, new_code_verifier
from broker.cli.role_choice import ROLE_PROMPT, RoleChoice, ask_role
from broker.cli.waiting import Progress, ctrl_c_ends

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPES = ["sso:account:access"]
_ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<name>[\w+=,.@-]{1,64})$")


class SsoError(BrokerError):
    """An AWS error from the broker's SSO-OIDC or portal API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code


def cache_file(session_name: str, home: Path | None = None) -> Path:
    """Where botocore and the AWS CLI look for an ``sso-session``'s token."""
    digest = hashlib.sha1(session_name.encode("utf-8")).hexdigest()  # noqa: S324 (a file name, as the AWS CLI names it)
    return (home or Path.home()) / ".aws" / "sso" / "cache" / f"{digest}.json"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _call(
    broker: BrokerHttp,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    answer = broker.send(method, path, data, {"Content-Type": "application/json", **(headers or {})})
    if answer.status != 200:
        code = str(answer.body.get("error") or answer.body.get("__type") or f"HTTP {answer.status}")
        raise SsoError(code, str(answer.body.get("message") or answer.body.get("error_description") or code))
    return answer.body


def _check_fields(broker: BrokerHttp, document: dict[str, Any], what: str, **kinds: type) -> dict[str, Any]:
    """``document`` if each named field has its type; else one line naming what is missing, not a
    KeyError from deep in the sign-in."""
    bad = [
        name
        for name, kind in kinds.items()
        if not isinstance(document.get(name), kind) or (kind is int and isinstance(document.get(name), bool))
    ]
    if bad:
        raise BrokerError(
            f"the broker at {broker.url} sent {what} this CLI cannot read ({', '.join(bad)} missing or malformed); "
            "nothing was stored"
        )
    return document


def _registration(broker: BrokerHttp, start_url: str, cached: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The cached client registration while it lasts (the broker keeps it across restarts), else a new one."""
    try:
        expires = dt.datetime.fromisoformat(str(cached["registrationExpiresAt"]).replace("Z", "+00:00"))
        if cached.get("startUrl") == start_url and expires > now + dt.timedelta(hours=1):
            return {"clientId": cached["clientId"], "clientSecret": cached["clientSecret"], "expiresAt": expires}
    except (KeyError, TypeError, ValueError):
        pass
    answer = _call(
        broker,
        "POST",
        "/client/register",
        {
            "clientName": "broker-login",
            "clientType": "public",
            "scopes": SCOPES,
            "grantTypes": ["authorization_code", "refresh_token", DEVICE_GRANT],
            "redirectUris": [f"http://127.0.0.1{CALLBACK_PATH}"],
            "issuerUrl": start_url,
        },
    )
    _check_fields(broker, answer, "a client registration", clientId=str, clientSecret=str, clientSecretExpiresAt=int)
    try:
        expires = dt.datetime.fromtimestamp(answer["clientSecretExpiresAt"], dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise BrokerError(f"the broker at {broker.url} sent a client registration with an impossible expiry") from None
    return {"clientId": answer["clientId"], "clientSecret": answer["clientSecret"], "expiresAt": expires}


def _token(broker: BrokerHttp, client: dict[str, Any], **fields: str) -> dict[str, Any]:
    """An SSO-OIDC CreateToken answer with what the token cache needs (botocore refreshes with the
    refreshToken; without one the profile would stop working at the first expiry)."""
    answer = _call(
        broker, "POST", "/token", {"clientId": client["clientId"], "clientSecret": client["clientSecret"], **fields}
    )
    return _check_fields(broker, answer, "a token", accessToken=str, expiresIn=int, refreshToken=str)


def _browser_tokens(
    broker: BrokerHttp,
    client: dict[str, Any],
    *,
    open_browser: bool,
    timeout: float,
    say: Callable[[str], None],
    progress: Progress | None = None,
) -> dict[str, Any]:
    verifier = new_code_verifier()
    state = secrets.token_urlsafe(24)
    holder: dict[str, str] = {}

    def exchange(code: str) -> dict[str, Any]:
        return _token(
            broker,
            client,
            grantType="authorization_code",
            code=code,
            codeVerifier=verifier,
            redirectUri=holder["redirect_uri"],
        )

    server = LoopbackServer(state, exchange)
    holder["redirect_uri"] = server.redirect_uri
    query = {
        "response_type": "code",
        "client_id": client["clientId"],
        "redirect_uri": server.redirect_uri,
        "state": state,
        "code_challenge_method": "S256",
        "code_challenge": code_challenge(verifier),
        "scopes": " ".join(SCOPES),
    }
    url = f"{broker.url}/authorize?{urlencode(query)}"
    server.start()
    try:
        opened = False
        if open_browser:
            try:
                opened = webbrowser.open(url)
            except webbrowser.Error:
                opened = False
        say("Opened your browser to sign in. If it did not open, visit this URL:" if opened else "Open this URL:")
        say(f"  {url}")
        if not wait_for_browser(server.finished, timeout, progress):
            raise BrokerError(f"the browser did not come back within {int(timeout)} s; run `broker login` again")
    finally:
        server.close()
    if server.outcome.error is not None:
        raise server.outcome.error
    if server.outcome.body is None:
        raise BrokerError("the browser came back but no token was received; run `broker login` again")
    return server.outcome.body


def _device_tokens(
    broker: BrokerHttp,
    client: dict[str, Any],
    start_url: str,
    *,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> dict[str, Any]:
    started = _call(
        broker,
        "POST",
        "/device_authorization",
        {"clientId": client["clientId"], "clientSecret": client["clientSecret"], "startUrl": start_url},
    )
    _check_fields(
        broker,
        started,
        "a device authorization",
        deviceCode=str,
        userCode=str,
        verificationUri=str,
        verificationUriComplete=str,
        expiresIn=int,
    )
    say(f"On any device, open {started['verificationUri']} and enter the code:")
    say(f"    {started['userCode']}")
    say(f"(or open {started['verificationUriComplete']})")
    given = started.get("interval")
    interval = max(1, given) if isinstance(given, int) else 5
    deadline = time.monotonic() + int(started["expiresIn"])
    try:
        return _poll_device(broker, client, str(started["deviceCode"]), interval, deadline, sleep, progress)
    finally:
        if progress is not None:
            progress.done()


def _poll_device(
    broker: BrokerHttp,
    client: dict[str, Any],
    device_code: str,
    interval: int,
    deadline: float,
    sleep: Callable[[float], None],
    progress: Progress | None,
) -> dict[str, Any]:
    while time.monotonic() < deadline:
        if progress is not None:
            progress.update("Waiting for the approval of the code", deadline - time.monotonic())
        sleep(interval)
        try:
            return _token(broker, client, grantType=DEVICE_GRANT, deviceCode=device_code)
        except SsoError as exc:
            if exc.code == "slow_down":
                interval += 5
            elif exc.code != "authorization_pending":
                raise
    raise BrokerError("the code expired before anyone approved it; run `broker login --device` again")


def _choose_role(broker: BrokerHttp, access_token: str, role_arn: str | None) -> tuple[str, str]:
    """(account id, role name): from --role, else the only role the portal lists, else a prompt."""
    if role_arn:
        matched = _ROLE_ARN.match(role_arn)
        if matched is None:
            raise BrokerError(f"--role must be a role ARN, got {role_arn!r}")
        return matched.group("account"), matched.group("name")
    bearer = {"x-amz-sso_bearer_token": access_token}
    choices: list[tuple[str, str]] = []
    account_names: dict[str, str | None] = {}
    accounts = _call(broker, "GET", "/assignment/accounts?max_result=100", headers=bearer)
    for account in _listed(broker, accounts, "accountList", "accountId"):
        account_id = str(account["accountId"])
        # The portal names an account by its id when it has neither name nor alias.
        account_names[account_id] = str(account.get("accountName") or "") or None
        query = urlencode({"account_id": account_id, "max_result": 100})
        roles = _call(broker, "GET", f"/assignment/roles?{query}", headers=bearer)
        choices.extend((account_id, str(role["roleName"])) for role in _listed(broker, roles, "roleList", "roleName"))
    if len(choices) == 1:
        return choices[0]
    if not choices:
        raise BrokerError("no role is available to your sign-in")
    if not sys.stdin.isatty():
        listed = ", ".join(f"{a}/{r}" for a, r in choices)
        raise BrokerError(f"several roles are available ({listed}); choose one with --role")
    offered = [
        RoleChoice(f"arn:aws:iam::{a}:role/{r}", a, account_name=account_names[a] if account_names[a] != a else None)
        for a, r in choices
    ]
    picked = ask_role(
        offered,
        lambda: str(click.prompt(ROLE_PROMPT, err=True)),
        lambda line: click.echo(line, err=True),
    )
    return choices[offered.index(picked)]


def _listed(broker: BrokerHttp, page: dict[str, Any], key: str, field: str) -> list[dict[str, Any]]:
    """The portal page's list under ``key``, each entry an object with a string ``field``."""
    entries = page.get(key, [])
    if not isinstance(entries, list):
        entries = [None]
    return [
        _check_fields(broker, entry if isinstance(entry, dict) else {}, f"a {key}", **{field: str}) for entry in entries
    ]


# The keys `--sso-session` owns in ``[profile NAME]``: those it writes, the legacy sso_start_url and
# sso_region (botocore refuses them next to an sso_session naming others), and the global
# endpoint_url older broker versions wrote. The person's other keys and comments stay.
SSO_PROFILE_KEYS = (
    "sso_session",
    "sso_account_id",
    "sso_role_name",
    "region",
    "services",
    "sso_start_url",
    "sso_region",
    "endpoint_url",
)


def config_with_sso_profile(
    path: Path,
    *,
    session_name: str,
    profile: str,
    start_url: str,
    url: str,
    region: str,
    account_id: str,
    role_name: str,
) -> tuple[str, str]:
    """(the file now, the file with the sso-session, the profile and its services): edited as
    `broker login --write-config` edits it, every other byte as it was."""
    current = awsfiles.read_config(path)
    services = f"{session_name}-endpoints"
    text = replace_section(
        current,
        config_section("sso-session", session_name),
        [f"sso_start_url = {start_url}", f"sso_region = {region}", f"sso_registration_scopes = {','.join(SCOPES)}"],
    )
    text = replace_section_keys(
        text,
        config_section("profile", profile),
        [
            f"sso_session = {session_name}\n",
            f"sso_account_id = {account_id}\n",
            f"sso_role_name = {role_name}\n",
            f"region = {region}\n",
            f"services = {services}\n",
        ],
        managed=SSO_PROFILE_KEYS,
    )
    text = replace_section(
        text,
        config_section("services", services),
        [line for name in ("sso_oidc", "sso", "sts") for line in (f"{name} =", f"  endpoint_url = {url}")],
    )
    return current, text


def write_config(path: Path, *, say: Callable[[str], None], **profile: str) -> Path | None:
    """Show the diff and write it, keeping the old file as ``config.bak``; the backup's path."""
    current, updated = config_with_sso_profile(path, **profile)
    if updated == current:
        return None
    say(f"Changes to {path}:")
    for line in awsfiles.config_diff(path, current, updated):
        say(line)
    return awsfiles.write_config(path, current, updated)


def sso_login(
    broker: BrokerHttp,
    *,
    session_name: str,
    profile: str,
    region: str,
    role_arn: str | None,
    device: bool,
    open_browser: bool,
    timeout: float,
    say: Callable[[str], None],
    home: Path | None = None,
) -> Path:
    """Sign in, write the token cache and the profile; the cache file's path."""
    if not re.fullmatch(r"[\w.-]{1,64}", session_name):
        raise BrokerError("--sso-session must be 1-64 letters, digits, '.', '_' or '-'")
    start_url = f"{broker.url}/start"
    path = cache_file(session_name, home)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    now = broker.clock()
    client = _registration(broker, start_url, cached if isinstance(cached, dict) else {}, now)
    progress = Progress(sys.stderr)
    with ctrl_c_ends("sign-in"):
        if device:
            tokens = _device_tokens(broker, client, start_url, say=say, progress=progress)
        else:
            tokens = _browser_tokens(
                broker, client, open_browser=open_browser, timeout=timeout, say=say, progress=progress
            )
    token_cache = {
        "startUrl": start_url,
        "region": region,
        "accessToken": tokens["accessToken"],
        "expiresAt": _utc(broker.clock() + dt.timedelta(seconds=int(tokens["expiresIn"]))),
        "clientId": client["clientId"],
        "clientSecret": client["clientSecret"],
        "registrationExpiresAt": _utc(client["expiresAt"]),
        "refreshToken": tokens["refreshToken"],
    }
    if path.exists():
        path.chmod(0o600)
    _atomic_write(path, json.dumps(token_cache))
    path.chmod(0o600)
    account_id, role_name = _choose_role(broker, str(tokens["accessToken"]), role_arn)
    config = paths.aws_config_file() if home is None else home / ".aws" / "config"
    backup = write_config(
        config,
        say=say,
        session_name=session_name,
        profile=profile,
        start_url=start_url,
        url=broker.url,
        region=region,
        account_id=account_id,
        role_name=role_name,
    )
    if backup is not None:
        say(f"The previous {config.name} is {backup}.")
    return path
