"""Everything a use case needs, built once per process from settings."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from broker.crypto.box import SecretBox
from broker.crypto.keys import KeyMaterial, load_keys
from broker.saml.sp import ServiceProvider, SpKeys
from broker.services.audit.writer import AuditWriter
from broker.services.cache import VersionedCache
from broker.services.ratelimit.limiter import RateLimiter
from broker.settings import Settings
from broker.store.db import Database


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
    keys: KeyMaterial
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    housekeeping: Housekeeping = field(default_factory=Housekeeping)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], dt.datetime] = utcnow) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            keys=load_keys(settings.certs_dir, settings.encryption_key),
            clock=clock,
        )

    def now(self) -> dt.datetime:
        return self.clock()

    @cached_property
    def cache(self) -> VersionedCache:
        """Values requests read again and again, valid while their generation stamp holds."""
        return VersionedCache()

    @cached_property
    def box(self) -> SecretBox:
        return SecretBox(self.keys.data_encryption_keys)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Request budgets per client address, principal and MFA device, shared by every instance."""
        return RateLimiter(self.settings, self.db, utcnow)  # the wall clock, as every instance reads it

    @cached_property
    def audit_writer(self) -> AuditWriter:
        """The process's group-commit writer for audit events that change nothing else."""
        return AuditWriter(self.db)

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
            ),
        )
