"""Stage workers as real processes (`facecast worker …`) on Kafka (Tansu) + S3 (JuiceFS gateway).

The test publishes a StageRequest as the gateway would, and reads `facecast.job-events` and the DLQ
as the gateway and an operator would. This module has its own broker, so the committed offsets and
leftover events of other tests cannot reach these workers.
"""
from __future__ import annotations

import asyncio
import time
import urllib.request

import numpy as np
import pytest

from shared.bus.kafka import KafkaBus
from shared.events import JOB_EVENTS_TOPIC, JobEvent, JobEventKind, StageRequest, Step, StepOutcome, dlq_topic, \
    requests_topic
from shared.ids import random_hex
from shared.images import decode_image, encode_image
from shared.store import job_object_key, sha256_hex
from shared.store.s3 import S3Store
from tests.integration import servers

pytestmark = pytest.mark.integration
TENANT = "shop-it"
SESSION_MS = 2000
INVERT = "tests.backbone.stages:INVERT"
INVERT2 = "tests.backbone.stages:INVERT_AGAIN"
BOOM = "tests.backbone.stages:BOOM"


@pytest.fixture(scope="module")
def broker():
    b = servers.TansuBroker().start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def bucket():
    return f"pipeline-{random_hex(8)}"


@pytest.fixture
def env(facecast_env, broker, s3_server, bucket, tmp_path):
    base = facecast_env(bucket=bucket)
    base.update(servers.server_env(broker, s3_server, bucket, tmp_path / "data", session_timeout_ms=SESSION_MS))
    base.update({"FACECAST_MAX_ATTEMPTS": "3", "FACECAST_RETRY_BACKOFF_S": "0.05", "FACECAST_KAFKA_FETCH_MAX_WAIT_MS": "10"})
    return base


@pytest.fixture
def store(s3_server, bucket):
    return S3Store.connect(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket)


class Client:
    """What the gateway does: publish the first request, fold `facecast.job-events`."""

    def __init__(self, broker, store: S3Store):
        self.bus = KafkaBus(broker.bootstrap, session_timeout_ms=SESSION_MS)
        self.store = store
        self.events: list[JobEvent] = []
        self.pixels = np.random.default_rng(11).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)

    async def start(self):
        await self.bus.start()
        self.consumer = await self.bus.subscribe([JOB_EVENTS_TOPIC], f"test-reader-{random_hex(8)}")

    def request(self, steps: list[tuple[str, dict]]) -> StageRequest:
        job_id = random_hex(32)
        image = self.store.put(job_object_key(TENANT, job_id, 0, "upload", "png"), encode_image(self.pixels),
                               "image/png")
        return StageRequest(job_id=job_id, tenant_id=TENANT, image=image,
                            steps=[Step(number=i + 1, stage=s, params=p) for i, (s, p) in enumerate(steps)])

    async def publish(self, request: StageRequest) -> None:
        await self.bus.publish(requests_topic(request.current.stage), request.model_dump_json().encode(),
                               key=request.job_id)

    async def poll(self, timeout_ms: int = 200) -> None:
        for d in await self.consumer.getmany(max_records=500, timeout_ms=timeout_ms):
            self.events.append(JobEvent.model_validate_json(d.value))

    def of(self, job_id: str) -> list[JobEvent]:
        return [e for e in self.events if e.job_id == job_id]

    async def wait(self, predicate, what: str, timeout_s: float = 60.0, workers=()):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await self.poll()
            if result := predicate():
                return result
            for w in workers:
                assert w.proc.poll() is None, f"worker {w.args} exited with {w.proc.returncode}:\n{w.log()[-3000:]}"
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; events: "
                             f"{[(e.job_id[:6], e.kind.value, e.stage, e.sequence) for e in self.events]}")

    async def final(self, job_id: str, **kw) -> JobEvent:
        def done():
            finals = [e for e in self.of(job_id) if e.kind != JobEventKind.progress]
            return finals[0] if finals else None
        return await self.wait(done, f"job {job_id} to finish", **kw)

    async def stop(self):
        await self.bus.stop()


@pytest.fixture
async def client(broker, store):
    c = Client(broker, store)
    await c.start()
    yield c
    await c.stop()


def job_keys(store: S3Store, job_id: str) -> list[str]:
    prefix = f"tenants/{TENANT}/jobs/{job_id}/"
    return [k[len(prefix):] for k in store.list_keys(prefix)]


