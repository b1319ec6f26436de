"""Typed settings: defaults, then a TOML file, then ``BROKER_*`` environment variables.

Every problem found while loading is collected and reported together, one line each, so an
operator fixes a broken configuration in one pass instead of one restart per mistake.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

ENV_PREFIX = "BROKER_"


class SettingsError(Exception):
    """The configuration is invalid; ``problems`` holds one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Settings:
    # Public URL the SP metadata, ACS URL and links are built from.
    base_url: str = "http://127.0.0.1:8000"
    # SQLAlchemy URL; SQLite under var/ by default, postgresql+psycopg://... in production.
    database_url: str = "sqlite:///var/broker.db"
    # Where `broker init` writes and the app reads keys and certificates.
    certs_dir: str = "certs"
    # SAML provider metadata files loaded at start-up (file name without .xml = provider name).
    metadata_dir: str = "metadata"
    # Account that owns providers and roles loaded from files and from the demo.
    default_account_id: str = "123456789012"
    default_account_alias: str = ""
    # Host and port for `broker serve`.
    host: str = "127.0.0.1"
    port: int = 8000
    # Worker processes of `broker serve` (each builds its own runtime) and threads per worker.
    workers: int = 1
    threads: int = 8
    # Database connections each worker process keeps open (as many again may open for a burst).
    # 0: the worker's threads plus 4, for the audit writer and the background jobs.
    database_pool_size: int = 0
    # `broker serve` gathers each request whole before a thread sees it: a client must send the
    # request's head within this many seconds of connecting (or of its previous response)...
    client_header_timeout_seconds: int = 10
    # ...and its body within this many more; past either, a 408 and the connection closes.
    client_body_timeout_seconds: int = 30
    # Open connections one client address may hold per worker (0: no limit). Only applies when
    # clients connect directly (trusted_proxy_hops = 0): behind a proxy every peer is the proxy.
    max_connections_per_client: int = 128
    # AWS region reported in responses and audit events (SigV4 scopes may name any region).
    region: str = "us-east-1"
    # Allowed clock skew, seconds, for SAML NotBefore/NotOnOrAfter and IssueInstant.
    saml_clock_skew_seconds: int = 60
    # Largest accepted SAMLResponse POST, bytes (base64 as received).
    saml_max_response_bytes: int = 256 * 1024
    # Lifetime of an outstanding AuthnRequest, seconds.
    saml_request_lifetime_seconds: int = 600
    # Accept IdP-initiated (unsolicited) responses unless a provider refuses them.
    saml_allow_unsolicited: bool = True
    # Providers (by name) allowed to sign with SHA-1; everyone else must use SHA-256 or better.
    saml_sha1_providers: tuple[str, ...] = ()
    # Providers (by name) allowed to encrypt assertions with AES-CBC (ADFS, Entra ID, SimpleSAMLphp
    # 1.19 defaults); everyone else must use AES-GCM. CBC invites padding-oracle attacks.
    saml_cbc_providers: tuple[str, ...] = ()
    # Providers that refuse IdP-initiated responses, by name.
    saml_refuse_unsolicited_providers: tuple[str, ...] = ()
    # "provider:AuthnContextClassRef" pairs: a sign-in through the provider whose assertion
    # carries that class counts as multi-factor (merged with the provider's own option).
    saml_mfa_authn_contexts: tuple[str, ...] = ()
    # Longest time, seconds, between fetches of metadata from a provider's URL (metadata/NAME.url);
    # the metadata's cacheDuration and validUntil may make it shorter.
    saml_metadata_refresh_seconds: int = 3600
    # After fetched metadata drops a signing certificate, responses signed with it are still
    # accepted for this long, seconds (in flight during the IdP's key rollover).
    saml_metadata_rollover_grace_seconds: int = 86400
    # One permitted role goes straight to the credentials page.
    auto_select_single_role: bool = True
    # Browser session lifetime after sign-in, seconds.
    web_session_lifetime_seconds: int = 3600
    # AWS SSO (stock `sso_session` profiles): how long one sign-in lasts before the IdP must be
    # visited again (the refresh token's life; IAM Identity Center: 8 h default, up to 90 days)...
    sso_session_lifetime_seconds: int = 28800
    # ...the life of each access token (clients refresh when under 15 minutes remain)...
    sso_access_token_lifetime_seconds: int = 3600
    # ...of a client registration (the AWS CLI reuses its cached one until then)...
    sso_registration_lifetime_seconds: int = 7776000
    # ...and of the role credentials GetRoleCredentials issues (capped by the role's maximum).
    sso_role_credentials_seconds: int = 3600
    # Cookie Secure flag; derived from base_url's scheme when unset.
    cookie_secure: bool | None = None
    # 64 hex digits: the key that seals secrets at rest, put in front of certs/data-encryption.key
    # (whose keys still decrypt, so rotating means setting a new one here).
    encryption_key: str = ""
    # Demo mode turns on the bundled demo IdP (never in production).
    demo: bool = False
    # Log level for the app's own loggers.
    log_level: str = "INFO"
    # "text" lines, or "json": one object per line (time, level, logger, message and fields).
    log_format: str = "text"
    # One line per request on the logger broker.access (request id, method, path, status,
    # latency, source address, action, principal), at INFO.
    access_log: bool = True
    # GET /metrics (Prometheus text): answered to loopback and private addresses, and to any
    # caller presenting metrics_token as a bearer token; 404 to everyone else.
    metrics_enabled: bool = True
    metrics_token: str = dataclasses.field(default="", repr=False)
    # Maximum allowed request body on the AWS endpoint, bytes.
    max_request_bytes: int = 1024 * 1024
    # Allowed SigV4 clock skew, seconds.
    sigv4_max_skew_seconds: int = 900
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host to trust (0: none).
    trusted_proxy_hops: int = 0
    # Seconds between signed digests of the audit trail (written by `broker serve`).
    audit_digest_interval_seconds: int = 300
    # Days audit events are kept before `broker serve` or `broker audit purge` deletes them (0: forever).
    audit_retention_days: int = 0
    # Which answered decision API calls the audit trail records, as data events: "none",
    # "denies" (those with any query not allowed) or "all".
    audit_decision_events: str = "denies"
    # Rate limits: token buckets per client address, principal and MFA device, shared by every
    # instance through the database. Each refusal answers 429 (AWS: Throttling) with
    # Retry-After; see docs/configuration.md for the buckets and their defaults.
    rate_limit_enabled: bool = True
    # Budgets replacing the defaults of some buckets: "BUCKET=RATE/UNIT:BURST", e.g. "saml=20/s:200"
    # (a sustained 20 a second, bursts of 200) or "mfa=30/h:30"; UNIT is s, m or h.
    rate_limits: tuple[str, ...] = ()
    # A refused key gets at most one audit event per this many seconds; it counts the refusals since.
    rate_limit_audit_interval_seconds: int = 60
    # Per-address limits count an IPv6 client as its network of this prefix length (48..128): a
    # client holds a whole /64 at least and could otherwise take a fresh address, and bucket, per
    # request. IPv4 (IPv4-mapped IPv6 included) counts per address.
    rate_limit_ipv6_prefix: int = 64
    # How often, at most, a running broker looks whether `broker keys rotate` changed the key
    # files, and reloads them if so (0: only at start and on SIGHUP).
    key_reload_interval_seconds: int = 10
    # SP certificate rollover: seconds from `broker keys rotate --sp-certificate` (the new
    # certificate listed in the metadata) until AuthnRequests are signed with the new key.
    sp_key_rollover_seconds: int = 172800

    @property
    def sp_entity_id(self) -> str:
        return f"{self.base_url}/saml/metadata"

    @property
    def acs_url(self) -> str:
        return f"{self.base_url}/saml/acs"

    @property
    def database_url_shown(self) -> str:
        """``database_url`` with its password masked, for anything printed or logged."""
        parts = urlsplit(self.database_url)
        userinfo, at, host = parts.netloc.rpartition("@")
        if not at or ":" not in userinfo:
            return self.database_url
        return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}").geturl()

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, raw: object, from_env: bool) -> object:
    hint = typing.get_type_hints(Settings)[name]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        if from_env and raw == "":
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if hint is int:
        if isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ValueError(f"expected an integer, got {raw!r}")
    if hint is str:
        if isinstance(raw, str):
            return raw
        raise ValueError(f"expected a string, got {raw!r}")
    if origin is tuple:
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return tuple(raw)
        raise ValueError(f"expected a list of strings, got {raw!r}")
    raise ValueError(f"unsupported setting type {hint!r}")  # pragma: no cover - table is fixed


