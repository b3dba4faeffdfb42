"""Webhooks: signed deliveries from the outbox, retries, 410, Retry-After, rotation, redelivery, crash."""
from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from services.gateway.db.models import WebhookDelivery
from services.gateway.events import JobEventConsumer
from tests.gateway.conftest import png_bytes
from tests.gateway.receiver import Receiver, verify_standard_webhook

LOCAL = dict(allow_http_urls=True, netguard_allow_networks=["127.0.0.1/32"])


async def submit(api, stage: str = "invert") -> dict:
    response = await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": stage}]})},
                              files=[("image", ("p.png", png_bytes(), "image/png"))])
    assert response.status_code == 202, response.text
    return response.json()


async def wait_for(predicate, timeout_s: float = 15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (result := await predicate()):
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
    return result


async def deliveries(api, endpoint_id: str) -> list[dict]:
    response = await api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_receiver_failing_three_times_gets_exactly_one_accepted_signed_delivery(make_harness):
    from shared.telemetry import WEBHOOK_DELIVERIES

    def count(outcome: str) -> float:
        return WEBHOOK_DELIVERIES.labels(outcome)._value.get()

    before = {o: count(o) for o in ("success", "retry", "failed")}
    harness = await make_harness(**LOCAL)
    api = await harness.tenant()
    with Receiver(script=[(500, {}), (502, {}), (500, {})]) as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        assert endpoint["secret"].startswith("whsec_")
        job = await submit(api)
        done = await wait_for(lambda: _one_finished(api, endpoint["id"]))
        assert done["status"] == "succeeded" and done["attempts"] == 4
        assert [a["status_code"] for a in done["attempt_log"]] == [500, 502, 500, 200]
        accepted = receiver.accepted()
        assert len(accepted) == 1 and len(receiver.requests) == 4
        request = accepted[0]
        assert verify_standard_webhook(endpoint["secret"], request["headers"], request["body"])
        assert not verify_standard_webhook(endpoint["secret"], request["headers"], request["body"] + b" ")
        payload = json.loads(request["body"])
        assert payload["type"] == "job.succeeded" and payload["data"]["id"] == job["id"]
        assert payload["data"]["result"]["url"] and len(request["body"]) < 20_000
        assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # retries keep the message id
    assert {o: count(o) - before[o] for o in before} == {"success": 1, "retry": 3, "failed": 0}  # the alert's metric
    listed = (await api.get("/v1/webhook-endpoints")).json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and listed[0]["secret"] is None


async def _one_finished(api, endpoint_id):
    rows = await deliveries(api, endpoint_id)
    return rows[0] if rows and rows[0]["status"] != "pending" else None


async def test_failed_job_webhook_and_event_type_filter(make_harness):
    harness = await make_harness(**LOCAL)
    api = await harness.tenant()
    with Receiver() as receiver:
        failures_only = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url,
                                                                      "event_types": ["job.failed"]})).json()
        await submit(api, "invert")
        job = await submit(api, "boom")
        await wait_for(lambda: _one_finished(api, failures_only["id"]))
        await api.wait_job(job["id"])
        await asyncio.sleep(0.3)
        bodies = [json.loads(r["body"]) for r in receiver.accepted()]
        assert [b["type"] for b in bodies] == ["job.failed"]
        assert bodies[0]["data"]["id"] == job["id"] and "always fails" in bodies[0]["data"]["error"]["message"]


