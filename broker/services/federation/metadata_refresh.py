"""IdP metadata fetched from a URL on a schedule, with the IdP's signing-key rollover.

A provider gets a URL from a sidecar file ``metadata/NAME.url`` (read by `broker init` and at
start-up)::

    url = https://idp.example.org/metadata
    pin = idp-metadata-signer.pem   # optional; relative to the metadata directory

Every broker process runs :func:`refresh_due` from its background worker. Which process fetches
a provider is decided in the database: a conditional UPDATE moves the provider's
``next_fetch_at`` forward and only the process whose UPDATE matched fetches, so each provider is
fetched once per due time across every instance and worker. The fetch itself runs outside any
transaction.

A fetched document is accepted only if it parses with the hardened parser, names the entity ID
the provider already has, has not expired, and (with a pin) carries an enveloped signature that
verifies with the pinned certificate. A failed fetch keeps the last good metadata, records the
error (shown by ``/readyz``) and is retried with a doubling delay. When a new document drops a
signing certificate, the dropped one is kept in the provider's options (``rollover_certs``) and
still verifies responses for ``saml_metadata_rollover_grace_seconds`` (the ACS checks the end at
each validation); metadata an administrator sets, or a new URL or pin, ends the grace period.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.saml.errors import MetadataError
from broker.saml.metadata import IdpMetadata, parse_idp_metadata, verify_metadata_signature
from broker.services.audit.operator import record_operator_event
from broker.services.federation.metadata_fetch import FETCH_DEADLINE as FETCH_DEADLINE
from broker.services.federation.metadata_fetch import MetadataFetchFailed as MetadataFetchFailed
from broker.services.federation.metadata_fetch import MetadataSourceError as MetadataSourceError
from broker.services.federation.metadata_fetch import fetch_metadata as fetch_metadata
from broker.services.federation.metadata_fetch import redirect_problem as redirect_problem
from broker.services.federation.metadata_fetch import url_problem as url_problem
from broker.services.iam import providers as iam_providers
from broker.services.runtime import Runtime
from broker.store import Tx
from broker.store.iam import providers as store
from broker.store.iam.providers import MetadataSource

log = logging.getLogger("broker.metadata")

# Never fetch more often than this, whatever cacheDuration or validUntil say.
MIN_INTERVAL = dt.timedelta(seconds=60)
# The first retry after a failure; each further failure doubles it, up to the refresh interval.
FIRST_RETRY = dt.timedelta(seconds=60)
# How long a claimed fetch is held: if the process dies mid-fetch, another retries after this.
CLAIM_LEASE = dt.timedelta(seconds=120)
ROLLOVER_CERTS = iam_providers.ROLLOVER_CERTS
# How often each process asks the database whether a fetch is due.
POLL_INTERVAL = dt.timedelta(seconds=30)
_EVENT_SOURCE = "broker.metadata"


@dataclass(frozen=True)
class MetadataLocation:
    """Where a provider's metadata comes from: its URL and the PEM certificate pinned for its signature."""

    url: str
    pin_pem: str | None = None


# -- where: the URL file ----------------------------------------------------------------------


