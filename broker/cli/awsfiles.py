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
import difflib
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from broker.cli import paths
from broker.cli.cache import Credentials, iso
from broker.cli.errors import BrokerError
from broker.cli.shell import BROKER_SERVICES

if sys.platform != "win32":
    import fcntl

MANAGED_KEYS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",  # the legacy name of the session token: drop a stale one
    "x_security_token_expires",
    "x_principal_arn",
)
_SECTION = re.compile(r"\[(?P<header>.+)\]")  # configparser's SECTCRE, which botocore parses with
_KEY = re.compile(r"^\s*(?P<key>[^=:\s#;][^=:]*?)\s*[=:]")


def _header(line: str) -> str | None:
    """The section name configparser reads from ``line`` (None: not a section header)."""
    stripped = line.strip()
    if stripped.startswith(("#", ";")):
        return None
    matched = _SECTION.match(stripped)
    return matched.group("header") if matched else None


@dataclass(frozen=True)
class Section:
    """A section as the AWS SDKs find it: the header written when there is none yet, and which
    existing headers they read as this section."""

    header: str
    matches: Callable[[str], bool]


def credentials_section(profile: str) -> Section:
    """``[NAME]`` of ~/.aws/credentials, which botocore looks up by its exact header."""
    return Section(profile, lambda header: header == profile)


def config_section(kind: str, name: str) -> Section:
    """``[profile NAME]`` (``kind`` profile, sso-session or services) of ~/.aws/config, matched as
    botocore reads headers: split as a shell would, so ``[profile  dev]``, ``[profile "dev"]`` and
    ``[profile\tdev]`` are all profile dev; ``[default]`` (or ``[profile default]``) is the default
    profile, and a new one is written ``[default]``, the header every SDK reads."""
    header = "default" if (kind, name) == ("profile", "default") else f"{kind} {name}"
    return Section(header, lambda found: _config_name(found) == (kind, name))


def _config_name(header: str) -> tuple[str, str] | None:
    """(kind, name) of a ~/.aws/config header as botocore's configloader.build_profile_map reads it."""
    if header == "default":
        return "profile", "default"
    for kind in ("profile", "sso-session", "services"):
        if header.startswith(kind):
            try:
                parts = shlex.split(header)
            except ValueError:
                return None  # botocore skips such a section
            return (kind, parts[1]) if len(parts) == 2 else None
    return None


def _find(rows: list[str], section: Section) -> tuple[int, int] | None:
    """(header row, end row) of the section the SDKs read: the last one matching, as a later
    section replaces an earlier one of the same name in botocore's profile map."""
    headers = [(i, name) for i, row in enumerate(rows) if (name := _header(row)) is not None]
    found = [position for position, (_, name) in enumerate(headers) if section.matches(name)]
    if not found:
        return None
    start = headers[found[-1]][0]
    end = headers[found[-1] + 1][0] if found[-1] + 1 < len(headers) else len(rows)
    return start, end


def credentials_lines(credentials: Credentials) -> list[str]:
    return [
        f"aws_access_key_id = {credentials.access_key_id}\n",
        f"aws_secret_access_key = {credentials.secret_access_key}\n",
        f"aws_session_token = {credentials.session_token}\n",
        f"x_security_token_expires = {iso(credentials.expiration)}\n",
        f"x_principal_arn = {credentials.assumed_role_arn}\n",
    ]


