"""Schemathesis against the live OpenAPI of a running gateway: no generated request gets a 5xx,
and every error is problem+json."""
from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from services.gateway.embedded import build
from services.gateway.domain.tenants import create_tenant
from tests.gateway.conftest import TEST_STAGES, gateway_settings


class LiveGateway:
    """The embedded gateway served by uvicorn on a free loopback port, in a thread with its own loop."""

    def __init__(self, data_dir) -> None:
        self.app, self.gw = build(gateway_settings(data_dir, rate_limit_per_s=100_000), stages=list(TEST_STAGES))
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True)

    def start(self) -> "LiveGateway":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the gateway did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        _, self.token = asyncio.run_coroutine_threadsafe(create_tenant(self.gw.sessionmaker, "fuzz"),
                                                         self.loop).result(30)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory):
    live = LiveGateway(tmp_path_factory.mktemp("fuzz")).start()
    yield live
    live.stop()


def served_document() -> dict:
    """The OpenAPI document exactly as the gateway serves it (built without starting anything)."""
    from shared.settings import Settings

    app, _ = build(Settings(extra_stages=TEST_STAGES), stages=[])
    return app.openapi()


schema = schemathesis.openapi.from_dict(served_document())


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error(case, live_gateway):
    response = case.call(base_url=live_gateway.url, headers={"Authorization": f"Bearer {live_gateway.token}"},
                         timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/problem+json"], response.text[:300]
        assert response.json()["type"].startswith("https://facecast.dev/problems/")


def test_openapi_and_docs_are_served(live_gateway):
    document = httpx.get(f"{live_gateway.url}/openapi.json").json()
    assert document == served_document()
    assert document["openapi"].startswith("3.1") and "/v1/jobs" in document["paths"]
    assert "JobCreate" in document["components"]["schemas"]
    assert httpx.get(f"{live_gateway.url}/docs").status_code == 200
    response = httpx.get(f"{live_gateway.url}/v1/jobs", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 401 and response.headers["x-request-id"] == "req-123"
    assert response.json()["request_id"] == "req-123"