def read_url_file(path: Path) -> MetadataLocation:
    """Parse ``NAME.url``: ``url = ...`` and an optional ``pin = PEM file``; ``#`` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise MetadataSourceError(f"cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("url", "pin") or not value:
            raise MetadataSourceError(f"line {number}: expected `url = URL` or `pin = PEM file`")
        if key in values:
            raise MetadataSourceError(f"line {number}: {key} is given twice")
        values[key] = value
    url = values.get("url")
    if url is None:
        raise MetadataSourceError("has no `url = ...` line")
    problem = url_problem(url)
    if problem is not None:
        raise MetadataSourceError(f"url {problem}")
    pin = values.get("pin")
    return MetadataLocation(url, _read_pin(path.parent / pin) if pin else None)


def _read_pin(path: Path) -> str:
    from cryptography import x509

    try:
        pem = path.read_bytes()
        x509.load_pem_x509_certificate(pem)
    except OSError as exc:
        raise MetadataSourceError(f"pin: {path} cannot be read ({exc.__class__.__name__})") from None
    except ValueError:
        raise MetadataSourceError(f"pin: {path} is not a PEM X.509 certificate") from None
    return pem.decode("ascii")


# -- fetch and accept -------------------------------------------------------------------------


def accept_metadata(xml: str, *, pin_pem: str | None, entity_id: str | None, now: dt.datetime) -> IdpMetadata:
    """The fetched document's metadata, if the broker may take it in place of what it has."""
    try:
        metadata = parse_idp_metadata(xml)
    except MetadataError as exc:
        raise MetadataFetchFailed("unacceptable metadata", exc.message) from None
    if pin_pem is not None:
        try:
            verify_metadata_signature(xml, (pin_pem.encode(),))
        except MetadataError as exc:
            raise MetadataFetchFailed("signature not verified", exc.message) from None
    if entity_id is not None and metadata.entity_id != entity_id:
        raise MetadataFetchFailed("entity ID changed", f"the document names {metadata.entity_id!r}")
    if metadata.valid_until is not None and metadata.valid_until <= now:
        raise MetadataFetchFailed("expired", "its validUntil has passed")
    return metadata


def refresh_interval(runtime: Runtime, metadata: IdpMetadata, now: dt.datetime) -> dt.timedelta:
    """Until the next fetch: the refresh setting, the cacheDuration, or half the time left before
    validUntil, whichever is shortest (never under a minute)."""
    candidates = [dt.timedelta(seconds=runtime.settings.saml_metadata_refresh_seconds)]
    if metadata.cache_duration is not None:
        candidates.append(metadata.cache_duration)
    if metadata.valid_until is not None:
        candidates.append((metadata.valid_until - now) / 2)
    shortest: dt.timedelta = min(candidates)
    return max(MIN_INTERVAL, shortest)


def retry_delay(runtime: Runtime, failures: int) -> dt.timedelta:
    cap = dt.timedelta(seconds=runtime.settings.saml_metadata_refresh_seconds)
    return min(cap, FIRST_RETRY * (1 << min(failures - 1, 20)))


# -- rollover ---------------------------------------------------------------------------------


def rollover_certs(options: dict[str, Any]) -> tuple[tuple[bytes, dt.datetime], ...]:
    """The signing certificates previous documents had, each with the end of its grace period
    (the ACS checks it at each validation). An entry without a readable end is not trusted."""
    found = []
    for entry in options.get(ROLLOVER_CERTS) or []:
        try:
            pem, until = entry["pem"].encode(), dt.datetime.fromisoformat(entry["until"])
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        if until.tzinfo is not None:
            found.append((pem, until))
    return tuple(found)


def _unexpired(options: dict[str, Any], now: dt.datetime) -> list[dict[str, str]]:
    return [{"pem": pem.decode(), "until": until.isoformat()} for pem, until in rollover_certs(options) if now < until]


def _options_after(
    runtime: Runtime, source: MetadataSource, new: IdpMetadata, now: dt.datetime
) -> tuple[dict[str, Any], int]:
    """The provider's options with the certificates the new document dropped kept for the grace
    period (and those whose grace ended removed), and how many were dropped."""
    try:
        old_certs = parse_idp_metadata(source.metadata_xml).signing_certs
    except MetadataError:
        old_certs = ()
    kept = [e for e in _unexpired(source.options, now) if e["pem"].encode() not in new.signing_certs]
    grace = dt.timedelta(seconds=runtime.settings.saml_metadata_rollover_grace_seconds)
    dropped = [cert for cert in old_certs if cert not in new.signing_certs]
    if grace:
        until = (now + grace).isoformat()
        known = {e["pem"] for e in kept}
        kept += [{"pem": cert.decode(), "until": until} for cert in dropped if cert.decode() not in known]
    options = {key: value for key, value in source.options.items() if key != ROLLOVER_CERTS}
    if kept:
        options[ROLLOVER_CERTS] = kept
    return options, len(dropped)