def replace_section_keys(
    text: str, section: Section, new_lines: list[str], *, managed: tuple[str, ...] = MANAGED_KEYS
) -> str:
    """``text`` with the managed keys of ``section`` replaced by ``new_lines`` (none: removed).

    A section left with nothing but blank lines is removed with its header.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = _find(lines, section)
    if found is None:
        if not new_lines:
            return "".join(lines)
        prefix = "".join(lines)
        if prefix and not prefix.endswith("\n\n"):
            prefix += "\n"
        return prefix + f"[{section.header}]\n" + "".join(new_lines)
    start, end = found
    kept: list[str] = []
    dropping = False
    for line in lines[start + 1 : end]:
        key = _KEY.match(line)
        if key and not line[:1].isspace():
            dropping = key.group("key").strip().lower() in managed
        elif line.strip() and not line[:1].isspace():
            dropping = False  # a comment line ends a value
        if not dropping:
            kept.append(line)
        # an indented line continues the previous key's value: it goes where that key went
    if not new_lines and not any(line.strip() for line in kept):
        return "".join(lines[:start] + lines[end:])
    return "".join(lines[: start + 1] + new_lines + kept + lines[end:])


def _atomic_write(path: Path, text: str) -> None:
    """Replace the file's text at once (a reader sees the old or the new file, never half of one).

    A symlinked file (``~/.aws/config`` kept in a dotfiles repository) stays a link: the file it
    points to is replaced, with the temporary file beside it, so the rename stays in its directory.
    """
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600
        # bytes: the text's line endings, CRLF included, as they are
        paths.replace_file(target, text.encode("utf-8"), mode & 0o700 or 0o600)
    except OSError as exc:
        raise BrokerError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the lock of ``path`` from reading it to renaming its new text into place.

    The SDKs run ``credential_process`` for several profiles at once; each refresh reads the file,
    edits its own section and renames the result over it, so without the lock one's section update
    is lost to the other's rename. The lock is a sidecar file (the file itself is replaced, so a
    lock on it would be a lock on an old copy) beside ``path`` as named, not in the directory a
    symlink points to (a dotfiles repository).
    """
    if sys.platform == "win32":
        yield  # no flock; Windows refreshes race as before
        return
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BrokerError(f"cannot lock {path} ({lock_path}): {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_parses(path: Path, text: str, *, kind: str = "AWS credentials file") -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise BrokerError(f"{path} is not a valid {kind}; left it unchanged ({exc})") from None
    return parser


def _keys_of(path: Path, text: str, profile: str) -> dict[str, str]:
    parser = _check_parses(path, text)
    return dict(parser[profile]) if parser.has_section(profile) else {}


def _long_lived(keys: dict[str, str]) -> bool:
    """Whether a section's access key is a long-lived one (`aws configure`), which the broker never
    writes: a key id without a session token, or with AWS's prefix for an IAM user's key (AKIA),
    which `aws configure` leaves next to an old token. Temporary ones, from the broker or any other
    tool, expire anyway and are the broker's to replace in a profile it writes."""
    key_id = keys.get("aws_access_key_id", "")
    token = keys.get("aws_session_token") or keys.get("aws_security_token")
    return bool(key_id) and (not token or key_id.startswith("AKIA"))


def _refuse_long_lived_keys(path: Path, profile: str, keys: dict[str, str]) -> None:
    # Replacing them would lose them for good (the backup aside).
    if _long_lived(keys):
        raise BrokerError(
            f"[{profile}] in {path} holds long-lived access keys the broker did not write; left it unchanged. "
            f"Give the broker's profile another name (broker login --profile OTHER --write-aws-credentials), "
            f"or move those keys out of [{profile}] first"
        )


def check_credentials_profile(path: Path, profile: str) -> None:
    """Refuse before signing in what ``write_credentials_profile`` would refuse after."""
    text = read_exactly(path)
    if text:
        _refuse_long_lived_keys(path, profile, _keys_of(path, text, profile))


def write_credentials_profile(path: Path, profile: str, credentials: Credentials) -> None:
    """Put the credentials in ``[profile]`` of the shared credentials file, leaving the rest alone;
    the previous file is kept as ``credentials.bak`` (0600)."""
    with _locked(path):
        text = read_exactly(path)
        if text:
            _refuse_long_lived_keys(path, profile, _keys_of(path, text, profile))
        updated = replace_section_keys(text, credentials_section(profile), credentials_lines(credentials))
        if text and updated != text:
            _backup(path, text)
        _atomic_write(path, updated)


def remove_credentials_profile(path: Path, profile: str) -> Literal["removed", "absent", "kept"]:
    """Remove the broker's keys from ``[profile]``, unless they are long-lived keys put there since
    (`aws configure`), which are not the broker's to delete ("kept")."""
    with _locked(path):
        text = read_exactly(path)
        keys = _keys_of(path, text, profile) if text else {}
        if _long_lived(keys):
            return "kept"
        updated = replace_section_keys(text, credentials_section(profile), [])
        if updated == text:
            return "absent"
        _backup(path, text)
        _atomic_write(path, updated)
        return "removed"


def _backup(path: Path, text: str) -> Path:
    """Keep ``text`` as ``NAME.bak`` beside ``path``, owner-only (it may hold secrets)."""
    backup = path.with_name(path.name + ".bak")
    _atomic_write(backup, text)
    try:
        backup.chmod(0o600)
    except OSError as exc:
        raise BrokerError(f"cannot write {backup}: {exc.strerror or exc}") from None
    return backup


def config_mentions_profile(path: Path, profile: str) -> bool:
    """Whether ``~/.aws/config`` already runs ``broker credential-process --profile NAME``."""
    text = read_exactly(path)
    return re.search(rf"credential-process\s+--profile\s+{re.escape(profile)}(\s|$)", text) is not None


# The keys `broker login --write-config` owns in ``[profile NAME]`` of ~/.aws/config; a global
# ``endpoint_url`` (what older versions printed) would send every service, S3 included, to the broker.
CONFIG_KEYS = ("credential_process", "region", "services", "endpoint_url")


def services_section(profile: str) -> str:
    return f"broker-{profile}"


def config_snippet(profile: str, url: str, command: str = "broker", *, region: str = "us-east-1") -> str:
    """The ``~/.aws/config`` sections of a profile: the installed command as its credential_process,
    a region (the AWS CLI refuses to run without one, and SigV4 scopes every signature to one), and
    the broker as the endpoint of the services it serves only, as `broker exec` sets them."""
    header = config_section("profile", profile).header
    return f"[{header}]\n{''.join(_profile_lines(profile, command, region))}\n" + "".join(
        f"{line}\n" for line in _services_lines(profile, url, header=True)
    )


def _profile_lines(profile: str, command: str, region: str) -> list[str]:
    return [
        f"credential_process = {command} credential-process --profile {profile}\n",
        f"region = {region}\n",
        f"services = {services_section(profile)}\n",
    ]


def _services_lines(profile: str, url: str, *, header: bool = False) -> list[str]:
    body = [line for name in BROKER_SERVICES for line in (f"{name.lower()} =", f"  endpoint_url = {url}")]
    return ([f"[services {services_section(profile)}]"] if header else []) + body


def read_exactly(path: Path) -> str:
    """The file's text with its line endings as they are (read_text would turn CRLF into LF)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"{path} cannot be read: {exc}") from None


def config_with_profile(path: Path, profile: str, url: str, *, region: str) -> tuple[str, str]:
    """(the file now, the file with the profile's sections): other sections, comments and other keys
    of the profile's section stay byte for byte."""
    current = read_config(path)
    updated = replace_section_keys(
        current, config_section("profile", profile), _profile_lines(profile, "broker", region), managed=CONFIG_KEYS
    )
    updated = replace_section(
        updated, config_section("services", services_section(profile)), _services_lines(profile, url)
    )
    return current, updated


def read_config(path: Path) -> str:
    """``~/.aws/config`` as it is, CRLF and all; an error, and no edit, if it does not parse."""
    current = read_exactly(path)
    if current:
        _check_parses(path, current, kind="AWS config file")
    return current


def config_diff(path: Path, current: str, updated: str) -> list[str]:
    return [
        line.rstrip("\r\n")
        for line in difflib.unified_diff(
            current.splitlines(keepends=True), updated.splitlines(keepends=True), f"{path} (now)", f"{path} (new)"
        )
    ]


def write_config(path: Path, current: str, updated: str) -> Path | None:
    """Replace ``current`` by ``updated``, keeping the old file as ``config.bak`` (0600); the backup's path."""
    with _locked(path):
        if read_exactly(path) != current:
            raise BrokerError(f"{path} changed while this command ran; left it unchanged, run it again")
        backup = _backup(path, current) if path.exists() else None
        _atomic_write(path, updated)
        return backup


def replace_section(text: str, section: Section, lines: list[str]) -> str:
    """``text`` with ``section``'s body replaced by ``lines`` (appended when absent)."""
    rows = text.splitlines(keepends=True)
    if rows and not rows[-1].endswith("\n"):
        rows[-1] += "\n"
    found = _find(rows, section)
    body = [f"{line}\n" for line in lines]
    if found is None:
        prefix = "".join(rows)
        if prefix and not prefix.endswith("\n\n"):
            prefix += "\n"
        return prefix + f"[{section.header}]\n" + "".join(body)
    start, end = found
    trailing = ["\n"] if end < len(rows) else []
    return "".join(rows[: start + 1] + body + trailing + rows[end:])
