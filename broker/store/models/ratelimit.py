"""Request budgets shared by every broker instance: one row per (bucket, key)."""

from __future__ import annotations

from sqlalchemy import Boolean, Double, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.models._base import Base


class RateLimitBucket(Base):
    """A generic cell rate algorithm (GCRA) cell: a token bucket stored as one instant.

    ``tat`` (theoretical arrival time, Unix seconds) is when the bucket would be full again; a
    request is admitted while that lies less than the burst's worth of time ahead. The other
    columns count refusals so the audit trail gets one event per key and interval, not one per
    refusal. No index beyond the key: every check updates ``tat``, and PostgreSQL can then
    update the row in place (a HOT update); the periodic purge scans the table.
    """

    __tablename__ = "rate_limit_buckets"
    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    # A client address, a principal ARN or an MFA serial number (hashed when long).
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Double)
    # Whether the latest check was admitted.
    admitted: Mapped[bool] = mapped_column(Boolean)
    # Refusals since the latest audited one, not audited on their own.
    refused: Mapped[int] = mapped_column(Integer)
    # The count the latest audited refusal carried (``refused`` as it stood then).
    suppressed: Mapped[int] = mapped_column(Integer)
    # When the latest audited refusal happened (Unix seconds; 0 for never).
    reported_at: Mapped[float] = mapped_column(Double)