def _prune_rollover(tx: Tx, source: MetadataSource, now: dt.datetime) -> bool:
    """Drop the rollover certificates whose grace period ended; True if any was."""
    entries = source.options.get(ROLLOVER_CERTS)
    if not entries:
        return False
    kept = _unexpired(source.options, now)
    if len(kept) == len(entries):
        return False
    options = {key: value for key, value in source.options.items() if key != ROLLOVER_CERTS}
    if kept:
        options[ROLLOVER_CERTS] = kept
    store.set_saml_options(tx, source.arn, options)
    return True


# -- the chore --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshOutcome:
    arn: str
    changed: bool
    error: str | None
    next_fetch_at: dt.datetime


def refresh_due(runtime: Runtime) -> list[RefreshOutcome]:
    """Fetch every provider whose refresh is due and that this process claims first; end the
    grace period of rolled-over certificates. Never raises for one provider's failure."""
    now = runtime.now()
    with runtime.db.read() as tx:  # the usual pass writes nothing: no write lock taken
        sources = store.metadata_sources(tx)
        due = store.due_metadata_fetches(tx, now)
    if any(_unexpired(source.options, now) != (source.options.get(ROLLOVER_CERTS) or []) for source in sources):
        with runtime.db.transaction() as tx:
            for source in store.metadata_sources(tx):
                _prune_rollover(tx, source, now)
    outcomes = []
    for arn in due:
        try:
            outcome = refresh_provider(runtime, arn)
        except Exception:  # one provider's trouble must not stop the others (nor the worker)
            log.exception("metadata refresh of %s failed", arn)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def refresh_provider(runtime: Runtime, arn: str) -> RefreshOutcome | None:
    """Claim and run one due fetch; None if another process claimed it (or it is not due)."""
    now = runtime.now()
    with runtime.db.transaction() as tx:
        if not store.claim_metadata_fetch(tx, arn, now, now + CLAIM_LEASE):
            return None
        source = store.metadata_source(tx, arn)
    if source is None:
        return None
    try:
        xml = fetch_metadata(source.metadata_url)
        metadata = accept_metadata(xml, pin_pem=source.metadata_pin, entity_id=source.entity_id, now=now)
        return _record_success(runtime, source, xml, metadata, now)
    except MetadataFetchFailed as exc:
        return _record_failure(runtime, source, exc, now)
    except Exception as exc:  # a fault of ours: still on record, audited and backed off, not retried silently
        log.exception("metadata refresh of %s failed unexpectedly", source.arn)
        return _record_failure(runtime, source, MetadataFetchFailed("internal error", exc.__class__.__name__), now)


def _record_success(
    runtime: Runtime, source: MetadataSource, xml: str, metadata: IdpMetadata, now: dt.datetime
) -> RefreshOutcome:
    next_fetch_at = now + refresh_interval(runtime, metadata, now)
    with runtime.db.transaction() as tx:
        # As it is now, not as claimed: an administrator may have replaced the metadata (and so
        # ended the rollover) while this fetch ran.
        source = store.metadata_source(tx, source.arn) or source
        changed = xml != source.metadata_xml
        if changed:
            options, retired = _options_after(runtime, source, metadata, now)
            # Through the IAM service: the same write an UpdateSAMLProvider makes (bumps the caches
            # and ends the rollover)...
            iam_providers.update_saml_provider_metadata(tx, source.arn, xml)
            # ... then this refresh's own rollover.
            store.set_saml_options(tx, source.arn, options)
            record_operator_event(
                runtime,
                tx,
                "MetadataRefreshed",
                {
                    "providerArn": source.arn,
                    "reason": "metadata changed",
                    "signingCertificates": len(metadata.signing_certs),
                    "retiredCertificates": retired,
                },
                event_source=_EVENT_SOURCE,
                request_id="metadata-refresh",
            )
        store.record_metadata_fetched(tx, source.arn, fetched_at=now, next_fetch_at=next_fetch_at)
    if changed:
        log.info("metadata of %s refreshed from its URL", source.arn)
    return RefreshOutcome(source.arn, changed, None, next_fetch_at)


