"""The transport under both clients: one API call with its retries, idempotency key and error mapping.

* Retries: 408, 425, 429, 500, 502, 503, 504 and connection errors, with exponential backoff and full
  jitter (`RetryPolicy`); a `Retry-After` header (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) wins.
* Idempotency: every POST and PATCH carries an `Idempotency-Key` (the caller's, or a UUID4 made once per
  call), and every retry of the call repeats it, so a retried submission never makes a second resource.
  Multipart bodies get a boundary derived from that key, so a retry sends the same bytes.
* Presigned object-store URLs are fetched with a second client that never sends the API key.
"""
from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

import httpx

from ._errors import raise_for_response
from ._version import __version__

__all__ = ["RetryPolicy", "parse_retry_after", "RETRY_STATUSES", "DEFAULT_URL", "USER_AGENT", "SyncHTTP",
           "AsyncHTTP", "Call"]

DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = f"facecast-python/{__version__}"
RETRY_STATUSES: FrozenSet[int] = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` from the server wins when it is given.

    Retry number `a` (1-based) waits a uniform draw from [cap/2, cap] seconds, cap = min(`backoff_max_s`,
    `backoff_base_s` · 2^(a−1)) (exactly cap with `jitter=False`); a `Retry-After` wait is capped at
    `retry_after_max_s`. After `max_retries` retries the last response (or connection error) is returned.
    """
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0
    statuses: FrozenSet[int] = RETRY_STATUSES
    jitter: bool = True

    def delay(self, attempt: int, response: Optional[httpx.Response] = None, *, now: Optional[float] = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"), now=now)
            if after is not None:
                return min(after, self.retry_after_max_s)
        cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap) if self.jitter else cap

    def should_retry(self, attempt: int, response: Optional[httpx.Response], error: Optional[Exception]) -> bool:
        if attempt > self.max_retries:
            return False
        if error is not None:
            return isinstance(error, httpx.TransportError)
        return response is not None and response.status_code in self.statuses


def parse_retry_after(value: Optional[str], *, now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` as seconds to wait (≥ 0): delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None when
    absent or unreadable. `now` (Unix seconds) defaults to the clock."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass
class Call:
    """One API call: it builds the same request (same idempotency key, same multipart bytes) on every retry."""
    method: str
    path: str
    params: Optional[Dict[str, Any]] = None
    json: Any = None
    data: Optional[Dict[str, Any]] = None
    files: Optional[List[Tuple[str, Tuple[str, bytes, str]]]] = None
    headers: Dict[str, str] = field(default_factory=dict)
    idempotency_key: Optional[str] = None

    def build(self, client: Any) -> httpx.Request:
        headers = dict(self.headers)
        if self.method in ("POST", "PATCH") and self.idempotency_key is None:
            self.idempotency_key = str(uuid.uuid4())
        if self.idempotency_key:
            headers["Idempotency-Key"] = self.idempotency_key
        if self.files:
            # a deterministic boundary so the same photo gives the same body on every retry and re-run
            boundary = hashlib.sha256((self.idempotency_key or "").encode()).hexdigest()[:32]
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return client.build_request(self.method, self.path, params=self.params, json=self.json, data=self.data,
                                    files=self.files, headers=headers)


def decode(response: httpx.Response) -> Any:
    """The body of a successful response: parsed JSON, None for 204/empty, else the bytes."""
    if response.status_code == 204 or not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    return response.content


def api_headers(api_key: Optional[str]) -> Dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def settings(api_key: Optional[str], base_url: Optional[str]) -> Tuple[Optional[str], str]:
    """The API key and base URL, defaulting to `$FACECAST_API_KEY` and `$FACECAST_URL` (then 127.0.0.1:8000)."""
    return (api_key or os.environ.get("FACECAST_API_KEY"),
            (base_url or os.environ.get("FACECAST_URL") or DEFAULT_URL).rstrip("/"))


