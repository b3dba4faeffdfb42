"""Embedded gateway for the tests: in-process bus, local store and SQLite under tmp_path, and the
backbone's test stages (invert, invert2, boom) as the only workers."""
from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from services.gateway.embedded import build
from services.gateway.domain.tenants import create_tenant
from shared.settings import Settings

TEST_STAGES = {"invert": "tests.backbone.stages:INVERT", "invert2": "tests.backbone.stages:INVERT_AGAIN",
               "boom": "tests.backbone.stages:BOOM"}


def png_bytes(width: int = 32, height: int = 24, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def gateway_settings(tmp_path, **overrides) -> Settings:
    values = dict(data_dir=tmp_path, extra_stages=TEST_STAGES, max_attempts=2, retry_backoff_s=0.01,
                  outbox_poll_s=0.05, rate_limit_per_s=10_000, rate_limit_burst=10_000,
                  webhook_retry_schedule_s=[0, 0.2, 0.2, 0.2, 0.2], sweep_interval_s=3600,
                  model_dir=tmp_path / "models", internal_step_timeout_s=600)  # a shared CI machine may be slow
    values.update(overrides)
    return Settings(**values)


class Api:
    """An httpx client on the app, authenticated as one tenant."""

    def __init__(self, app, token: str, tenant_id: str) -> None:
        self.token = token
        self.tenant_id = tenant_id
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                        headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def __getattr__(self, name):
        return getattr(self.client, name)

    async def wait_job(self, job_id: str, timeout_s: float = 20.0) -> dict:
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            job = (await self.client.get(f"/v1/jobs/{job_id}")).json()
            if job.get("status") in ("succeeded", "failed", "canceled"):
                return job
            if loop.time() > deadline:
                raise AssertionError(f"job {job_id} still {job.get('status')} after {timeout_s} s")
            await asyncio.sleep(0.05)


class Harness:
    def __init__(self, settings: Settings, stages: list[str]) -> None:
        self.settings = settings
        self.app, self.gw = build(settings, stages=stages)

    async def tenant(self, name: str = "shop", scopes: list[str] | None = None, **limits) -> Api:
        tenant, token = await create_tenant(self.gw.sessionmaker, name, scopes=scopes, **limits)
        return Api(self.app, token, tenant.id)

    def anonymous(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")


@pytest.fixture
async def make_harness(tmp_path):
    """`await make_harness(**settings overrides)` → a started gateway; stopped at the end of the test."""
    contexts = []

    async def start(stages: list[str] | None = None, **overrides) -> Harness:
        harness = Harness(gateway_settings(tmp_path, **overrides), list(TEST_STAGES) if stages is None else stages)
        context = harness.app.router.lifespan_context(harness.app)
        await context.__aenter__()
        contexts.append(context)
        return harness

    yield start
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


@pytest.fixture
async def harness(make_harness) -> Harness:
    return await make_harness()


@pytest.fixture
async def api(harness) -> Api:
    return await harness.tenant("shop-a")