def _take(values: dict[str, object], key: str, raw: object, *, from_env: bool, unknown: str, where: str) -> list[str]:
    """Coerce one setting of a source into ``values``; the problem with it, if any.

    ``unknown`` is the problem for a name that is no setting, ``where`` prefixes a bad value's.
    """
    if key not in _FIELDS:
        return [unknown]
    try:
        values[key] = _coerce(key, raw, from_env=from_env)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    return []


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Load settings; raise :class:`SettingsError` listing every problem."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    values: dict[str, object] = {}

    path = config_file or environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                document = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError([f"config file {path}: not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"config file {path}: not valid TOML: {exc}"]) from None
        for key, raw in document.items():
            unknown, where = f"{path}: unknown setting {key!r}", f"{path}: {key}"
            problems.extend(_take(values, key, raw, from_env=False, unknown=unknown, where=where))

    for env_key, raw in environ.items():
        if not env_key.startswith(ENV_PREFIX) or env_key == f"{ENV_PREFIX}CONFIG":
            continue
        key = env_key[len(ENV_PREFIX) :].lower()
        unknown, where = f"environment: unknown setting {env_key}", f"environment: {env_key}"
        problems.extend(_take(values, key, raw, from_env=True, unknown=unknown, where=where))

    values.update(overrides)
    # Values that parsed are range-checked even when others did not, so one run reports all.
    # _coerce gave each value its field's type, which a dict[str, object] cannot tell mypy.
    settings = Settings(**values)  # type: ignore[arg-type]
    problems.extend(validate(settings))
    if problems:
        raise SettingsError(problems)
    return settings


# A SAML provider's name, as IAM's CreateSAMLProvider takes it (and a metadata file's stem).
_PROVIDER_NAME = re.compile(r"[\w._-]{1,128}", re.ASCII)
# The settings that list provider names (compared as names are: see services/federation/provider_lists.py).
PROVIDER_LIST_SETTINGS = ("saml_sha1_providers", "saml_cbc_providers", "saml_refuse_unsolicited_providers")


def mfa_authn_context_pairs(settings: Settings) -> list[tuple[str, str]]:
    """``saml_mfa_authn_contexts`` as (provider name, AuthnContextClassRef) pairs."""
    pairs = []
    for entry in settings.saml_mfa_authn_contexts:
        name, _, class_ref = entry.partition(":")
        if name.strip() and class_ref.strip():
            pairs.append((name.strip(), class_ref.strip()))
    return pairs


def _provider_list_problems(settings: Settings) -> list[str]:
    """One problem per entry of a provider list that is no provider name: a space- or
    semicolon-separated value would otherwise name no provider and turn nothing on, or off."""
    problems: list[str] = []
    for setting in PROVIDER_LIST_SETTINGS:
        for entry in getattr(settings, setting):
            if not _PROVIDER_NAME.fullmatch(entry):
                problems.append(
                    f"{setting}: {entry!r} is not a SAML provider name (letters, digits, '.', '_' and '-', "
                    "up to 128 characters; separate names with commas)"
                )
    return problems


def _mfa_context_problems(entries: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    for entry in entries:
        name, colon, class_ref = entry.partition(":")
        if not colon or not _PROVIDER_NAME.fullmatch(name.strip()) or not class_ref.strip():
            problems.append(
                f"saml_mfa_authn_contexts: {entry!r} must be PROVIDER:AUTHN_CONTEXT_CLASS_REF "
                "(a SAML provider name, a colon, then the class reference)"
            )
    return problems


# Rate-limit buckets: (sustained requests per second, burst) unless ``rate_limits`` says otherwise.
# Generous: they stop floods and guessing, not people (a whole office behind one address signing
# in at nine, a service asking for thousands of decisions a second).
RATE_LIMIT_DEFAULTS: Mapping[str, tuple[float, int]] = types.MappingProxyType(
    {
        # Per client address.
        "saml": (20.0, 200),  # /saml/login, /saml/acs, the role pages
        "cli": (20.0, 200),  # /cli/authorize, /cli/token, /cli/device*, /cli/session, /cli/revoke
        "aws": (200.0, 2000),  # POST / (STS, IAM, Organizations, CloudTrail)
        "decisions": (1000.0, 5000),  # POST /v1/decisions
        # Per authenticated principal.
        "aws-principal": (100.0, 1000),
        "decisions-principal": (500.0, 2500),
        # Per MFA device: every code checked (wrong codes also lock the device, see iam/limits.py).
        "mfa": (1 / 6, 20),
    }
)
_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE_LIMIT = re.compile(r"\s*([a-z-]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*([smh])\s*:\s*([0-9]+)\s*", re.ASCII)


def rate_limit_budgets(settings: Settings) -> dict[str, tuple[float, int]]:
    """Every bucket's (requests per second, burst): the defaults, with ``rate_limits`` applied."""
    budgets = dict(RATE_LIMIT_DEFAULTS)
    for entry in settings.rate_limits:
        matched = _RATE_LIMIT.fullmatch(entry)
        if matched is not None and matched.group(1) in budgets:
            name, rate, unit, burst = matched.groups()
            budgets[name] = (float(rate) / _RATE_UNITS[unit], int(burst))
    return budgets


def _rate_limit_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    for entry in settings.rate_limits:
        matched = _RATE_LIMIT.fullmatch(entry)
        if matched is None:
            problems.append(f"rate_limits: {entry!r} must be BUCKET=RATE/UNIT:BURST, e.g. 'saml=20/s:200'")
        elif matched.group(1) not in RATE_LIMIT_DEFAULTS:
            known = ", ".join(RATE_LIMIT_DEFAULTS)
            problems.append(f"rate_limits: unknown bucket {matched.group(1)!r} (buckets: {known})")
        elif float(matched.group(2)) <= 0 or not 1 <= int(matched.group(4)) <= 1_000_000:
            problems.append(f"rate_limits: {entry!r} needs a rate above 0 and a burst of 1..1000000")
    if not 1 <= settings.rate_limit_audit_interval_seconds <= 86400:
        problems.append("rate_limit_audit_interval_seconds: must be 1..86400")
    if not 48 <= settings.rate_limit_ipv6_prefix <= 128:
        problems.append(f"rate_limit_ipv6_prefix: must be 48..128, got {settings.rate_limit_ipv6_prefix}")
    return problems


def validate(settings: Settings) -> list[str]:
    problems: list[str] = []
    parts = urlsplit(settings.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"base_url: must be an absolute http(s) URL, got {settings.base_url!r}")
    elif settings.base_url.endswith("/"):
        problems.append("base_url: must not end with '/'")
    elif parts.query or parts.fragment:
        problems.append("base_url: must not carry a query or fragment")
    if not (settings.database_url.startswith("sqlite") or settings.database_url.startswith("postgresql")):
        problems.append("database_url: only sqlite:/// and postgresql+psycopg:// URLs are supported")
    if not (len(settings.default_account_id) == 12 and settings.default_account_id.isdigit()):
        problems.append("default_account_id: must be 12 digits")
    if not 1 <= settings.port <= 65535:
        problems.append(f"port: must be 1..65535, got {settings.port}")
    if not 1 <= settings.workers <= 64:
        problems.append(f"workers: must be 1..64, got {settings.workers}")
    if not 0 <= settings.database_pool_size <= 1000:
        problems.append(f"database_pool_size: must be 0..1000, got {settings.database_pool_size}")
    if not 1 <= settings.threads <= 256:
        problems.append(f"threads: must be 1..256, got {settings.threads}")
    for name in ("client_header_timeout_seconds", "client_body_timeout_seconds"):
        if not 1 <= getattr(settings, name) <= 3600:
            problems.append(f"{name}: must be 1..3600 seconds, got {getattr(settings, name)}")
    if settings.max_connections_per_client < 0:
        problems.append(
            f"max_connections_per_client: must be 0 (no limit) or more, got {settings.max_connections_per_client}"
        )
    problems.extend(_provider_list_problems(settings))
    problems.extend(_mfa_context_problems(settings.saml_mfa_authn_contexts))
    if not 60 <= settings.saml_metadata_refresh_seconds <= 7 * 86400:
        problems.append("saml_metadata_refresh_seconds: must be 60..604800 (a week)")
    if not 0 <= settings.saml_metadata_rollover_grace_seconds <= 30 * 86400:
        problems.append("saml_metadata_rollover_grace_seconds: must be 0..2592000 (30 days)")
    if not 0 <= settings.key_reload_interval_seconds <= 3600:
        problems.append("key_reload_interval_seconds: must be 0..3600")
    if not 0 <= settings.sp_key_rollover_seconds <= 365 * 86400:
        problems.append("sp_key_rollover_seconds: must be 0..31536000 (a year)")
    if not 0 <= settings.saml_clock_skew_seconds <= 600:
        problems.append("saml_clock_skew_seconds: must be 0..600")
    if settings.saml_max_response_bytes < 1024:
        problems.append("saml_max_response_bytes: must be at least 1024")
    if settings.saml_request_lifetime_seconds < 30:
        problems.append("saml_request_lifetime_seconds: must be at least 30")
    if not 60 <= settings.web_session_lifetime_seconds <= 43200:
        problems.append("web_session_lifetime_seconds: must be 60..43200")
    if not 300 <= settings.sso_session_lifetime_seconds <= 7776000:
        problems.append("sso_session_lifetime_seconds: must be 300..7776000 (90 days)")
    if not 60 <= settings.sso_access_token_lifetime_seconds <= min(86400, settings.sso_session_lifetime_seconds):
        problems.append("sso_access_token_lifetime_seconds: must be 60..86400 and at most sso_session_lifetime_seconds")
    if not 3600 <= settings.sso_registration_lifetime_seconds <= 31536000:
        problems.append("sso_registration_lifetime_seconds: must be 3600..31536000 (a year)")
    if not 900 <= settings.sso_role_credentials_seconds <= 43200:
        problems.append("sso_role_credentials_seconds: must be 900..43200")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("log_level: must be DEBUG, INFO, WARNING or ERROR")
    if settings.log_format not in ("text", "json"):
        problems.append(f"log_format: must be text or json, got {settings.log_format!r}")
    if not 0 <= settings.trusted_proxy_hops <= 5:
        problems.append("trusted_proxy_hops: must be 0..5")
    if settings.metrics_token and len(settings.metrics_token) < 16:
        problems.append("metrics_token: must be at least 16 characters (or empty for none)")
    if not 1 <= settings.audit_digest_interval_seconds <= 86400:
        problems.append("audit_digest_interval_seconds: must be 1..86400")
    if not 0 <= settings.audit_retention_days <= 36500:
        problems.append("audit_retention_days: must be 0..36500 (0 keeps events forever)")
    if settings.audit_decision_events not in ("none", "denies", "all"):
        problems.append(f"audit_decision_events: must be none, denies or all, got {settings.audit_decision_events!r}")
    problems.extend(_rate_limit_problems(settings))
    loopback = ("127.0.0.1", "localhost", "::1")
    if settings.demo and parts.hostname not in loopback:
        problems.append("demo: demo mode (with its demo IdP) only runs on a loopback base_url")
    if settings.demo and settings.host not in loopback and settings.trusted_proxy_hops == 0:
        # A loopback base_url says nothing of where the server listens: bound to 0.0.0.0, anyone
        # on the network signs in with the demo IdP's published passwords and gets DemoAdmin.
        # Behind a proxy (trusted_proxy_hops), the proxy's own binding is what exposes it.
        problems.append(f"demo: demo mode listens on loopback only, not host = {settings.host!r}")
    return problems


def describe() -> list[tuple[str, str, str]]:
    """(name, default, environment variable) for every setting; the docs are checked against it."""
    rows = []
    for name, f in _FIELDS.items():
        default = f.default if f.default is not dataclasses.MISSING else ""
        rows.append((name, repr(default), f"{ENV_PREFIX}{name.upper()}"))
    return rows