async def test_410_disables_the_endpoint(make_harness):
    harness = await make_harness(**LOCAL)
    api = await harness.tenant()
    with Receiver(default=410) as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        await submit(api)
        done = await wait_for(lambda: _one_finished(api, endpoint["id"]))
        assert done["status"] == "failed" and done["attempts"] == 1 and "410" in done["last_error"]
        current = (await api.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
        assert current["disabled"] and "410" in current["disabled_reason"]
        await submit(api)
        await asyncio.sleep(0.5)
        assert len(await deliveries(api, endpoint["id"])) == 1  # nothing more is queued for it
        assert len(receiver.requests) == 1


async def test_retry_after_is_honoured(make_harness):
    harness = await make_harness(**LOCAL)
    api = await harness.tenant()
    with Receiver(script=[(503, {"Retry-After": "120"})]) as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        await submit(api)
        pending = await wait_for(lambda: _attempted(api, endpoint["id"]))
        assert pending["status"] == "pending" and pending["last_status_code"] == 503
        attempted = _parse(pending["attempt_log"][0]["attempted_at"])
        assert (_parse(pending["next_attempt_at"]) - attempted).total_seconds() >= 120  # not the 0.2 s schedule
        assert len(receiver.requests) == 1


async def _attempted(api, endpoint_id):
    rows = await deliveries(api, endpoint_id)
    return rows[0] if rows and rows[0]["attempts"] >= 1 else None


def _parse(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_rotation_signs_with_both_secrets_and_redeliver_reuses_the_message_id(make_harness):
    harness = await make_harness(**LOCAL)
    api = await harness.tenant()
    with Receiver() as receiver:
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        rotated = (await api.post(f"/v1/webhook-endpoints/{endpoint['id']}:rotate-secret")).json()
        assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"]
        await submit(api)
        first = await wait_for(lambda: _one_finished(api, endpoint["id"]))
        request = receiver.accepted()[0]
        assert len(request["headers"]["webhook-signature"].split(" ")) == 2
        assert verify_standard_webhook(endpoint["secret"], request["headers"], request["body"])
        assert verify_standard_webhook(rotated["secret"], request["headers"], request["body"])
        again = await api.post(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{first['id']}:redeliver")
        assert again.status_code == 202, again.text
        await wait_for(lambda: _count_accepted(receiver, 2))
        assert receiver.accepted()[1]["headers"]["webhook-id"] == request["headers"]["webhook-id"]


async def _count_accepted(receiver, n):
    return len(receiver.accepted()) >= n


async def test_state_change_committed_before_a_crash_is_delivered_after_restart(make_harness, tmp_path):
    """A gateway applies a job's terminal event (the webhook row commits with it) and dies before its
    delivery loop runs; the next gateway on the same database delivers the webhook."""
    from services.gateway.db.session import migrate
    from services.gateway.embedded import build
    from services.gateway.domain.tenants import create_tenant
    from shared.events import JobEvent, JobEventKind, StepOutcome
    from shared.ids import utcnow
    from tests.gateway.conftest import Api, gateway_settings

    with Receiver() as receiver:
        app, crashed = build(gateway_settings(tmp_path, **LOCAL), stages=[])  # its loops never start
        await migrate(crashed.engine)
        tenant, token = await create_tenant(crashed.sessionmaker, "shop")
        api = Api(app, token, tenant.id)
        endpoint = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url})).json()
        job = await submit(api)
        event = JobEvent(job_id=job["id"], tenant_id=tenant.id, trace_id="t", kind=JobEventKind.completed,
                         stage="invert", step=1, sequence=2,
                         outcome=StepOutcome(number=1, stage="invert", outputs={}, report={}, started_at=utcnow(),
                                             finished_at=utcnow()))
        assert await JobEventConsumer(crashed).apply(event)
        async with crashed.sessionmaker() as session:
            rows = (await session.scalars(select(WebhookDelivery))).all()
        assert [(r.event_type, r.status) for r in rows] == [("job.succeeded", "pending")]
        await crashed.engine.dispose()
        assert receiver.requests == []

        restarted = await make_harness(stages=[], **LOCAL)
        await wait_for(lambda: _count_accepted(receiver, 1))
        request = receiver.accepted()[0]
        assert json.loads(request["body"])["data"]["id"] == job["id"]
        assert verify_standard_webhook(endpoint["secret"], request["headers"], request["body"])

        async def recorded_as_succeeded():
            # the receiver answers before the delivery loop commits what it got back
            async with restarted.gw.sessionmaker() as session:
                return (await session.get(WebhookDelivery, rows[0].id)).status == "succeeded"

        await wait_for(recorded_as_succeeded)


async def test_progress_webhooks_are_opt_in_and_throttled(make_harness):
    harness = await make_harness(webhook_progress_interval_s=3600, **LOCAL)
    api = await harness.tenant()
    steps = {"steps": [{"stage": "invert"}, {"stage": "invert2"}, {"stage": "invert"}]}
    with Receiver() as receiver:
        progress = (await api.post("/v1/webhook-endpoints", json={"url": receiver.url,
                                                                 "event_types": ["job.progress", "job.succeeded"]})
                    ).json()
        response = await api.post("/v1/jobs", data={"options": json.dumps(steps)},
                                  files=[("image", ("p.png", png_bytes(), "image/png"))])
        await api.wait_job(response.json()["id"])
        await wait_for(lambda: _count_accepted(receiver, 2))
        await asyncio.sleep(0.3)
        types = [json.loads(r["body"])["type"] for r in receiver.accepted()]
        assert types == ["job.progress", "job.succeeded"]  # steps 1 and 2 finished; the second was throttled
        assert (await api.get(f"/v1/webhook-endpoints/{progress['id']}")).json()["event_types"] == [
            "job.progress", "job.succeeded"]
