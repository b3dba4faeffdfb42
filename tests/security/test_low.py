"""Issue 14 item 8 (the gateway's part): odd object keys answer 404, failures the user caused are logged at
INFO, failed API-key authentications are limited per client address, and a webhook's retry delay counts
from the end of the attempt."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.parse

import httpx
from sqlalchemy import select

from services.gateway.db.models import WebhookAttempt, WebhookDelivery
from tests.security.conftest import INVERT, photo


def signed(store, method: str, key: str) -> str:
    """A URL with a valid signature by the store's own key, for any key (the gateway must still cope)."""
    expires = int(time.time()) + 600
    msg = f"{method}\n{key}\n{expires}\n".encode()
    signature = hmac.new(store.signing_keys.ring().current.secret, msg, hashlib.sha256).hexdigest()
    return f"/v1/objects/{urllib.parse.quote(key)}?expires={expires}&signature={signature}"


async def test_signed_keys_with_nul_or_naming_a_folder_answer_404(api, harness):
    job = (await api.post("/v1/jobs", data=INVERT, files=photo())).json()
    await api.wait_job(job["id"])
    anonymous = harness.anonymous()
    for key in (f"tenants/{api.tenant_id}/jobs/{job['id']}", f"tenants/{api.tenant_id}/jobs",
                f"tenants/{api.tenant_id}/a\x00b.png", f"tenants/{api.tenant_id}/jobs/{job['id']}/",
                f"tenants/{api.tenant_id}/./x.png"):
        answer = await anonymous.get(signed(harness.gw.store, "GET", key))
        assert answer.status_code == 404, (key, answer.status_code, answer.text)
        assert answer.json()["code"] == "not-found"


async def test_failures_the_user_caused_are_logged_at_info(api, caplog):
    from tests.data import bad_input

    caplog.set_level(logging.INFO, logger="facecast.runtime")
    truncated = (await api.post("/v1/jobs", data=INVERT, files=[("image", ("t.jpg", bad_input("truncated.jpg"),
                                                                             "image/jpeg"))])).json()
    broken = (await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "boom"}]})},
                             files=photo())).json()
    assert (await api.wait_job(truncated["id"]))["status"] == "failed"
    assert (await api.wait_job(broken["id"]))["status"] == "failed"
    levels = {_job_of(r): r.levelno for r in caplog.records
              if r.name == "facecast.runtime" and r.getMessage().startswith("job failed")}
    assert levels[truncated["id"]] == logging.INFO
    assert levels[broken["id"]] == logging.ERROR


def _job_of(record) -> str | None:
    fields = getattr(record, "fields", None) or {}
    return fields.get("job_id")


async def test_failed_authentications_are_limited_per_client_address(harness, api):
    def client(address: str, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.app, client=(address, 4000)),
                                 base_url="http://testserver", headers={"Authorization": f"Bearer {token}"})

    burst = harness.settings.auth_failure_burst
    wrong = api.token[:-8] + "00000000"
    guesser = client("203.0.113.7", wrong)
    statuses = [(await guesser.get("/v1/jobs")).status_code for _ in range(burst + 5)]
    assert statuses[:burst] == [401] * burst and statuses[burst:] == [429] * 5
    blocked = await client("203.0.113.7", api.token).get("/v1/jobs")  # even the right key, from there
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert (await client("198.51.100.2", api.token).get("/v1/jobs")).status_code == 200  # others are not


async def test_the_retry_delay_counts_from_the_end_of_an_attempt(make_harness):
    harness = await make_harness(allow_http_urls=True, netguard_allow_networks=["127.0.0.1/32"],
                                 webhook_retry_schedule_s=[0, 0.4, 0.4])
    api = await harness.tenant()
    endpoint = (await api.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook"})).json()

    async def slow_failure(url, body, headers, timeout_s):
        await asyncio.sleep(0.6)  # like a receiver that times out
        return 500, {}, b""

    harness.gw.http.post = slow_failure
    job = (await api.post("/v1/jobs", data=INVERT, files=photo())).json()
    await api.wait_job(job["id"])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        async with harness.gw.reader() as session:
            delivery = await session.scalar(select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint["id"]))
            attempts = (await session.scalars(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id == delivery.id))).all() if delivery else []
        if attempts and delivery.status == "pending":
            break
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    first = attempts[0]
    gap = (delivery.next_attempt_at - first.attempted_at).total_seconds()
    assert gap >= 0.6 + 0.4 - 0.05, gap
