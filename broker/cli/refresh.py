"""A profile's credentials, fresh: from the cache, else refreshed through the broker session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click

from broker.cli import awsfiles, cache, oauth, paths
from broker.cli.cache import BrokerSession, Credentials
from broker.cli.errors import BrokerError
from broker.cli.profiles import Profile, require_profile

# Refresh this long before expiry: botocore starts refreshing 15 minutes ahead (advisory) and
# insists at 10, so handing it credentials with less left would only make it ask again.
REFRESH_BEFORE = dt.timedelta(minutes=15)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def remember(profile: Profile, body: dict[str, Any]) -> Credentials:
    """Cache a token response for ``profile`` (and its broker session, when it carries a new one)."""
    credentials, session = cache.read_token_response(body, profile.url)
    if session is not None:
        cache.write_session(session)
    cache.write_credentials(profile.name, credentials)
    if profile.write_aws_credentials:
        awsfiles.write_credentials_profile(paths.aws_credentials_file(), profile.name, credentials)
    return credentials


def live_session(url: str, now: dt.datetime) -> BrokerSession | None:
    session = cache.read_session(url)
    # A few seconds of margin: a handle that ends in flight is no better than an ended one.
    if session is None or session.expires_at <= now + dt.timedelta(seconds=10):
        return None
    return session


def fresh_credentials(
    profile_name: str,
    *,
    warn: Callable[[str], None] | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> Credentials:
    """Cached credentials with time left, else new ones from the broker session, else stale-but-valid
    ones (with a warning), else a BrokerError telling the person to run ``broker login``."""
    warn = warn or (lambda line: click.echo(f"broker: {line}", err=True))
    profile = require_profile(profile_name)
    cached = cache.read_credentials(profile.name)
    if cached is None:
        # Signed out (or never signed in): a broker session other profiles keep must not sign this one back in.
        raise BrokerError(
            f"profile {profile.name} has no credentials (signed out, or never signed in); "
            f"run `broker login --profile {profile.name}`"
        )
    moment = now()
    if cached.url == profile.url and cached.remaining(moment) > REFRESH_BEFORE:
        return cached
    session = live_session(profile.url, moment)
    problem = "the broker session has ended"
    if session is not None:
        role = profile.role_arn or cached.role_arn or None
        try:
            body = oauth.refresh(oauth.BrokerHttp(profile.url), session.refresh_token, role, profile.duration_seconds)
            return remember(profile, body)
        except oauth.TokenError as exc:
            if exc.error == "invalid_grant":
                cache.delete_session(profile.url)
            problem = f"the broker refused to refresh them: {exc.description}"
        except BrokerError as exc:
            problem = exc.format_message()
    if cached.url == profile.url and cached.remaining(moment) > dt.timedelta(seconds=30):
        minutes = int(cached.remaining(moment).total_seconds() // 60)
        warn(
            f"profile {profile.name}: using credentials that expire in {minutes} min ({problem}); "
            f"run `broker login --profile {profile.name}` to renew them"
        )
        return cached
    raise BrokerError(
        f"the credentials of profile {profile.name} have expired and {problem}; "
        f"run `broker login --profile {profile.name}`"
    )
