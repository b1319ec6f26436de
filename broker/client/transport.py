"""One HTTP exchange over urllib: no redirects followed, bounded reads, errors as TransportError.

The broker CLI talks to the broker through the same opener.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any

from broker.client.errors import TransportError


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would replay the Authorization header (a bearer token), or a code, verifier or
    # refresh handle, to wherever a redirect points; a 3xx is returned to the caller instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirects())


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Message
    body: bytes


def _read(stream: IO[bytes], limit: int, url: str) -> bytes:
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise TransportError(f"{url}: the response is larger than {limit} bytes")
    return body


def send(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, *, timeout: float, limit: int
) -> HttpResponse:
    """Send one request; any status comes back as a response, a failure to talk as TransportError."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310  (scheme checked by BrokerClient)
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return HttpResponse(response.status, response.headers, _read(response, limit, url))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, exc.headers, _read(exc, limit, url))
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise TransportError(f"{method} {url}: {reason}") from None
