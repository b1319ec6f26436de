"""Checking what the CLI sends: the /cli/authorize query and the optional duration parameter."""

from __future__ import annotations

from collections.abc import Mapping

from broker.iam import limits
from broker.iam.arn import InvalidArn, parse_role_arn
from broker.iam.numbers import is_absent, parse_ascii_int_in_range
from broker.iam.text import has_control_characters
from broker.services.cli_auth.clients import CLIENT_ID
from broker.services.cli_auth.errors import AuthorizeRedirect, AuthorizeRefused, OAuthCode, OAuthError
from broker.services.cli_auth.loopback import is_loopback_redirect_uri
from broker.services.cli_auth.pkce import is_code_challenge
from broker.store.cli_auth import AuthorizeRequest

MAX_STATE = 512


def _single(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise ValueError(name)
    return values[0] if values else None


def parse_authorize_request(args: Mapping[str, list[str]]) -> AuthorizeRequest:
    """Check a /cli/authorize query (each name to its list of values) in RFC 6749 order: client and
    redirect URI first (failures shown as a page), then everything else (failures redirected)."""
    try:
        client_id = _single(args, "client_id")
        redirect_uri = _single(args, "redirect_uri")
    except ValueError as exc:
        raise AuthorizeRefused("InvalidRequest", f"The sign-in link repeats the parameter {exc}.") from None
    if any(has_control_characters(value) for values in args.values() for value in values):
        raise AuthorizeRefused("InvalidRequest", "The sign-in link carries a control character.")
    if client_id != CLIENT_ID:
        raise AuthorizeRefused("UnknownClient", "The sign-in link names no client this broker knows.")
    if not redirect_uri or not is_loopback_redirect_uri(redirect_uri):
        raise AuthorizeRefused(
            "InvalidRedirectUri",
            "The sign-in link must return to the command-line tool on this computer "
            "(http://127.0.0.1, http://[::1] or http://localhost); it asks to go elsewhere.",
        )
    try:
        state = _single(args, "state")
    except ValueError:
        raise AuthorizeRedirect(redirect_uri, None, "invalid_request", "state is given more than once") from None

    def refuse(error: OAuthCode, description: str) -> AuthorizeRedirect:
        return AuthorizeRedirect(redirect_uri, state if state and len(state) <= MAX_STATE else None, error, description)

    try:
        values = {
            name: _single(args, name)
            for name in ("response_type", "code_challenge", "code_challenge_method", "role", "duration", "provider")
        }
    except ValueError as exc:
        raise refuse("invalid_request", f"{exc} is given more than once") from None
    if values["response_type"] != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    if not state or len(state) > MAX_STATE:
        raise refuse("invalid_request", f"state is required (at most {MAX_STATE} characters)")
    if values["code_challenge_method"] != "S256":
        raise refuse("invalid_request", "PKCE is required with code_challenge_method=S256")
    challenge = values["code_challenge"] or ""
    if not is_code_challenge(challenge):
        raise refuse("invalid_request", "code_challenge must be 43 base64url characters (S256)")
    role = values["role"] or None
    if role is not None and not is_role_arn(role):
        raise refuse("invalid_request", "role must be a role ARN")
    duration = None
    if values["duration"]:
        duration = _duration(values["duration"])
        if duration is None:
            raise refuse(
                "invalid_request",
                f"duration must be seconds from {limits.DURATION_SECONDS_MIN} to {limits.DURATION_SECONDS_MAX}",
            )
    provider = values["provider"] or None
    if provider is not None and len(provider) > 256:
        raise refuse("invalid_request", "provider is too long")
    return AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        state=state,
        requested_role_arn=role,
        requested_duration=duration,
        provider=provider,
    )


def is_role_arn(text: str) -> bool:
    try:
        parse_role_arn(text)
    except InvalidArn:
        return False
    return True


def _duration(text: str | None) -> int | None:
    # ASCII digits only: str.isdigit() also passes '²' (which int() refuses) and '٣' (which it reads).
    return parse_ascii_int_in_range(text, low=limits.DURATION_SECONDS_MIN, high=limits.DURATION_SECONDS_MAX)


def parse_duration(text: str | None) -> int | None:
    """An optional duration parameter: None when absent, OAuthError when not valid."""
    if is_absent(text):
        return None
    value = _duration(text)
    if value is None:
        raise OAuthError(
            "invalid_request",
            f"duration_seconds must be from {limits.DURATION_SECONDS_MIN} to {limits.DURATION_SECONDS_MAX}",
        )
    return value
