"""``~/.aws/credentials`` and ``~/.aws/config``, edited line by line.

configparser would rewrite the whole file and drop every comment; here only the keys the broker
manages, in the one section it owns, change. Everything else (other sections, comments, blank
lines, other keys of the section such as ``region``) stays byte for byte.

The expiry goes in ``x_security_token_expires`` (RFC 3339): the AWS SDKs read no expiry from
this file at all and ignore unknown keys, and this is the name saml2aws writes and granted,
starship's AWS module and other helpers read. ``x_principal_arn`` names the assumed role, as
saml2aws writes it.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import secrets
from pathlib import Path

from broker.cli.cache import Credentials, iso
from broker.cli.errors import BrokerError

MANAGED_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",  # the legacy name of the session token: drop a stale one
    "x_security_token_expires",
    "x_principal_arn",
)
_HEADER = re.compile(r"^\s*\[(?P<name>[^\]]*)\]\s*(?:[#;].*)?$")
_KEY = re.compile(r"^\s*(?P<key>[^=:\s#;][^=:]*?)\s*[=:]")


def credentials_lines(credentials: Credentials) -> list[str]:
    return [
        f"aws_access_key_id = {credentials.access_key_id}\n",
        f"aws_secret_access_key = {credentials.secret_access_key}\n",
        f"aws_session_token = {credentials.session_token}\n",
        f"x_security_token_expires = {iso(credentials.expiration)}\n",
        f"x_principal_arn = {credentials.assumed_role_arn}\n",
    ]


def replace_section_keys(text: str, section: str, new_lines: list[str]) -> str:
    """``text`` with the managed keys of ``[section]`` replaced by ``new_lines`` (none: removed).

    A section left with nothing but blank lines is removed with its header.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next(
        (i for i, line in enumerate(lines) if (m := _HEADER.match(line)) and m.group("name").strip() == section),
        None,
    )
    if start is None:
        if not new_lines:
            return "".join(lines)
        prefix = "".join(lines)
        if prefix and not prefix.endswith("\n\n"):
            prefix += "\n"
        return prefix + f"[{section}]\n" + "".join(new_lines)
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    kept: list[str] = []
    dropping = False
    for line in lines[start + 1 : end]:
        key = _KEY.match(line)
        if key and not line[:1].isspace():
            dropping = key.group("key").strip().lower() in MANAGED_KEYS
        elif line.strip() and not line[:1].isspace():
            dropping = False  # a comment line ends a value
        if not dropping:
            kept.append(line)
        # an indented line continues the previous key's value: it goes where that key went
    if not new_lines and not any(line.strip() for line in kept):
        return "".join(lines[:start] + lines[end:])
    return "".join(lines[: start + 1] + new_lines + kept + lines[end:])


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o700 or 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"{path} cannot be read: {exc}") from None


def _check_parses(path: Path, text: str) -> None:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise BrokerError(f"{path} is not a valid AWS credentials file; left it unchanged ({exc})") from None


def write_credentials_profile(path: Path, profile: str, credentials: Credentials) -> None:
    """Put the credentials in ``[profile]`` of the shared credentials file, leaving the rest alone."""
    text = _read(path)
    if text:
        _check_parses(path, text)
    _atomic_write(path, replace_section_keys(text, profile, credentials_lines(credentials)))


def remove_credentials_profile(path: Path, profile: str) -> bool:
    text = _read(path)
    if not text:
        return False
    updated = replace_section_keys(text, profile, [])
    if updated == text:
        return False
    _atomic_write(path, updated)
    return True


def config_mentions_profile(path: Path, profile: str) -> bool:
    """Whether ``~/.aws/config`` already runs ``broker credential-process --profile NAME``."""
    text = _read(path)
    return re.search(rf"credential-process\s+--profile\s+{re.escape(profile)}(\s|$)", text) is not None


def config_snippet(profile: str, url: str, command: str = "broker", *, region: str = "us-east-1") -> str:
    """The ``~/.aws/config`` section `broker login` shows for a new profile; it names a region
    because the AWS CLI refuses to run without one (and SigV4 scopes every signature to one)."""
    return (
        f"[profile {profile}]\n"
        f"credential_process = {command} credential-process --profile {profile}\n"
        f"region = {region}\n"
        f"endpoint_url = {url}\n"
    )