class SyncHTTP:
    """Blocking transport: `api` (base URL, API key) and `bare` (presigned URLs, no key) httpx clients."""

    def __init__(self, api_key: Optional[str], base_url: str, *, timeout: float, retry: RetryPolicy,
                 transport: Optional[httpx.BaseTransport], sleep: Callable[[float], None]):
        self.retry = retry
        self.sleep = sleep
        self.api = httpx.Client(base_url=base_url, headers=api_headers(api_key), timeout=timeout,
                                transport=transport, follow_redirects=False)
        # presigned URLs carry their own credentials: never send the API key with them
        self.bare = httpx.Client(timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.api.close()
        self.bare.close()

    def send(self, build: Callable[[], httpx.Request], client: httpx.Client) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            request = build()
            response, error = None, None
            try:
                response = client.send(request)
            except httpx.TransportError as exc:
                error = exc
            if not self.retry.should_retry(attempt, response, error):
                if error is not None:
                    raise error
                return response
            delay = self.retry.delay(attempt, response)
            if response is not None:
                response.close()
            self.sleep(delay)

    def call(self, call: Call) -> Any:
        response = self.send(lambda: call.build(self.api), self.api)
        raise_for_response(response)
        return decode(response)

    def presigned(self, method: str, url: str, *, content: Optional[bytes] = None,
                  headers: Optional[Dict[str, str]] = None) -> bytes:
        """A GET or PUT on a presigned URL (retried like API calls); returns the body."""
        response = self.send(lambda: self.bare.build_request(method, url, content=content, headers=headers),
                             self.bare)
        raise_for_response(response)
        return response.content

    @contextlib.contextmanager
    def stream_lines(self, path: str, headers: Dict[str, str]) -> Iterator[Iterator[str]]:
        """The decoded lines of a streamed GET (no read timeout: SSE streams last as long as the job)."""
        with self.api.stream("GET", path, headers=headers, timeout=httpx.Timeout(None, connect=30.0)) as response:
            if not response.is_success:
                response.read()
                raise_for_response(response)
            yield response.iter_lines()


class AsyncHTTP:
    """The asyncio transport: as `SyncHTTP`, with at most `max_concurrency` requests in flight."""

    def __init__(self, api_key: Optional[str], base_url: str, *, timeout: float, retry: RetryPolicy,
                 transport: Optional[httpx.AsyncBaseTransport], sleep: Callable[[float], Any], max_concurrency: int):
        self.retry = retry
        self.sleep = sleep
        self.max_concurrency = max_concurrency
        self._limit: Optional[asyncio.Semaphore] = None  # made in the running loop (Python 3.9 binds it at creation)
        self.api = httpx.AsyncClient(base_url=base_url, headers=api_headers(api_key), timeout=timeout,
                                     transport=transport, follow_redirects=False)
        self.bare = httpx.AsyncClient(timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT})

    async def close(self) -> None:
        await self.api.aclose()
        await self.bare.aclose()

    async def send(self, build: Callable[[], httpx.Request], client: httpx.AsyncClient) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            request = build()
            response, error = None, None
            try:
                if self._limit is None:
                    self._limit = asyncio.Semaphore(self.max_concurrency)
                async with self._limit:
                    response = await client.send(request)
            except httpx.TransportError as exc:
                error = exc
            if not self.retry.should_retry(attempt, response, error):
                if error is not None:
                    raise error
                return response
            delay = self.retry.delay(attempt, response)
            if response is not None:
                await response.aclose()
            await self.sleep(delay)

    async def call(self, call: Call) -> Any:
        response = await self.send(lambda: call.build(self.api), self.api)
        raise_for_response(response)
        return decode(response)

    async def presigned(self, method: str, url: str, *, content: Optional[bytes] = None,
                        headers: Optional[Dict[str, str]] = None) -> bytes:
        response = await self.send(lambda: self.bare.build_request(method, url, content=content, headers=headers),
                                   self.bare)
        raise_for_response(response)
        return response.content

    @contextlib.asynccontextmanager
    async def stream_lines(self, path: str, headers: Dict[str, str]) -> AsyncIterator[AsyncIterator[str]]:
        async with self.api.stream("GET", path, headers=headers,
                                   timeout=httpx.Timeout(None, connect=30.0)) as response:
            if not response.is_success:
                await response.aread()
                raise_for_response(response)
            yield response.aiter_lines()
