"""Per-tenant request rate limit (token bucket, per gateway process)."""
from __future__ import annotations

import time

from services.gateway.problems import RateLimited


class TokenBuckets:
    def __init__(self, default_rate: float, burst: int) -> None:
        self.default_rate = default_rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant → (tokens, last refill)

    def take(self, tenant_id: str, rate: float | None = None) -> None:
        rate = rate or self.default_rate
        capacity = max(float(self.burst), rate)
        now = time.monotonic()
        tokens, last = self._buckets.get(tenant_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[tenant_id] = (tokens, now)
            raise RateLimited(f"rate limit of {rate:g} requests/s exceeded", retry_after_s=(1.0 - tokens) / rate)
        self._buckets[tenant_id] = (tokens - 1.0, now)
