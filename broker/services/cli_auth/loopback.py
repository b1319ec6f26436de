"""Loopback redirect URIs (RFC 8252 section 7.3): where the CLI's one-shot listener waits for the code."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

MAX_REDIRECT_URI = 512

_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def is_loopback_redirect_uri(uri: str) -> bool:
    """RFC 8252 section 7.3: http on 127.0.0.1, [::1] or localhost, any port; no userinfo or fragment."""
    if len(uri) > MAX_REDIRECT_URI or any(ord(c) < 0x21 or c == "\\" for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return False
    if parts.scheme != "http" or parts.fragment or "@" in parts.netloc:
        return False
    return parts.hostname in _LOOPBACK_HOSTS


def with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def loopback_host_port(uri: str) -> tuple[str, int]:
    """Where a checked loopback redirect URI sends the code: its host and port (80 when unnamed)."""
    parts = urlsplit(uri)
    return parts.hostname or "", parts.port or 80
