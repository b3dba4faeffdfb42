"""Per-tenant request rate limit (token bucket, per gateway process), and the limit on failed API-key
authentications per client address (so secrets cannot be guessed at request speed)."""
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


class FailedAuths:
    """Failed authentications per client address, as a token bucket: `burst` failures at once, then
    `per_minute`. An address with no tokens left gets 429 before its key is even looked at, right or wrong,
    so guessing costs time; successful requests take nothing."""

    MAX_ADDRESSES = 100_000

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, last refill)

    def _tokens(self, address: str, now: float) -> float:
        tokens, last = self._buckets.get(address, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def check(self, address: str) -> None:
        if address not in self._buckets:
            return
        tokens = self._tokens(address, time.monotonic())
        if tokens < 1.0:
            raise RateLimited(f"too many failed authentications from {address}; wait before trying again",
                              retry_after_s=(1.0 - tokens) / self.rate if self.rate else 3600.0)

    def failed(self, address: str) -> None:
        now = time.monotonic()
        if len(self._buckets) >= self.MAX_ADDRESSES:  # forget the addresses that have recovered fully
            self._buckets = {a: v for a, v in self._buckets.items() if self._tokens(a, now) < self.burst}
        self._buckets[address] = (max(0.0, self._tokens(address, now) - 1.0), now)
