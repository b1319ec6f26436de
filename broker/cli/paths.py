"""Where the CLI keeps its files: XDG base directories (APPDATA / LOCALAPPDATA on Windows), and
the AWS shared files where the SDKs look for them."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path

APP = "broker"


def _home() -> Path:
    return Path(os.path.expanduser("~"))


def _base(xdg_variable: str, default: str, windows_variable: str) -> Path:
    value = os.environ.get(xdg_variable, "")
    # The XDG spec: a relative path is invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    if sys.platform == "win32" and os.environ.get(windows_variable):
        return Path(os.environ[windows_variable])
    return _home() / default


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/broker`` (default ``~/.config/broker``): profiles."""
    return _base("XDG_CONFIG_HOME", ".config", "APPDATA") / APP


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/broker`` (default ``~/.cache/broker``): credentials and broker sessions."""
    return _base("XDG_CACHE_HOME", ".cache", "LOCALAPPDATA") / APP


def config_file() -> Path:
    return config_dir() / "config.toml"


def aws_credentials_file() -> Path:
    value = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return Path(os.path.expanduser(value)) if value else _home() / ".aws" / "credentials"


def aws_config_file() -> Path:
    value = os.environ.get("AWS_CONFIG_FILE")
    return Path(os.path.expanduser(value)) if value else _home() / ".aws" / "config"


def replace_file(target: Path, data: bytes, mode: int, *, follow: bool = True) -> None:
    """Replace ``target``'s bytes at once: a reader sees the old or the new file, never half of
    one. The new bytes go to a temporary file beside it (created exclusively, with ``mode``, not
    followed if ``follow`` is False), which is then renamed over it; raises OSError."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    fd = os.open(temporary, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
