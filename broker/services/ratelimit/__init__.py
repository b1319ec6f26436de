"""Rate limits shared by every broker instance: buckets, checks and the Throttling refusal.

:mod:`.limiter` checks (``Runtime.rate_limiter``); :mod:`.refusals` applies the per-address
buckets to a request and audits what it refuses; :mod:`.addresses` says which client an address
counts as (every per-address limit keys on :func:`client_key`).
"""

from broker.services.ratelimit.addresses import client_key
from broker.services.ratelimit.limiter import Budget, RateLimiter, Throttled, Verdict, stored_key

__all__ = ["Budget", "RateLimiter", "Throttled", "Verdict", "client_key", "stored_key"]
