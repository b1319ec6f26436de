"""Where the CLI keeps its files: XDG base directories (APPDATA / LOCALAPPDATA on Windows), and
the AWS shared files where the SDKs look for them."""

from __future__ import annotations

import os
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
