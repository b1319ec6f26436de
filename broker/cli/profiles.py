"""Profiles: which broker, role and duration a name stands for, in ``config.toml``.

    [profiles.dev]
    url = "https://sso.example.com"
    role_arn = "arn:aws:iam::123456789012:role/Engineer"
    duration_seconds = 3600

``broker login`` writes the file; a person may edit it. Unknown keys are reported, so a typo
does not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from broker.cli import paths
from broker.cli.errors import BrokerError

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEYS = {"url": str, "role_arn": str, "duration_seconds": int, "provider": str, "write_aws_credentials": bool}


@dataclass(frozen=True)
class Profile:
    name: str
    url: str
    role_arn: str | None = None
    duration_seconds: int | None = None
    provider: str | None = None
    write_aws_credentials: bool = False

    def but(self, **changes: object) -> Profile:
        return replace(self, **changes)  # type: ignore[arg-type]


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.match(name):
        raise BrokerError(
            f"profile name {name[:80]!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_url(url: str, *, source: str = "--url") -> str:
    """The broker's base URL as the CLI stores it; HTTPS, or HTTP on this machine only.

    ``source`` names where the URL came from in the error (the option, or a profile's url key).
    """
    text = url.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        raise BrokerError(f"{source} {url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BrokerError(f"{source} {url!r} must be an http(s) URL such as https://sso.example.com")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise BrokerError(f"{source} {url!r} must not carry a query, fragment or user name")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise BrokerError(
            f"{source} {url!r}: credentials would cross the network in clear text; use https:// "
            "(plain http is accepted for 127.0.0.1 and localhost only)"
        )
    return text


def load_profiles(path: Path | None = None) -> dict[str, Profile]:
    path = path or paths.config_file()
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BrokerError(f"{path}: cannot be read: {exc}") from None
    tables = document.get("profiles", {})
    unknown_top = set(document) - {"profiles"}
    if unknown_top or not isinstance(tables, dict):
        raise BrokerError(f"{path}: only [profiles.NAME] tables are expected, found {sorted(unknown_top)}")
    profiles: dict[str, Profile] = {}
    for name, table in tables.items():
        if not isinstance(table, dict) or not PROFILE_NAME.match(name):
            raise BrokerError(f"{path}: [profiles.{name}] is not a valid profile table")
        for key, value in table.items():
            expected = _KEYS.get(key)
            if expected is None:
                raise BrokerError(f"{path}: [profiles.{name}] has an unknown key {key!r}")
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise BrokerError(f"{path}: [profiles.{name}] {key} must be a {expected.__name__}")
        if "url" not in table:
            raise BrokerError(f"{path}: [profiles.{name}] has no url")
        # A person may edit the file: its url passes the same check as --url, or the refresh
        # handle and the credentials would cross the network in clear text.
        url = normalise_url(table["url"], source=f"{path}: [profiles.{name}] url")
        profiles[name] = Profile(name=name, **{**table, "url": url})
    return profiles


def get_profile(name: str) -> Profile | None:
    return load_profiles().get(check_profile_name(name))


def require_profile(name: str) -> Profile:
    profile = get_profile(name)
    if profile is None:
        raise BrokerError(f"no profile {name!r} here; run `broker login --url URL --profile {name}` first")
    return profile


def resolve_profile_name(name: str | None, *, say: Callable[[str], None]) -> str:
    """``--profile`` when given; else the only profile, named on stderr; else one line listing them."""
    if name is not None:
        return check_profile_name(name)
    profiles = sorted(load_profiles())
    if len(profiles) == 1:
        say(f"broker: using profile {profiles[0]}, the only one")
        return profiles[0]
    if not profiles:
        raise BrokerError("no profile here yet; run `broker login --url URL --profile NAME` first")
    raise BrokerError(f"several profiles ({', '.join(profiles)}); choose one with --profile")


def save_profile(profile: Profile, path: Path | None = None) -> None:
    path = path or paths.config_file()
    profiles = load_profiles(path)
    profiles[profile.name] = profile
    write_profiles(profiles, path)


def write_profiles(profiles: dict[str, Profile], path: Path) -> None:
    lines = ["# Profiles of the `broker` command; `broker login` rewrites this file (comments are not kept).", ""]
    for name in sorted(profiles):
        profile = profiles[name]
        lines.append(f"[profiles.{_toml_key(name)}]")
        for key in _KEYS:
            value = getattr(profile, key)
            if value is None or (key == "write_aws_credentials" and not value):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines), encoding="utf-8")
    os.replace(temporary, path)


def _toml_key(name: str) -> str:
    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else _toml_value(name)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    escaped = []
    for char in text:
        if char in ('"', "\\"):
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
