"""The credentials page after a role choice: post/redirect/get, and shown once.

The POST that issues credentials answers 303 to ``GET /saml/credentials`` and hands the
credentials over in short-lived cookies sealed with the broker's encryption key and bound to the
browser's sign-in: the browser's history holds only GET pages (Back works, no ERR_CACHE_MISS),
no URL carries a secret, and a reload re-issues nothing. The GET shows them and clears the
cookies, so the secret is on screen once; a second look asks for a new role choice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from flask import Request, Response, make_response, redirect, render_template

from broker.crypto.box import DecryptionError
from broker.services.api.registry import SERVICES
from broker.services.credentials import TemporaryCredentials
from broker.services.federation import SignIn
from broker.services.runtime import Runtime
from broker.web.protocol import cookie_name, csp_nonce

HANDOFF_COOKIE = "broker_credentials"
HANDOFF_PATH = "/saml/credentials"
# A browser keeps 4096 bytes a cookie: a token with many session tags takes a few.
_CHUNK_CHARS = 3500
_MAX_CHUNKS = 6
# How long the handoff waits for the browser's GET.
_HANDOFF_SECONDS = 120
# The IdP session decided the end when it ends within this of the credentials.
_SAME_END_SECONDS = 5

CappedBy = Literal["idp-session", "role-maximum"]


@dataclass(frozen=True)
class IssuedCredentials:
    """What the page shows; sealed into the handoff cookies between the POST and the GET."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: str  # ISO 8601 UTC, as AWS writes it
    assumed_role_arn: str
    role_arn: str
    role_name: str
    account_id: str
    mfa: bool
    duration_seconds: int
    requested_seconds: int
    capped_by: CappedBy | None
    csrf_token: str | None

    @classmethod
    def of(
        cls, credentials: TemporaryCredentials, sign_in: SignIn | None, requested: int | None, csrf_token: str | None
    ) -> IssuedCredentials:
        claims = credentials.claims
        duration = claims.expires_at - claims.issued_at
        wanted = requested or (sign_in.requested_duration if sign_in else None) or 3600
        capped_by: CappedBy | None = None
        if duration < wanted:
            capped_by = "role-maximum"
            not_after = sign_in.session_not_on_or_after if sign_in else None
            if not_after:
                ends = dt.datetime.fromisoformat(not_after)
                if abs((ends - credentials.expiration).total_seconds()) <= _SAME_END_SECONDS:
                    capped_by = "idp-session"
        return cls(
            access_key_id=credentials.access_key_id,
            secret_access_key=credentials.secret_access_key,
            session_token=credentials.session_token,
            expiration=credentials.expiration_iso(),
            assumed_role_arn=credentials.assumed_role_arn,
            role_arn=claims.role_arn,
            role_name=claims.role_name,
            account_id=claims.account_id,
            mfa=claims.mfa,
            duration_seconds=duration,
            requested_seconds=wanted,
            capped_by=capped_by,
            csrf_token=csrf_token,
        )

    def credential_process_json(self) -> str:
        document = {
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "SessionToken": self.session_token,
            "Expiration": self.expiration,
        }
        return json.dumps(document, indent=2)


def duration_label(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{max(minutes, 1)} min" if seconds >= 60 else f"{seconds} s"


def until_label(seconds: float) -> str:
    """'in 59 minutes', as the page's countdown words it."""
    minutes = int(seconds // 60)
    if seconds <= 0:
        return "expired"
    if minutes < 1:
        return "in less than a minute"
    if minutes < 120:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    return f"in {minutes // 60} hours {minutes % 60} minutes"


def _binding(session_cookie: str | None) -> str:
    # The handoff opens only in the browser whose sign-in it came from (and not after sign-out).
    return "credentials-page:" + hashlib.sha256((session_cookie or "").encode()).hexdigest()


def hand_over(
    runtime: Runtime, issued: IssuedCredentials, session_cookie: str | None, cookie_args: dict[str, Any]
) -> Response:
    sealed = runtime.box.seal(json.dumps(asdict(issued)), _binding(session_cookie))
    chunks = [sealed[i : i + _CHUNK_CHARS] for i in range(0, len(sealed), _CHUNK_CHARS)]
    if len(chunks) > _MAX_CHUNKS:  # beyond any token the limits allow; show it in place rather than lose it
        return show(issued, runtime)
    response: Response = redirect(HANDOFF_PATH, code=303)  # type: ignore[assignment]
    args = {**cookie_args, "path": HANDOFF_PATH}
    for index in range(_MAX_CHUNKS):
        name = f"{cookie_name(HANDOFF_COOKIE, HANDOFF_PATH)}{index}"
        if index < len(chunks):
            response.set_cookie(name, chunks[index], max_age=_HANDOFF_SECONDS, **args)
        else:
            response.delete_cookie(name, **args)
    return response


def take_over(runtime: Runtime, incoming: Request, session_cookie: str | None) -> IssuedCredentials | None:
    chunks = []
    for index in range(_MAX_CHUNKS):
        chunk = incoming.cookies.get(f"{cookie_name(HANDOFF_COOKIE, HANDOFF_PATH)}{index}")
        if chunk is None:
            break
        chunks.append(chunk)
    if not chunks:
        return None
    try:
        document = json.loads(runtime.box.open("".join(chunks), _binding(session_cookie)))
        return IssuedCredentials(**document)
    except (DecryptionError, ValueError, TypeError):
        return None


def clear_handoff(response: Response, cookie_args: dict[str, Any]) -> None:
    name = cookie_name(HANDOFF_COOKIE, HANDOFF_PATH)
    for index in range(_MAX_CHUNKS):
        response.delete_cookie(f"{name}{index}", **{**cookie_args, "path": HANDOFF_PATH})


def show(issued: IssuedCredentials, runtime: Runtime) -> Response:
    base_url = runtime.settings.base_url
    expiration = dt.datetime.fromisoformat(issued.expiration.replace("Z", "+00:00"))
    body = render_template(
        "credentials.html",
        credentials=issued,
        base_url=base_url,
        region=runtime.settings.region,
        profile_name=issued.role_name,
        endpoint_services=[name.upper() for name in SERVICES],
        expires_in=until_label((expiration - runtime.now()).total_seconds()),
        expires_utc=expiration.strftime("%Y-%m-%d %H:%M UTC"),
        duration=duration_label(issued.duration_seconds),
        requested=duration_label(issued.requested_seconds),
        csp_nonce=csp_nonce(),
    )
    response = make_response(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
