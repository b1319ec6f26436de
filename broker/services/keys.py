"""Key rotation the operator runs (``broker keys``): the session-token ring, the SP certificates and
the data keys that seal secrets at rest.

Each step rewrites files under ``certs_dir`` (which every instance mounts) and is audited as an
operator event in the same transaction; a refused step is audited with its error. Running
brokers pick the change up within ``key_reload_interval_seconds`` (or at ``SIGHUP``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from broker.crypto.keys import (
    CONFIGURED_DATA_KEY,
    load_keys,
    read_data_key_ring,
    read_token_ring,
    retire_data_keys,
    rotate_data_keys,
    rotate_token_keys,
)
from broker.crypto.rotation import finish_sp_rollover, retire_previous_token_key, stage_sp_keys
from broker.errors import BrokerError
from broker.iam.limits import MAX_SESSION_DURATION_MAX
from broker.services.audit.operator import CLI_ACTOR
from broker.services.audit.scope import AuditScope, ClientInfo
from broker.services.reseal import reseal_all
from broker.services.runtime import Runtime
from broker.services.sts.session_token import SESSION_TOKEN_DURATION_MAX
from broker.store import Tx
from broker.store import reseal as sealed_rows
from broker.store.generations import invalidate_everywhere

EVENT_SOURCE = "broker.cli"
# The longest a session token signed by a key can stay valid: GetSessionToken's 36 hours
# (a role session is at most MaxSessionDuration's 12).
TOKEN_LIFETIME_MAX = dt.timedelta(seconds=max(MAX_SESSION_DURATION_MAX, SESSION_TOKEN_DURATION_MAX))


class KeyRotationRefused(BrokerError):
    """A rotation step that would break something still in use, or that has nothing to act on."""

    code = "KeyRotationRefused"
    status = 409


@dataclass(frozen=True)
class TokenRingStatus:
    current: str
    next: str | None
    previous: str | None
    rotated_at: dt.datetime | None
    # When the previous key can no longer have signed a valid token (None: no previous key).
    previous_retirable_at: dt.datetime | None


@dataclass(frozen=True)
class SpCertificate:
    fingerprint: str  # SHA-256 of the DER certificate, hex
    not_after: dt.datetime


@dataclass(frozen=True)
class SpRolloverStatus:
    signing: SpCertificate
    encryption: SpCertificate
    staged_signing: SpCertificate | None
    staged_encryption: SpCertificate | None
    staged_at: dt.datetime | None
    # From when AuthnRequests are signed with the staged key, and `--finish` is allowed.
    switch_at: dt.datetime | None


def _retirable_at(runtime: Runtime, rotated_at: dt.datetime) -> dt.datetime:
    # An instance that has not reloaded yet may sign with the old key for one more reload interval.
    return rotated_at + TOKEN_LIFETIME_MAX + dt.timedelta(seconds=runtime.settings.key_reload_interval_seconds)


def token_ring_status(runtime: Runtime) -> TokenRingStatus:
    ring = read_token_ring(runtime.settings.certs_dir)
    retirable = None
    if ring.previous is not None:
        # A ring rotated before rotation times were kept: treat it as rotated just now.
        retirable = _retirable_at(runtime, ring.rotated_at or runtime.now())
    return TokenRingStatus(ring.current, ring.next, ring.previous, ring.rotated_at, retirable)


def _certificate(pem: bytes) -> SpCertificate:
    cert = x509.load_pem_x509_certificate(pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    return SpCertificate(hashlib.sha256(der).hexdigest(), cert.not_valid_after_utc)


def sp_rollover_status(runtime: Runtime) -> SpRolloverStatus:
    keys = load_keys(runtime.settings.certs_dir, runtime.settings.encryption_key)
    rollover = keys.sp_rollover
    return SpRolloverStatus(
        signing=_certificate(keys.sp_signing_cert_pem),
        encryption=_certificate(keys.sp_encryption_cert_pem),
        staged_signing=_certificate(rollover.signing_cert_pem) if rollover else None,
        staged_encryption=_certificate(rollover.encryption_cert_pem) if rollover else None,
        staged_at=rollover.staged_at if rollover else None,
        switch_at=(
            rollover.staged_at + dt.timedelta(seconds=runtime.settings.sp_key_rollover_seconds) if rollover else None
        ),
    )


def _scope(runtime: Runtime, event_name: str, parameters: Mapping[str, Any]) -> AuditScope:
    return AuditScope(
        event_name=event_name,
        event_source=EVENT_SOURCE,
        client=ClientInfo(source_ip=None, user_agent="broker-cli", request_id="cli"),
        region=runtime.settings.region,
        actor=CLI_ACTOR,
        event_type="AwsServiceEvent",
        request_parameters=parameters,
        recipient_account_id=runtime.settings.default_account_id,
    )


def _refuse(runtime: Runtime, event_name: str, parameters: Mapping[str, Any], message: str) -> KeyRotationRefused:
    error = KeyRotationRefused(message)
    with runtime.db.transaction() as tx:
        _scope(runtime, event_name, parameters).record(tx, runtime.now(), error=error)
    return error


def _record(
    runtime: Runtime, tx: Tx, event_name: str, parameters: Mapping[str, Any], response: Mapping[str, Any]
) -> None:
    _scope(runtime, event_name, parameters).record(tx, runtime.now(), response=response)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def rotate_tokens(runtime: Runtime, *, force: bool = False) -> TokenRingStatus:
    """next signs from now on, current is kept to verify, a new next is published.

    Refused while the previous key (which this drops) may still have signed a valid token.
    """
    before = token_ring_status(runtime)
    parameters = {"force": force, "currentKid": before.current}
    now = runtime.now()
    retirable = before.previous_retirable_at
    if retirable is not None and now < retirable and not force:
        raise _refuse(
            runtime,
            "RotateTokenSigningKey",
            parameters,
            f"rotating again would drop the previous key {before.previous}, whose tokens may be valid until "
            f"{_iso(retirable)}; run `broker keys rotate --tokens --retire` after then, or pass --force",
        )
    with runtime.db.transaction() as tx:
        rotated = rotate_token_keys(runtime.settings.certs_dir, now=now)
        response = {"current": rotated.current, "next": rotated.next, "previous": rotated.previous}
        _record(runtime, tx, "RotateTokenSigningKey", parameters, {**response, "dropped": before.previous})
    return token_ring_status(runtime)


def retire_previous_token(runtime: Runtime, *, force: bool = False) -> str:
    """Remove the previous key from the ring: its tokens stop verifying. Returns its kid."""
    before = token_ring_status(runtime)
    parameters = {"force": force, "previousKid": before.previous}
    if before.previous is None or before.previous_retirable_at is None:
        raise _refuse(runtime, "RetireTokenSigningKey", parameters, "there is no previous token signing key to retire")
    if runtime.now() < before.previous_retirable_at and not force:
        raise _refuse(
            runtime,
            "RetireTokenSigningKey",
            parameters,
            f"tokens signed by the previous key {before.previous} may be valid until "
            f"{_iso(before.previous_retirable_at)}; retire it after then, or pass --force",
        )
    with runtime.db.transaction() as tx:
        retired = retire_previous_token_key(runtime.settings.certs_dir)
        _record(runtime, tx, "RetireTokenSigningKey", parameters, {"retired": retired})
    assert retired is not None
    return retired


def stage_sp_certificate(runtime: Runtime) -> SpRolloverStatus:
    """New SP signing and encryption pairs, listed in the metadata beside the current ones."""
    before = sp_rollover_status(runtime)
    parameters = {"signingCertificate": before.signing.fingerprint}
    if before.staged_at is not None:
        raise _refuse(
            runtime,
            "StageSpCertificate",
            parameters,
            f"an SP certificate rollover staged at {_iso(before.staged_at)} is in progress; "
            "finish it with `broker keys rotate --sp-certificate --finish` first",
        )
    with runtime.db.transaction() as tx:
        stage_sp_keys(runtime.settings.certs_dir, runtime.settings.sp_entity_id, runtime.now())
        after = sp_rollover_status(runtime)
        assert after.staged_signing is not None
        assert after.staged_encryption is not None
        assert after.switch_at is not None
        response = {
            "stagedSigningCertificate": after.staged_signing.fingerprint,
            "stagedEncryptionCertificate": after.staged_encryption.fingerprint,
            "switchAt": _iso(after.switch_at),
        }
        _record(runtime, tx, "StageSpCertificate", parameters, response)
    return after


def finish_sp_certificate(runtime: Runtime, *, force: bool = False) -> SpRolloverStatus:
    """The staged SP pairs replace the current ones, which leave the metadata."""
    before = sp_rollover_status(runtime)
    parameters = {"force": force, "signingCertificate": before.signing.fingerprint}
    if before.switch_at is None:
        raise _refuse(runtime, "FinishSpCertificateRollover", parameters, "no SP certificate rollover is in progress")
    if runtime.now() < before.switch_at and not force:
        raise _refuse(
            runtime,
            "FinishSpCertificateRollover",
            parameters,
            f"IdPs may not have the new SP certificate before {_iso(before.switch_at)} "
            "(sp_key_rollover_seconds after it was staged); finish after then, or pass --force",
        )
    with runtime.db.transaction() as tx:
        finish_sp_rollover(runtime.settings.certs_dir)
        after = sp_rollover_status(runtime)
        response = {
            "signingCertificate": after.signing.fingerprint,
            "encryptionCertificate": after.encryption.fingerprint,
        }
        _record(runtime, tx, "FinishSpCertificateRollover", parameters, response)
    return after


@dataclass(frozen=True)
class DataKeyStatus:
    key_id: str
    source: str  # its file under certs_dir, or the encryption_key setting
    created_at: dt.datetime | None
    current: bool  # seals new values
    sealed_rows: int  # rows it still seals


def data_key_status(runtime: Runtime) -> list[DataKeyStatus]:
    """The data-key ring, current first, with how many rows each key still seals."""
    ring = read_data_key_ring(runtime.settings.certs_dir, runtime.settings.encryption_key)
    with runtime.db.read() as tx:
        counts = sealed_rows.sealed_counts(tx)
    return [
        DataKeyStatus(key.key_id, key.source, key.created_at, index == 0, counts.get(key.key_id, 0))
        for index, key in enumerate(ring)
    ]


def rotate_encryption(runtime: Runtime) -> list[DataKeyStatus]:
    """A new data key seals from now on; the others stay to open what they sealed until re-sealed."""
    before = data_key_status(runtime)
    parameters = {"currentKeyId": before[0].key_id}
    with runtime.db.transaction() as tx:
        key = rotate_data_keys(runtime.settings.certs_dir, runtime.now())
        _record(
            runtime, tx, "RotateDataEncryptionKey", parameters, {"current": key.key_id, "previous": before[0].key_id}
        )
    runtime.reload_keys_if_changed()
    return data_key_status(runtime)


def retire_encryption(runtime: Runtime, *, force: bool = False) -> list[str]:
    """Remove the data keys that no longer seal anything (refused while one still does). Returns their ids."""
    ring = data_key_status(runtime)
    current = ring[0]
    parameters = {"force": force, "currentKeyId": current.key_id}
    if current.created_at is None:
        raise _refuse(
            runtime,
            "RetireDataEncryptionKeys",
            parameters,
            "no data key was rotated in; run `broker keys rotate --encryption`",
        )
    old = [key for key in ring[1:] if key.source != CONFIGURED_DATA_KEY]
    in_use = [key for key in ring[1:] if key.sealed_rows]
    if in_use:
        counts = ", ".join(f"{key.key_id} seals {key.sealed_rows} rows" for key in in_use)
        raise _refuse(
            runtime,
            "RetireDataEncryptionKeys",
            parameters,
            f"old data keys still in use ({counts}); run `broker keys reseal` or wait for the background re-seal",
        )
    # An instance that has not reloaded the ring yet may still seal with an old key.
    settled = current.created_at + dt.timedelta(seconds=runtime.settings.key_reload_interval_seconds)
    if runtime.now() < settled and not force:
        raise _refuse(
            runtime,
            "RetireDataEncryptionKeys",
            parameters,
            f"instances may seal with the old keys until they reload the ring at {_iso(settled)}; "
            "retire after then, or pass --force",
        )
    if not old:
        raise _refuse(runtime, "RetireDataEncryptionKeys", parameters, "there is no old data key file to retire")
    with runtime.db.transaction() as tx:
        # Counted again under this transaction: a lagging instance may have sealed a row meanwhile.
        now_sealed = sealed_rows.sealed_counts(tx)
        late = {key.key_id: now_sealed[key.key_id] for key in old if now_sealed.get(key.key_id)}
        if not late:
            retired = retire_data_keys(runtime.settings.certs_dir, {key.key_id for key in old})
            # Caches may hold values the retired keys sealed (re-sealing left them valid): drop them all.
            invalidate_everywhere(tx)
            _record(
                runtime, tx, "RetireDataEncryptionKeys", parameters, {"retired": retired, "current": current.key_id}
            )
    if late:
        raise _refuse(runtime, "RetireDataEncryptionKeys", parameters, f"old data keys sealed rows meanwhile: {late}")
    runtime.reload_keys_if_changed()
    return retired


def reseal(runtime: Runtime) -> int:
    """Re-seal now, to completion, every row an old data key seals (audited); the number of rows."""
    done = reseal_all(runtime)
    current = runtime.box.sealing_key_id
    remaining = sum(key.sealed_rows for key in data_key_status(runtime)[1:])
    with runtime.db.transaction() as tx:
        _record(runtime, tx, "ResealData", {"currentKeyId": current}, {"resealed": done, "remaining": remaining})
    return done
