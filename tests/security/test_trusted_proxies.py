"""Review of issue 14: the failed-authentication limiter keys on the client address, so X-Forwarded-For is
believed only from `FACECAST_TRUSTED_PROXIES` (default: none), not from 127.0.0.1 as uvicorn does by default;
`facecast serve` and `facecast gateway` pass the setting to uvicorn."""
from __future__ import annotations

import httpx
import uvicorn

from services.gateway.embedded import server_config
from services.gateway.proxies import uvicorn_proxy_options
from shared.settings import Settings

WRONG = {"Authorization": "Bearer fck_0123456789abcdef_" + "0" * 64}


async def failed_auths(harness, settings: Settings, count: int) -> list[int]:
    """`count` wrong keys from a peer on 127.0.0.1 (a local process, or a proxy), each claiming another
    client address in X-Forwarded-For, through uvicorn's app wrapping as the server runs it."""
    config = uvicorn.Config(harness.app, **uvicorn_proxy_options(settings))
    config.load()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=config.loaded_app, client=("127.0.0.1", 5555)),
                                 base_url="http://testserver") as client:
        return [(await client.get("/v1/jobs", headers={**WRONG, "X-Forwarded-For": f"203.0.113.{i}"})).status_code
                for i in range(count)]


async def test_by_default_x_forwarded_for_does_not_dodge_the_failed_auth_limit(make_harness):
    harness = await make_harness(auth_failure_burst=3, auth_failures_per_min=0.01)
    answers = await failed_auths(harness, harness.settings, 6)
    assert answers[:3] == [401, 401, 401] and set(answers[3:]) == {429}, answers


async def test_a_trusted_proxy_reports_each_client(make_harness):
    harness = await make_harness(auth_failure_burst=3, auth_failures_per_min=0.01, trusted_proxies="127.0.0.1")
    assert set(await failed_auths(harness, harness.settings, 6)) == {401}  # six clients, one failure each


def test_serve_and_gateway_pass_the_setting_to_uvicorn(tmp_path, monkeypatch):
    default = server_config(object(), Settings(data_dir=tmp_path))
    assert default.proxy_headers is False
    configured = server_config(object(), Settings(data_dir=tmp_path, trusted_proxies="10.0.0.5, 10.1.0.0/16"))
    assert configured.proxy_headers is True and configured.forwarded_allow_ips == "10.0.0.5,10.1.0.0/16"

    from services.cli import main

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("FACECAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACECAST_TRUSTED_PROXIES", "10.0.0.5")
    assert main(["gateway"]) == 0
    assert calls[-1]["proxy_headers"] is True and calls[-1]["forwarded_allow_ips"] == "10.0.0.5"
    monkeypatch.delenv("FACECAST_TRUSTED_PROXIES")
    assert main(["gateway", "--workers", "2"]) == 0
    assert calls[-1]["proxy_headers"] is False and calls[-1]["forwarded_allow_ips"] == ""