def outcome(store: S3Store, job_id: str, step: int, stage: str) -> StepOutcome:
    return StepOutcome.model_validate_json(store.get_bytes(job_object_key(TENANT, job_id, step, stage, "outcome.json")))


async def wait_ready(port: int, worker, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"worker exited:\n{worker.log()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"worker on port {port} never became ready:\n{worker.log()[-3000:]}")


async def test_two_stage_job_completes_on_kafka_and_s3(client, store, env, spawn_facecast):
    port = servers.free_port()
    first = spawn_facecast("worker", INVERT, env={**env, "FACECAST_WORKER_PORT": str(port)})
    second = spawn_facecast("worker", INVERT2, env=env)
    await wait_ready(port, first)
    request = client.request([("invert", {}), ("invert2", {})])
    await client.publish(request)
    final = await client.final(request.job_id, workers=(first, second))
    assert final.kind == JobEventKind.completed, final.error
    assert [(e.stage, e.sequence) for e in client.of(request.job_id)] == [
        ("invert", 1), ("invert", 2), ("invert2", 3), ("invert2", 4)]
    result = final.outcome.outputs["image"]
    data = store.get_bytes(result.key)
    assert sha256_hex(data) == result.sha256
    assert np.array_equal(decode_image(data).pixels, client.pixels)
    assert job_keys(store, request.job_id) == ["0-upload.png", "1-invert.outcome.json", "1-invert.png",
                                               "2-invert2.outcome.json", "2-invert2.png"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'facecast_events_consumed_total{stage="invert"} 1.0' in metrics
    assert first.terminate() == 0 and second.terminate() == 0  # SIGTERM: a clean stop


async def test_a_worker_killed_mid_event_is_replaced_and_the_job_finishes_once(client, store, env, spawn_facecast):
    doomed = spawn_facecast("worker", INVERT, env=env)
    finisher = spawn_facecast("worker", INVERT2, env=env)
    request = client.request([("invert", {"sleep_s": 5.0}), ("invert2", {})])
    await client.publish(request)
    await client.wait(lambda: [e for e in client.of(request.job_id) if e.sequence == 1], "the first worker to start",
                      workers=(doomed,))
    doomed.kill()  # SIGKILL in the middle of the stage function: nothing committed, nothing written
    assert doomed.proc.returncode == -9
    assert job_keys(store, request.job_id) == ["0-upload.png"]

    replacement = spawn_facecast("worker", INVERT, env=env)  # same consumer group
    final = await client.final(request.job_id, timeout_s=90, workers=(replacement, finisher))
    assert final.kind == JobEventKind.completed, final.error
    assert outcome(store, request.job_id, 1, "invert").report["pid"] == replacement.pid
    assert job_keys(store, request.job_id) == ["0-upload.png", "1-invert.outcome.json", "1-invert.png",
                                               "2-invert2.outcome.json", "2-invert2.png"]
    await client.poll(timeout_ms=1500)  # anything late would show up now
    events = client.of(request.job_id)
    assert [e.kind for e in events].count(JobEventKind.completed) == 1
    assert len([e for e in events if e.sequence == 1]) == 2  # started by both workers
    assert len([e for e in events if e.sequence == 3]) == 1  # the second step ran once
    assert np.array_equal(decode_image(store.get_bytes(final.outcome.outputs["image"].key)).pixels, client.pixels)


async def test_a_stage_that_always_raises_ends_in_the_dlq_and_fails_the_job(client, broker, env, spawn_facecast):
    worker = spawn_facecast("worker", BOOM, env=env)
    request = client.request([("boom", {})])
    await client.publish(request)
    final = await client.final(request.job_id, workers=(worker,))
    assert final.kind == JobEventKind.failed
    assert final.error.message == "the test stage always fails" and final.error.stage == "boom"
    assert final.attempt == 3
    assert len([e for e in client.of(request.job_id) if e.sequence == 1]) == 3  # three attempts

    dlq = await client.bus.subscribe([dlq_topic("boom")], f"test-dlq-{random_hex(8)}")
    deadline = time.monotonic() + 30
    dead = []
    while time.monotonic() < deadline and not dead:
        dead = [d for d in await dlq.getmany(max_records=100, timeout_ms=200) if d.key == request.job_id]
    assert len(dead) == 1, "the event must be in facecast.boom.dlq"
    assert dead[0].headers["attempts"] == "3" and dead[0].headers["error"] == "the test stage always fails"
    parked = StageRequest.model_validate_json(dead[0].value)
    assert parked.job_id == request.job_id and parked.attempt == 3


async def test_a_duplicate_delivery_gives_one_result(client, store, env, spawn_facecast):
    first = spawn_facecast("worker", INVERT, env=env)
    second = spawn_facecast("worker", INVERT2, env=env)
    request = client.request([("invert", {}), ("invert2", {})])
    await client.publish(request)
    await client.publish(request)  # the same event twice, as a producer retry would deliver it
    await client.final(request.job_id, workers=(first, second))
    # the copy is forwarded again without recomputing, so the last step reports completion twice
    completed = await client.wait(
        lambda: (c := [e for e in client.of(request.job_id) if e.kind == JobEventKind.completed]) and len(c) == 2 and c,
        "the duplicate to pass through", workers=(first, second))
    assert completed[0].outcome == completed[1].outcome
    events = client.of(request.job_id)
    assert len([e for e in events if e.sequence == 1]) == 1  # step 1 computed once
    assert len([e for e in events if e.sequence == 3]) == 1  # step 2 computed once
    assert job_keys(store, request.job_id) == ["0-upload.png", "1-invert.outcome.json", "1-invert.png",
                                               "2-invert2.outcome.json", "2-invert2.png"]


# ---- the same guarantees seen through the gateway (job state in PostgreSQL) ---------------------------
def test_gateway_state_after_a_killed_worker_and_an_always_failing_stage(facecast_env, postgres_db, broker, s3_server,
                                                                         tmp_path, spawn_facecast):
    import json

    import httpx

    from tests.integration.test_gateway_postgres import base_url, create_tenant, photo, wait_ready, wait_status

    port = servers.free_port()
    stages = {"invert": INVERT, "invert2": INVERT2, "boom": BOOM}
    env = facecast_env(bucket=f"gw-pipeline-{random_hex(8)}", database_url=postgres_db.url)
    env.update(servers.server_env(broker, s3_server, env["FACECAST_S3_BUCKET"], tmp_path / "gw-data",
                                  postgres_db.url, session_timeout_ms=SESSION_MS))
    env.update({"FACECAST_EXTRA_STAGES": json.dumps(stages), "FACECAST_PORT": str(port),
                "FACECAST_PUBLIC_URL": f"http://127.0.0.1:{port}", "FACECAST_MAX_ATTEMPTS": "3",
                "FACECAST_RETRY_BACKOFF_S": "0.05", "FACECAST_OUTBOX_POLL_S": "0.2"})
    doomed = spawn_facecast("worker", INVERT, env=env)
    spawn_facecast("worker", INVERT2, env=env)
    spawn_facecast("worker", BOOM, env=env)
    gateway = spawn_facecast("gateway", env=env)
    token = create_tenant(env)
    wait_ready(env, gateway)
    client = httpx.Client(base_url=base_url(env), headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(steps) -> str:
        response = client.post("/v1/jobs", data={"options": json.dumps({"steps": steps})},
                               files=[("image", ("p.png", photo(), "image/png"))])
        assert response.status_code == 202, response.text
        return response.json()["id"]

    survivor = post([{"stage": "invert", "params": {"sleep_s": 5}}, {"stage": "invert2"}])
    doomed_job = post([{"stage": "boom"}])
    wait_status(client, survivor, {"running"})
    doomed.kill()  # SIGKILL while step 1 sleeps
    replacement = spawn_facecast("worker", INVERT, env=env)

    job = wait_status(client, survivor, {"succeeded", "failed"})
    assert job["status"] == "succeeded", job
    assert [(s["stage"], s["status"]) for s in job["steps"]] == [("invert", "succeeded"), ("invert2", "succeeded")]
    assert job["steps"][0]["report"]["pid"] == replacement.pid  # the second worker of the group finished it
    store = S3Store.connect(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, env["FACECAST_S3_BUCKET"])
    result_key = job["steps"][1]["outputs"]["image"]["key"]
    names = [k.rsplit("/", 1)[1] for k in store.list_keys(result_key.rsplit("/", 1)[0] + "/")]
    assert [n for n in names if n[0] in "12"] == ["1-invert.outcome.json", "1-invert.png", "2-invert2.outcome.json",
                                                  "2-invert2.png"]  # one result per step, no duplicates

    failed = wait_status(client, doomed_job, {"succeeded", "failed"})
    assert failed["status"] == "failed", failed
    assert failed["error"]["stage"] == "boom"
    assert "the test stage always fails" in failed["error"]["message"]
