"""`FaceCast` (blocking) and `AsyncFaceCast` (asyncio): every resource's methods on one client object."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Optional

import httpx

from ._http import AsyncHTTP, Call, RetryPolicy, SyncHTTP, settings
from .resources import (AsyncCastings, AsyncCategories, AsyncEngines, AsyncJobs, AsyncTenants, AsyncUploads,
                        AsyncVirtualModels, AsyncWebhookEndpoints, Castings, Categories, Engines, Jobs, Tenants,
                        Uploads, VirtualModels, WebhookEndpoints)

__all__ = ["FaceCast", "AsyncFaceCast"]


class FaceCast(Jobs, Uploads, Castings, VirtualModels, Categories, Engines, WebhookEndpoints, Tenants):
    """The blocking client. `api_key` and `base_url` default to `$FACECAST_API_KEY` and `$FACECAST_URL`;
    `timeout` is per request in seconds; `retry` the `RetryPolicy`; `transport` an httpx transport (tests use
    `httpx.MockTransport`); `sleep` what waits between retries and polls. Use it as a context manager or `close()`.
    """

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *, timeout: float = 60.0,
                 retry: Optional[RetryPolicy] = None, transport: Optional[httpx.BaseTransport] = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.api_key, self.base_url = settings(api_key, base_url)
        self.retry = retry or RetryPolicy()
        self._http = SyncHTTP(self.api_key, self.base_url, timeout=timeout, retry=self.retry, transport=transport,
                              sleep=sleep)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "FaceCast":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call (`params=`, `json=`, `data=`, `files=`, `headers=`, `idempotency_key=`), with the
        client's retries; returns the decoded body (JSON, None for 204, else bytes)."""
        return self._http.call(Call(method.upper(), path, **kwargs))

    def fetch(self, url: str) -> bytes:
        """GET a presigned URL (a result or candidate image); the API key is never sent with it."""
        return self._http.presigned("GET", url)


class AsyncFaceCast(AsyncJobs, AsyncUploads, AsyncCastings, AsyncVirtualModels, AsyncCategories, AsyncEngines,
                    AsyncWebhookEndpoints, AsyncTenants):
    """The asyncio client: the same methods as `FaceCast`, as coroutines (list methods and `events` as async
    iterators); at most `max_concurrency` requests in flight. Use `async with` or `await aclose()`."""

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *, timeout: float = 60.0,
                 retry: Optional[RetryPolicy] = None, transport: Optional[httpx.AsyncBaseTransport] = None,
                 sleep: Callable[[float], Any] = asyncio.sleep, max_concurrency: int = 8):
        self.api_key, self.base_url = settings(api_key, base_url)
        self.retry = retry or RetryPolicy()
        self._http = AsyncHTTP(self.api_key, self.base_url, timeout=timeout, retry=self.retry, transport=transport,
                               sleep=sleep, max_concurrency=max_concurrency)

    async def aclose(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> "AsyncFaceCast":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call, with the client's retries; returns the decoded body."""
        return await self._http.call(Call(method.upper(), path, **kwargs))

    async def fetch(self, url: str) -> bytes:
        """GET a presigned URL; the API key is never sent with it."""
        return await self._http.presigned("GET", url)
