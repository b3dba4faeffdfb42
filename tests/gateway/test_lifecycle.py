"""Idempotency keys, cursor pagination, SSE progress, cancel, delete and the retention sweep."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from services.gateway.db.models import Job
from shared.ids import utcnow
from tests.gateway.conftest import png_bytes

INVERT = {"options": json.dumps({"steps": [{"stage": "invert"}]})}


def photo(seed: int = 0):
    return [("image", ("p.png", png_bytes(seed=seed), "image/png"))]


async def test_idempotency_key_returns_the_same_job_and_refuses_another_body(api):
    headers = {"Idempotency-Key": "order-17-photo-1"}
    first = await api.post("/v1/jobs", data=INVERT, files=photo(1), headers=headers)
    again = await api.post("/v1/jobs", data=INVERT, files=photo(1), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other_body = await api.post("/v1/jobs", data=INVERT, files=photo(2), headers=headers)
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency-key-reused"
    other_key = await api.post("/v1/jobs", data=INVERT, files=photo(1), headers={"Idempotency-Key": "another"})
    assert other_key.json()["id"] != first.json()["id"]
    assert len((await api.get("/v1/jobs")).json()["data"]) == 2


async def test_idempotency_keys_are_per_tenant(harness, api):
    other = await harness.tenant("other")
    headers = {"Idempotency-Key": "same-key"}
    mine = await api.post("/v1/jobs", data=INVERT, files=photo(1), headers=headers)
    theirs = await other.post("/v1/jobs", data=INVERT, files=photo(1), headers=headers)
    assert mine.status_code == theirs.status_code == 202 and mine.json()["id"] != theirs.json()["id"]


async def test_cursor_pagination_and_filters(api):
    ids = []
    for seed in range(5):
        ids.append((await api.post("/v1/jobs", data=INVERT, files=photo(seed))).json()["id"])
    failing = (await api.post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "boom"}]})},
                              files=photo())).json()["id"]
    for job_id in [*ids, failing]:
        await api.wait_job(job_id)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "status": "succeeded", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/jobs", params=params)).json()
        seen += [j["id"] for j in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)) and pages == 3
    failed = (await api.get("/v1/jobs", params={"status": "failed"})).json()["data"]
    assert [j["id"] for j in failed] == [failing]
    later = (await api.get("/v1/jobs", params={"created_after": (utcnow() + timedelta(hours=1)).isoformat()})).json()
    assert later["data"] == []
    bad = await api.get("/v1/jobs", params={"limit": 1000})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_sse_streams_progress_per_step_until_the_end(api):
    options = {"options": json.dumps({"steps": [{"stage": "invert", "params": {"sleep_s": 0.2}},
                                                {"stage": "invert2"}]})}
    job = (await api.post("/v1/jobs", data=options, files=photo())).json()
    response = await api.get(f"/v1/jobs/{job['id']}/events")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [(kind, data.get("step"), data.get("status")) for kind, data in events]
    assert kinds == [("progress", 1, "running"), ("progress", 1, "succeeded"), ("progress", 2, "running"),
                     ("completed", 2, "succeeded"), ("end", None, "succeeded")]
    sequences = [data["sequence"] for kind, data in events if kind != "end"]
    assert sequences == sorted(sequences)
    replay = await api.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "2"})
    assert [k for k, _ in parse_sse(replay.text)][-2:] == ["completed", "end"]


async def test_cancel_stops_the_job_and_late_events_do_not_revive_it(harness, api):
    options = {"options": json.dumps({"steps": [{"stage": "invert", "params": {"sleep_s": 0.5}},
                                                {"stage": "invert2"}]})}
    job = (await api.post("/v1/jobs", data=options, files=photo())).json()
    canceled = await api.post(f"/v1/jobs/{job['id']}:cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert (await api.post(f"/v1/jobs/{job['id']}:cancel")).status_code == 409
    from shared.events import JOB_EVENTS_TOPIC, JobEvent

    def step_one_reported() -> bool:  # the first step finishes and reports after the cancel
        events = [JobEvent.model_validate_json(d.value) for d in harness.gw.bus.messages(JOB_EVENTS_TOPIC)]
        return any(e.job_id == job["id"] and e.sequence == 2 for e in events)

    def outputs() -> list[str]:
        keys = harness.gw.store.list_keys(f"tenants/{api.tenant_id}/jobs/{job['id']}/")
        return [k for k in keys if k.endswith(".png")]

    for _ in range(400):
        if step_one_reported() and not outputs():
            break
        await asyncio.sleep(0.05)
    assert step_one_reported() and not outputs()  # what the step wrote before or after the cancel was removed
    marker = f"tenants/{api.tenant_id}/jobs/{job['id']}/canceled"
    assert harness.gw.store.exists(marker)  # kept, so the stages skip the job's remaining steps
    current = (await api.get(f"/v1/jobs/{job['id']}")).json()
    assert current["status"] == "canceled" and current["error"]["code"] == "canceled"
    assert all(step["status"] == "canceled" for step in current["steps"])


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """The embedded default (None: SQLite under the data folder) and a fresh database on the machine's
    PostgreSQL."""
    if request.param == "sqlite":
        yield None
        return
    from tests.integration.servers import PostgresDatabase

    database = PostgresDatabase().start()
    try:
        yield database.url
    finally:
        database.stop()


async def test_a_cancel_waits_for_a_job_event_being_applied_and_sees_its_outcome(database_url, make_harness):
    """The event consumer's transaction (read the job for update, then write it) and a cancel interleave:
    the cancel waits and then sees the job finished. Before, SQLite let it cancel in between and the event
    overwrite the cancel (a lost update), and on PostgreSQL it could overwrite a finished job."""
    overrides = {"database_url": database_url} if database_url else {}  # (the database outlives the gateway)
    harness = await make_harness(stages=[], **overrides)  # nothing runs the job: only this test writes it
    api = await harness.tenant("shop")
    job = (await api.post("/v1/jobs", data=INVERT, files=photo())).json()
    async with harness.gw.sessionmaker() as session, session.begin():
        row = await session.get(Job, job["id"], with_for_update=True)
        assert row.status == "queued"
        cancel = asyncio.create_task(api.post(f"/v1/jobs/{job['id']}:cancel"))
        await asyncio.sleep(0.3)  # room for the cancel to run now, were it not held back
        row.status = "succeeded"
    answer = await cancel
    assert answer.status_code == 409 and answer.json()["details"]["status"] == "succeeded", answer.text
    assert (await api.get(f"/v1/jobs/{job['id']}")).json()["status"] == "succeeded"


async def test_a_job_canceled_after_its_first_step_finished_keeps_no_images(harness, api):
    """The cancel removes what the job wrote so far: later steps are skipped and send no event to purge on."""
    options = {"options": json.dumps({"steps": [{"stage": "invert"}, {"stage": "invert2", "params": {
        "sleep_s": 5.0}}]})}
    job = (await api.post("/v1/jobs", data=options, files=photo())).json()
    prefix = f"tenants/{api.tenant_id}/jobs/{job['id']}/"
    for _ in range(400):
        if harness.gw.store.exists(prefix + "1-invert.png"):
            break
        await asyncio.sleep(0.02)
    assert (await api.post(f"/v1/jobs/{job['id']}:cancel")).status_code == 200
    assert harness.gw.store.list_keys(prefix) == [prefix + "canceled"]


async def test_delete_removes_the_objects_now(harness, api):
    job = await api.wait_job((await api.post("/v1/jobs", data=INVERT, files=photo())).json()["id"])
    prefix = f"tenants/{api.tenant_id}/jobs/{job['id']}/"
    assert harness.gw.store.list_keys(prefix)
    assert (await api.delete(f"/v1/jobs/{job['id']}")).status_code == 204
    assert harness.gw.store.list_keys(prefix) == []
    assert (await api.get(f"/v1/jobs/{job['id']}")).status_code == 404
    assert (await api.get(job["result"]["url"].replace("http://127.0.0.1:8000", ""))).status_code == 404


async def test_retention_sweep_deletes_old_images_per_tenant_period(harness, api):
    short = await harness.tenant("short")
    assert (await short.patch("/v1/tenant", json={"retention_days": 1})).json()["retention_days"] == 1
    kept = await api.wait_job((await api.post("/v1/jobs", data=INVERT, files=photo())).json()["id"])
    swept = await short.wait_job((await short.post("/v1/jobs", data=INVERT, files=photo())).json()["id"])
    upload = (await short.post("/v1/uploads", json={"content_type": "image/png"})).json()
    await short.put(upload["url"].replace("http://127.0.0.1:8000", ""), content=png_bytes(), headers=upload["headers"])
    counts = await harness.gw.sweeper.sweep_once(now=utcnow() + timedelta(days=2))
    assert counts["jobs"] == 1 and counts["uploads"] == 1
    assert harness.gw.store.list_keys(f"tenants/{short.tenant_id}/") == []
    gone = (await short.get(f"/v1/jobs/{swept['id']}")).json()
    assert gone["purged"] and gone["result"]["url"] is None and gone["status"] == "succeeded"
    still = (await api.get(f"/v1/jobs/{kept['id']}")).json()
    assert not still["purged"] and (await api.get(still["result"]["url"].replace("http://127.0.0.1:8000", ""))
                                    ).status_code == 200
    counts = await harness.gw.sweeper.sweep_once(now=utcnow() + timedelta(days=8))
    assert counts["jobs"] == 1 and harness.gw.store.list_keys(f"tenants/{api.tenant_id}/jobs/") == []
