"""The gateway on PostgreSQL + Kafka (Tansu) + S3 (JuiceFS), as separate processes.

- a job through two stage workers reaches `succeeded` with true per-step state, even though the
  gateway was SIGKILLed mid-job and restarted (events published meanwhile are folded in afterwards);
- a job whose row and first StageRequest were committed by a gateway that died before relaying them
  is relayed by the next gateway and runs; its webhook is delivered once, correctly signed.
"""
from __future__ import annotations

import asyncio
import io
import json
import subprocess
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from services.gateway.app import Gateway
from services.gateway.auth import KeyVerifier
from services.gateway.db.models import Job, WebhookEndpoint
from services.gateway.db.session import migrate
from services.gateway.domain.jobs import FilePart, Submission, submit
from services.gateway.schemas import JobCreate
from services.gateway.domain.tenants import create_tenant as make_tenant
from services.gateway.webhooks import new_secret
from shared.ids import new_id, random_hex
from shared.settings import Settings
from tests.gateway.receiver import Receiver, verify_standard_webhook
from tests.integration import servers
from tests.integration.conftest import facecast_executable

pytestmark = pytest.mark.integration
STAGES = json.dumps({"invert": "tests.backbone.stages:INVERT", "invert2": "tests.backbone.stages:INVERT_AGAIN"})


def photo() -> bytes:
    pixels = np.random.default_rng(5).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def env(facecast_env, postgres_db):
    port = servers.free_port()
    return facecast_env(bucket=f"gateway-{random_hex(8)}", database_url=postgres_db.url,
                        FACECAST_EXTRA_STAGES=STAGES, FACECAST_PORT=port, FACECAST_PUBLIC_URL=f"http://127.0.0.1:{port}",
                        FACECAST_ALLOW_HTTP_URLS="true", FACECAST_NETGUARD_ALLOW_NETWORKS='["127.0.0.1/32"]',
                        FACECAST_OUTBOX_POLL_S="0.2", FACECAST_WEBHOOK_RETRY_SCHEDULE_S="[0, 0.5, 0.5, 0.5]",
                        FACECAST_MAX_ATTEMPTS="3", FACECAST_RETRY_BACKOFF_S="0.05")


def base_url(env) -> str:
    return f"http://127.0.0.1:{env['FACECAST_PORT']}"


def create_tenant(env) -> str:
    out = subprocess.run([*facecast_executable(), "tenants", "create", f"it-{random_hex(6)}"], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return next(word for word in out.split() if word.startswith("fck_"))


def wait_ready(env, spawned, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert spawned.proc.poll() is None, spawned.log()[-3000:]
        try:
            if httpx.get(f"{base_url(env)}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gateway not ready: {spawned.log()[-3000:]}")


def wait_status(client: httpx.Client, job_id: str, statuses: set[str], timeout_s: float = 90) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} is {job['status']}, expected one of {statuses}")


def start_workers(spawn_facecast, env) -> None:
    for spec in ("tests.backbone.stages:INVERT", "tests.backbone.stages:INVERT_AGAIN"):
        spawn_facecast("worker", spec, env=env)


def test_job_state_is_true_after_the_gateway_is_killed_mid_job(env, spawn_facecast):
    start_workers(spawn_facecast, env)
    gateway = spawn_facecast("gateway", env=env)
    token = create_tenant(env)
    wait_ready(env, gateway)
    client = httpx.Client(base_url=base_url(env), headers={"Authorization": f"Bearer {token}"}, timeout=30)
    image = photo()
    options = {"steps": [{"stage": "invert", "params": {"sleep_s": 3}}, {"stage": "invert2"}]}
    response = client.post("/v1/jobs", data={"options": json.dumps(options)},
                           files=[("image", ("p.png", image, "image/png"))])
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    wait_status(client, job_id, {"running"})
    gateway.kill()  # SIGKILL while step 1 sleeps; its events arrive while no gateway runs
    time.sleep(4)
    restarted = spawn_facecast("gateway", env=env)
    wait_ready(env, restarted)
    job = wait_status(client, job_id, {"succeeded", "failed"})
    assert job["status"] == "succeeded", job
    assert [(s["number"], s["stage"], s["status"]) for s in job["steps"]] == [(1, "invert", "succeeded"),
                                                                            (2, "invert2", "succeeded")]
    assert all(s["duration_ms"] is not None for s in job["steps"])
    result = httpx.get(job["result"]["url"], timeout=30)  # a presigned S3 URL
    assert result.status_code == 200
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(result.content))),
                          np.asarray(Image.open(io.BytesIO(image))))
    events = client.get(f"/v1/jobs/{job_id}/events").text
    assert events.count("event: completed") == 1 and events.count("event: end") == 1