def _record_failure(
    runtime: Runtime, source: MetadataSource, failure: MetadataFetchFailed, now: dt.datetime
) -> RefreshOutcome:
    failures = source.fetch_failures + 1
    next_fetch_at = now + retry_delay(runtime, failures)
    with runtime.db.transaction() as tx:
        store.record_metadata_fetch_failed(
            tx, source.arn, error=failure.message, failures=failures, next_fetch_at=next_fetch_at
        )
        record_operator_event(
            runtime,
            tx,
            "MetadataRefreshFailed",
            {"providerArn": source.arn, "reason": failure.reason, "failures": failures},
            event_source=_EVENT_SOURCE,
            request_id="metadata-refresh",
        )
    log.warning("metadata refresh of %s failed (%s); keeping the last good metadata", source.arn, failure.message)
    return RefreshOutcome(source.arn, False, failure.message, next_fetch_at)


# -- set-up: metadata/NAME.url ----------------------------------------------------------------


def sync_url_file(runtime: Runtime, account_id: str, path: Path) -> bool:
    """Register the provider ``path`` (``NAME.url``) names, fetching its metadata now, or bring its
    URL and pin up to date (fetched at the next refresh); True if anything changed."""
    name = path.stem
    location = read_url_file(path)
    now = runtime.now()
    with runtime.db.read() as tx:
        existing = store.saml_provider_named(tx, account_id, name_key(name))
        source = store.metadata_source(tx, existing.arn) if existing is not None else None
    if existing is None:
        xml = fetch_metadata(location.url)
        metadata = accept_metadata(xml, pin_pem=location.pin_pem, entity_id=None, now=now)
        with runtime.db.transaction() as tx:
            try:
                provider = iam_providers.create_saml_provider(
                    tx, account_id, name, xml, None, now, source=f"file:{path.name}"
                )
            except AwsError as exc:
                raise MetadataSourceError(exc.message) from None
            store.set_metadata_source(tx, provider.arn, url=location.url, pin=location.pin_pem, next_fetch_at=now)
            store.record_metadata_fetched(
                tx, provider.arn, fetched_at=now, next_fetch_at=now + refresh_interval(runtime, metadata, now)
            )
            _record_setup_change(runtime, tx, "CreateSAMLProvider", name, path)
        return True
    if source is None or (source.metadata_url, source.metadata_pin) != (location.url, location.pin_pem):
        with runtime.db.transaction() as tx:
            store.set_metadata_source(tx, existing.arn, url=location.url, pin=location.pin_pem, next_fetch_at=now)
            # A new source is the administrator's choice of what to trust: no key from the old one's rollover.
            iam_providers.end_key_rollover(tx, existing.arn)
            _record_setup_change(runtime, tx, "UpdateSAMLProvider", name, path)
        return True
    return False


def _record_setup_change(runtime: Runtime, tx: Tx, event: str, name: str, path: Path) -> None:
    # The URL is not recorded: it may carry an access token in its query.
    record_operator_event(
        runtime, tx, event, {"name": name, "source": path.name}, event_source="broker.cli", request_id="cli"
    )


# -- status (for /readyz and /metrics) --------------------------------------------------------


@dataclass(frozen=True)
class MetadataStatus:
    """One URL-fetched provider's refresh state."""

    name: str
    arn: str
    last_fetch_at: dt.datetime | None
    failing: bool
    expired: bool


def metadata_status(runtime: Runtime) -> list[MetadataStatus]:
    now = runtime.now()
    with runtime.db.read() as tx:
        sources = store.metadata_states(tx)  # without the documents: /readyz and /metrics call this
    return [
        MetadataStatus(
            name=source.name,
            arn=source.arn,
            last_fetch_at=source.last_fetch_at,
            failing=source.last_fetch_error is not None,
            expired=source.valid_until is not None and source.valid_until <= now,
        )
        for source in sources
    ]
