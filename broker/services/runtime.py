"""Everything a use case needs, built once per process from settings."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from broker.crypto.box import DecryptionError, SecretBox, sealed_key_id
from broker.crypto.keys import KeyMaterial, KeyMaterialError, load_keys
from broker.crypto.rotation import key_files_stamp
from broker.saml.sp import ServiceProvider, SpKeys
from broker.services.audit.writer import AuditWriter
from broker.services.cache import VersionedCache
from broker.services.ratelimit.limiter import RateLimiter
from broker.settings import Settings
from broker.store.db import Database, WalCheckpointer

log = logging.getLogger(__name__)


def pool_size_for(settings: Settings) -> int:
    """Connections a worker keeps open: one per request thread, and four for the audit writer
    and the background jobs (metadata refresh, re-sealing, digests), unless set."""
    return settings.database_pool_size or settings.threads + 4


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Housekeeping:
    """When this process last ran each periodic chore (purging expired rows...), so a chore runs
    at most once per interval per process instead of on every request."""

    def __init__(self) -> None:
        self._last: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def due(self, chore: str, now: dt.datetime, interval: dt.timedelta) -> bool:
        """True, and the chore counted as run, when ``interval`` has passed since it last ran."""
        with self._lock:
            last = self._last.get(chore)
            if last is not None and now - last < interval:
                return False
            self._last[chore] = now
            return True


@dataclass
class Runtime:
    settings: Settings
    db: Database
    loaded_keys: KeyMaterial
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    housekeeping: Housekeeping = field(default_factory=Housekeeping)
    # When the key files were last looked at (monotonic seconds) and what they looked like then.
    _keys_checked: float = field(default=0.0, repr=False)
    _keys_stamp: tuple[int, ...] = field(default=(), repr=False)
    # The data-key ring of the keys it was built from (see ``box``).
    _box: tuple[KeyMaterial, SecretBox] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], dt.datetime] = utcnow) -> Runtime:
        stamp = key_files_stamp(settings.certs_dir)
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size_for(settings)),
            loaded_keys=load_keys(settings.certs_dir, settings.encryption_key),
            clock=clock,
            _keys_checked=time.monotonic(),
            _keys_stamp=stamp,
        )

    @property
    def keys(self) -> KeyMaterial:
        """The key files as loaded; reloaded when a rotation changed them, looked at most once
        per ``key_reload_interval_seconds`` (a few ``stat`` calls), so every instance follows a
        rotation made anywhere without a restart."""
        interval = self.settings.key_reload_interval_seconds
        if interval and time.monotonic() - self._keys_checked >= interval:
            self.reload_keys_if_changed()
        return self.loaded_keys

    @keys.setter
    def keys(self, keys: KeyMaterial) -> None:
        self.loaded_keys = keys
        self._forget_key_derivatives()

    def reload_keys_if_changed(self) -> None:
        self._keys_checked = time.monotonic()
        stamp = key_files_stamp(self.settings.certs_dir)
        if stamp == self._keys_stamp:
            return
        try:
            keys = load_keys(self.settings.certs_dir, self.settings.encryption_key)
        except KeyMaterialError as exc:  # mid-rotation, or broken: keep what works, look again later
            log.warning("key files changed but could not be loaded, keeping the loaded keys: %s", exc)
            return
        self._keys_stamp = stamp
        self.keys = keys
        log.info("key files changed: reloaded (token signing key %s)", keys.token_keys.current.kid)

    def _forget_key_derivatives(self) -> None:
        self.__dict__.pop("sp", None)

    def now(self) -> dt.datetime:
        return self.clock()

    @cached_property
    def cache(self) -> VersionedCache:
        """Values requests read again and again, valid while their generation stamp holds."""
        return VersionedCache()

    @property
    def box(self) -> SecretBox:
        """The data-key ring that seals and opens secrets at rest. Read through ``keys``, so it
        follows a rotation made anywhere within the reload interval even on a process whose
        requests read nothing else of the keys (long-term access keys only); rebuilt only when
        the loaded keys changed."""
        keys = self.keys
        built = self._box
        if built is None or built[0] is not keys:
            built = (keys, SecretBox(keys.data_encryption_keys))
            self._box = built
        return built[1]

    def open_sealed(self, sealed: str, associated_data: str) -> str:
        """Open a value the database holds sealed (an access key's secret). One sealed by a data
        key this process has not loaded was sealed by an instance that already follows a
        `broker keys rotate --encryption`: the key files are looked at again at once, not at the
        next interval, and the value tried once more (a few ``stat`` calls, paid only by a value
        this process cannot open). Raises :class:`DecryptionError`."""
        box = self.box
        try:
            return box.open(sealed, associated_data)
        except DecryptionError:
            if sealed_key_id(sealed) in (None, *box.key_ids):
                raise  # not a stale ring: tampered, moved to another row, or not a sealed value
        self.reload_keys_if_changed()
        if self.box is box:
            raise DecryptionError(f"no key {sealed_key_id(sealed)!r} in the key ring")
        return self.box.open(sealed, associated_data)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Request budgets per client address, principal and MFA device, shared by every instance."""
        return RateLimiter(self.settings, self.db, utcnow)  # the wall clock, as every instance reads it

    @cached_property
    def audit_writer(self) -> AuditWriter:
        """The process's group-commit writer for audit events that change nothing else."""
        return AuditWriter(self.db)

    @cached_property
    def wal_checkpointer(self) -> WalCheckpointer:
        """A server worker's SQLite checkpoints, run off the request path once started (a no-op on
        PostgreSQL); `broker serve` starts it in each worker and stops it as the worker exits."""
        return WalCheckpointer(self.db)

    @cached_property
    def sp(self) -> ServiceProvider:
        keys = self.keys
        return ServiceProvider(
            entity_id=self.settings.sp_entity_id,
            acs_url=self.settings.acs_url,
            keys=SpKeys(
                signing_key_pem=keys.sp_signing_key_pem,
                signing_cert_file=keys.sp_signing_cert_file(),
                signing_key_file=keys.sp_signing_key_file(),
                encryption_cert_file=keys.sp_encryption_cert_file(),
                encryption_key_file=keys.sp_encryption_key_file(),
                **self._sp_rollover(),
            ),
        )

    def _sp_rollover(self) -> dict[str, Any]:
        rollover = self.keys.sp_rollover
        if rollover is None:
            return {}
        return {
            "next_signing_key_pem": rollover.signing_key_pem,
            "next_signing_cert_pem": rollover.signing_cert_pem,
            "next_encryption_cert_pem": rollover.encryption_cert_pem,
            "switch_at": rollover.staged_at + dt.timedelta(seconds=self.settings.sp_key_rollover_seconds),
        }