def test_outbox_and_webhook_survive_a_gateway_that_died_before_relaying(env, spawn_facecast, monkeypatch):
    for name, value in env.items():
        if name.startswith("FACECAST_"):
            monkeypatch.setenv(name, value)
    settings = Settings()  # read from the same FACECAST_* variables as the processes

    async def commit_without_relaying(receiver_url: str):
        dead = Gateway(settings)  # never started: no relay, no deliverer, like a process killed after commit
        try:
            await migrate(dead.engine)
            tenant, token = await make_tenant(dead.sessionmaker, "it-crash")

            principal = await KeyVerifier(dead.sessionmaker).verify(token)
            secret = new_secret()
            async with dead.sessionmaker() as session, session.begin():
                session.add(WebhookEndpoint(id=new_id("whep"), tenant_id=tenant.id, url=receiver_url,
                                            event_types=["job.succeeded"], secret=secret))
            ctx = Submission(reader=dead.reader, sessions=dead.sessionmaker, store=dead.store, settings=dead.settings,
                             catalog=dead.catalog, http=dead.http, active_jobs=dead.active_jobs, relay=dead.relay)
            jobs = await submit(ctx, principal, JobCreate(steps=[{"stage": "invert"}]),
                                [FilePart("p.png", photo())], None)  # its own publish fails: the bus never started
            async with dead.reader() as session:
                assert (await session.get(Job, jobs[0].id)).dispatched_at is None
            return token, jobs[0].id, secret
        finally:
            await dead.engine.dispose()

    with Receiver(script=[(500, {})]) as receiver:
        token, job_id, secret = asyncio.run(commit_without_relaying(receiver.url))
        start_workers(spawn_facecast, env)
        gateway = spawn_facecast("gateway", env=env)
        wait_ready(env, gateway)
        client = httpx.Client(base_url=base_url(env), headers={"Authorization": f"Bearer {token}"}, timeout=30)
        job = wait_status(client, job_id, {"succeeded", "failed"})
        assert job["status"] == "succeeded", job
        deadline = time.monotonic() + 30
        while not receiver.accepted() and time.monotonic() < deadline:
            time.sleep(0.2)
        accepted = receiver.accepted()
        assert len(accepted) == 1 and len(receiver.requests) == 2
        assert verify_standard_webhook(secret, accepted[0]["headers"], accepted[0]["body"])
        assert json.loads(accepted[0]["body"])["data"]["id"] == job_id


def test_two_gateways_share_one_database_and_consumer_group(env, spawn_facecast):
    """Submissions through either gateway run; both report the same state (events are folded once,
    whichever gateway the Kafka group gave the partition to)."""
    start_workers(spawn_facecast, env)
    second = dict(env)
    port = servers.free_port()
    second.update(FACECAST_PORT=str(port), FACECAST_PUBLIC_URL=f"http://127.0.0.1:{port}")
    gateways = [spawn_facecast("gateway", env=env), spawn_facecast("gateway", env=second)]
    token = create_tenant(env)
    wait_ready(env, gateways[0])
    wait_ready(second, gateways[1])
    clients = [httpx.Client(base_url=base_url(e), headers={"Authorization": f"Bearer {token}"}, timeout=30)
               for e in (env, second)]
    job_ids = []
    for i in range(6):
        response = clients[i % 2].post("/v1/jobs", data={"options": json.dumps({"steps": [{"stage": "invert"}]})},
                                       files=[("image", ("p.png", photo(), "image/png"))])
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["id"])
    for job_id in job_ids:
        assert wait_status(clients[0], job_id, {"succeeded", "failed"})["status"] == "succeeded"
        assert clients[1].get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
    listed = clients[1].get("/v1/jobs", params={"limit": 10}).json()["data"]
    assert sorted(j["id"] for j in listed) == sorted(job_ids)
